//! The git-annex external special remote protocol as data: lines from git-annex parsed into
//! [`Incoming`], lines to git-annex formatted from [`Message`]. Sans-IO: nothing here reads,
//! writes or waits; [`crate::session`] moves the lines.
//!
//! Framing (git-annex's `doc/design/external_special_remote_protocol.mdwn` and its ASYNC
//! appendix): one message per line, words separated by single spaces, a fixed number of
//! parameters per message of which only the last may contain spaces. Once ASYNC is negotiated
//! every line except `VERSION`, `EXTENSIONS` and a global `ERROR` carries a `J <n> ` job prefix.
//! Free text sent to git-annex (error messages, info) is made one line by [`one_line`]: a stray
//! newline would otherwise be read as a second, bogus message.
//!
//! Credentials cross this protocol (`SETCREDS`, `CREDS`): they are held as [`Secret`]s, whose
//! `Debug` never shows them, and [`loggable`] is the only form of a line that logs may print.

use std::borrow::Cow;
use std::fmt;

use swarm_engine::credentials::Secret;

/// The protocol versions this remote can speak. git-annex before 10.20230329 (except Debian's
/// 10.20230126-3) knows only 1, so 1 is the default.
pub const VERSIONS: [u8; 2] = [1, 2];

/// Extensions this remote uses when git-annex offers them. Any other offered name is ignored.
pub const KNOWN_EXTENSIONS: [&str; 4] =
    ["INFO", "ASYNC", "GETGITREMOTENAME", "UNAVAILABLERESPONSE"];

/// Longest free-text field sent to git-annex; longer text is cut with an ellipsis.
pub const MAX_TEXT: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Store,
    Retrieve,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Store => "STORE",
            Direction::Retrieve => "RETRIEVE",
        }
    }
}

/// A request git-annex sends; the remote answers each with exactly one final reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Extensions(Vec<String>),
    ListConfigs,
    InitRemote,
    Prepare,
    ExportSupported,
    Transfer {
        direction: Direction,
        key: String,
        /// Relative to the repository's top directory; may contain spaces.
        file: String,
    },
    CheckPresent(String),
    Remove(String),
    GetCost,
    GetAvailability,
    Whereis(String),
    GetInfo,
    GetOrdered,
    /// Any other request: answered `UNSUPPORTED-REQUEST`. Holds the request's first word.
    Unsupported(String),
}

/// One line from git-annex (its job prefix removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Request(Request),
    /// The answer to a query such as `GETCONFIG` (`VALUE` is followed by a space, then the
    /// value, possibly empty).
    Value(String),
    /// The answer to `GETCREDS`: `CREDS <login> <password>`, both empty when git-annex holds
    /// none. The login is one word; the password is the rest of the line.
    Creds {
        login: Secret,
        password: Secret,
    },
    /// git-annex gave up; the remote should exit.
    Error(String),
}

/// A line from git-annex that is not a message this remote understands in that form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("empty protocol line")]
    Empty,
    #[error("bad job prefix in `{0}`: expected `J <number> <message>`")]
    BadJob(String),
    #[error("{request} needs {what}")]
    Missing {
        request: &'static str,
        what: &'static str,
    },
    #[error("TRANSFER direction `{0}` is neither STORE nor RETRIEVE")]
    BadDirection(String),
    #[error("`{0}`: a key cannot contain spaces")]
    KeyWithSpace(String),
}

/// Splits `J <n> <rest>` into the job number and the rest.
pub fn split_job(line: &str) -> Result<(u64, &str), ProtocolError> {
    let bad = || ProtocolError::BadJob(one_line(line));
    let rest = line.strip_prefix("J ").ok_or_else(bad)?;
    let (n, body) = rest.split_once(' ').ok_or_else(bad)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = n.parse().map_err(|_| bad())?;
    Ok((n, body))
}

/// Parses one line from git-annex (without its job prefix).
pub fn parse(line: &str) -> Result<Incoming, ProtocolError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        return Err(ProtocolError::Empty);
    }
    let (word, rest) = match line.split_once(' ') {
        Some((w, r)) => (w, Some(r)),
        None => (line, None),
    };
    let key = |request: &'static str| -> Result<String, ProtocolError> {
        let k = rest
            .filter(|r| !r.is_empty())
            .ok_or(ProtocolError::Missing {
                request,
                what: "a key",
            })?;
        if k.contains(' ') {
            return Err(ProtocolError::KeyWithSpace(one_line(k)));
        }
        Ok(k.to_owned())
    };
    let request = match word {
        "VALUE" => return Ok(Incoming::Value(rest.unwrap_or_default().to_owned())),
        "ERROR" => return Ok(Incoming::Error(rest.unwrap_or_default().to_owned())),
        "CREDS" => {
            let rest = rest.unwrap_or_default();
            let (login, password) = rest.split_once(' ').unwrap_or((rest, ""));
            return Ok(Incoming::Creds {
                login: Secret::new(login),
                password: Secret::new(password),
            });
        }
        "EXTENSIONS" => Request::Extensions(
            rest.unwrap_or_default()
                .split(' ')
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        "LISTCONFIGS" => Request::ListConfigs,
        "INITREMOTE" => Request::InitRemote,
        "PREPARE" => Request::Prepare,
        "EXPORTSUPPORTED" => Request::ExportSupported,
        "TRANSFER" => {
            let missing = |what| ProtocolError::Missing {
                request: "TRANSFER",
                what,
            };
            let rest = rest.ok_or(missing("STORE or RETRIEVE, a key and a file"))?;
            let (dir, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let direction = match dir {
                "STORE" => Direction::Store,
                "RETRIEVE" => Direction::Retrieve,
                other => return Err(ProtocolError::BadDirection(one_line(other))),
            };
            let (key, file) = rest.split_once(' ').unwrap_or((rest, ""));
            if key.is_empty() {
                return Err(missing("a key"));
            }
            if file.is_empty() {
                return Err(missing("a file name after the key"));
            }
            Request::Transfer {
                direction,
                key: key.to_owned(),
                file: file.to_owned(),
            }
        }
        "CHECKPRESENT" => Request::CheckPresent(key("CHECKPRESENT")?),
        "REMOVE" => Request::Remove(key("REMOVE")?),
        "WHEREIS" => Request::Whereis(key("WHEREIS")?),
        "GETCOST" => Request::GetCost,
        "GETAVAILABILITY" => Request::GetAvailability,
        "GETINFO" => Request::GetInfo,
        "GETORDERED" => Request::GetOrdered,
        other => Request::Unsupported(other.to_owned()),
    };
    Ok(Incoming::Request(request))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Global,
    Local,
    /// Only when git-annex offered the UNAVAILABLERESPONSE extension.
    Unavailable,
}

/// A line the remote sends: replies, queries and notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Version(u8),
    Extensions(Vec<String>),
    InitRemoteSuccess,
    InitRemoteFailure(String),
    PrepareSuccess,
    PrepareFailure(String),
    TransferSuccess(Direction, String),
    TransferFailure(Direction, String, String),
    CheckPresentSuccess(String),
    CheckPresentFailure(String),
    CheckPresentUnknown(String, String),
    RemoveSuccess(String),
    RemoveFailure(String, String),
    Cost(u32),
    Availability(Availability),
    WhereisSuccess(String),
    WhereisFailure,
    InfoField(String),
    InfoValue(String),
    InfoEnd,
    Config(String, String),
    ConfigEnd,
    ExportSupportedFailure,
    Unordered,
    UnsupportedRequest,
    Progress(u64),
    GetConfig(String),
    SetConfig(String, String),
    /// `GETCREDS <setting>`: answered by `CREDS`.
    GetCreds(String),
    /// `SETCREDS <setting> <login> <password>`: git-annex keeps the pair (see [`CredPair`]).
    SetCreds(String, CredPair),
    GetGitRemoteName,
    Debug(String),
    Info(String),
    Error(String),
}

impl Message {
    /// Whether this message goes out without a job prefix even under ASYNC.
    pub fn is_untagged(&self) -> bool {
        matches!(self, Message::Version(_) | Message::Extensions(_))
    }

    /// Whether this message ends the handling of a request (as opposed to a query or a note
    /// sent while handling it).
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            Message::Progress(_)
                | Message::GetConfig(_)
                | Message::SetConfig(..)
                | Message::GetCreds(_)
                | Message::SetCreds(..)
                | Message::GetGitRemoteName
                | Message::Debug(_)
                | Message::Info(_)
                | Message::InfoField(_)
                | Message::InfoValue(_)
                | Message::Config(..)
        )
    }

    /// The line for job `job` (`None`: no ASYNC), without its newline.
    pub fn line(&self, job: Option<u64>) -> String {
        match job {
            Some(n) if !self.is_untagged() => format!("J {n} {self}"),
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Message::*;
        // Keys are checked to be single words before they reach a message; free text is not.
        let t = |s: &str| one_line(s);
        match self {
            Version(v) => write!(f, "VERSION {v}"),
            Extensions(l) => {
                f.write_str("EXTENSIONS")?;
                l.iter().try_for_each(|e| write!(f, " {e}"))
            }
            InitRemoteSuccess => f.write_str("INITREMOTE-SUCCESS"),
            InitRemoteFailure(m) => write!(f, "INITREMOTE-FAILURE {}", t(m)),
            PrepareSuccess => f.write_str("PREPARE-SUCCESS"),
            PrepareFailure(m) => write!(f, "PREPARE-FAILURE {}", t(m)),
            TransferSuccess(d, k) => write!(f, "TRANSFER-SUCCESS {} {k}", d.as_str()),
            TransferFailure(d, k, m) => {
                write!(f, "TRANSFER-FAILURE {} {k} {}", d.as_str(), t(m))
            }
            CheckPresentSuccess(k) => write!(f, "CHECKPRESENT-SUCCESS {k}"),
            CheckPresentFailure(k) => write!(f, "CHECKPRESENT-FAILURE {k}"),
            CheckPresentUnknown(k, m) => write!(f, "CHECKPRESENT-UNKNOWN {k} {}", t(m)),
            RemoveSuccess(k) => write!(f, "REMOVE-SUCCESS {k}"),
            RemoveFailure(k, m) => write!(f, "REMOVE-FAILURE {k} {}", t(m)),
            Cost(c) => write!(f, "COST {c}"),
            Availability(a) => f.write_str(match a {
                self::Availability::Global => "AVAILABILITY GLOBAL",
                self::Availability::Local => "AVAILABILITY LOCAL",
                self::Availability::Unavailable => "AVAILABILITY UNAVAILABLE",
            }),
            WhereisSuccess(s) => write!(f, "WHEREIS-SUCCESS {}", t(s)),
            WhereisFailure => f.write_str("WHEREIS-FAILURE"),
            InfoField(s) => write!(f, "INFOFIELD {}", t(s)),
            InfoValue(s) => write!(f, "INFOVALUE {}", t(s)),
            InfoEnd => f.write_str("INFOEND"),
            Config(name, d) => write!(f, "CONFIG {name} {}", t(d)),
            ConfigEnd => f.write_str("CONFIGEND"),
            ExportSupportedFailure => f.write_str("EXPORTSUPPORTED-FAILURE"),
            Unordered => f.write_str("UNORDERED"),
            UnsupportedRequest => f.write_str("UNSUPPORTED-REQUEST"),
            Progress(n) => write!(f, "PROGRESS {n}"),
            GetConfig(name) => write!(f, "GETCONFIG {name}"),
            SetConfig(name, v) => write!(f, "SETCONFIG {name} {}", t(v)),
            GetCreds(setting) => write!(f, "GETCREDS {setting}"),
            // The one place a secret is formatted: the wire needs it. [`CredPair`] made sure
            // it fits on the line; logs print [`loggable`] lines instead.
            SetCreds(setting, pair) => write!(
                f,
                "SETCREDS {setting} {} {}",
                pair.login.expose(),
                pair.password.expose()
            ),
            GetGitRemoteName => f.write_str("GETGITREMOTENAME"),
            Debug(m) => write!(f, "DEBUG {}", t(m)),
            Info(m) => write!(f, "INFO {}", t(m)),
            Error(m) => write!(f, "ERROR {}", t(m)),
        }
    }
}

/// A login and a password that `SETCREDS` can carry and `CREDS` give back unchanged: git-annex
/// splits `CREDS <login> <password>` at the first space (so the login is one word, the password
/// may hold spaces), and keeps the pair as two lines of a file (so neither holds a line break
/// or any other control character).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredPair {
    login: Secret,
    password: Secret,
}

/// Why a value cannot travel in a [`CredPair`]. Names no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredPairError {
    #[error("contains a space, and git-annex's CREDS reply takes the login as one word")]
    SpaceInLogin,
    #[error("contains a line break or another control character")]
    ControlInLogin,
    #[error("contains a line break or another control character")]
    ControlInPassword,
}

impl CredPairError {
    /// Whether the login (else the password) is at fault.
    pub fn in_login(self) -> bool {
        !matches!(self, CredPairError::ControlInPassword)
    }
}

impl CredPair {
    pub fn new(login: Secret, password: Secret) -> Result<Self, CredPairError> {
        let control = |s: &Secret| s.expose().chars().any(char::is_control);
        if control(&login) {
            return Err(CredPairError::ControlInLogin);
        }
        if login.expose().contains(char::is_whitespace) {
            return Err(CredPairError::SpaceInLogin);
        }
        if control(&password) {
            return Err(CredPairError::ControlInPassword);
        }
        Ok(CredPair { login, password })
    }

    pub fn login(&self) -> &Secret {
        &self.login
    }

    pub fn password(&self) -> &Secret {
        &self.password
    }
}

/// A protocol line as logs may show it: the values of `CREDS` and `SETCREDS` become `***`
/// (the setting name stays). Any job prefix is kept.
pub fn loggable(line: &str) -> Cow<'_, str> {
    let body = split_job(line).map(|(_, body)| body).unwrap_or(line);
    let prefix = &line[..line.len() - body.len()];
    if body == "CREDS" || body.starts_with("CREDS ") {
        return Cow::Owned(format!("{prefix}CREDS ***"));
    }
    if let Some(rest) = body.strip_prefix("SETCREDS ") {
        let setting = rest.split(' ').next().unwrap_or_default();
        return Cow::Owned(format!("{prefix}SETCREDS {setting} ***"));
    }
    Cow::Borrowed(line)
}

/// Text made safe for one protocol field: control characters (newlines included) become
/// spaces, runs of spaces collapse, and the result is cut at [`MAX_TEXT`] bytes.
pub fn one_line(s: &str) -> String {
    swarm_core::redact::one_line_within(s, MAX_TEXT)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn req(line: &str) -> Request {
        match parse(line).unwrap() {
            Incoming::Request(r) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn parses_every_request_git_annex_sends() {
        assert_eq!(
            req("EXTENSIONS INFO GETGITREMOTENAME ASYNC"),
            Request::Extensions(vec![
                "INFO".into(),
                "GETGITREMOTENAME".into(),
                "ASYNC".into()
            ])
        );
        assert_eq!(req("EXTENSIONS"), Request::Extensions(vec![]));
        assert_eq!(
            req("TRANSFER STORE SHA256E-s6--ab.txt .git/annex/objects/a b/c"),
            Request::Transfer {
                direction: Direction::Store,
                key: "SHA256E-s6--ab.txt".into(),
                file: ".git/annex/objects/a b/c".into(),
            }
        );
        assert_eq!(
            req("TRANSFER RETRIEVE GPGHMACSHA1--00 .git/annex/tmp/x"),
            Request::Transfer {
                direction: Direction::Retrieve,
                key: "GPGHMACSHA1--00".into(),
                file: ".git/annex/tmp/x".into(),
            }
        );
        assert_eq!(req("CHECKPRESENT K"), Request::CheckPresent("K".into()));
        assert_eq!(req("REMOVE K"), Request::Remove("K".into()));
        assert_eq!(req("WHEREIS K"), Request::Whereis("K".into()));
        for (line, r) in [
            ("LISTCONFIGS", Request::ListConfigs),
            ("INITREMOTE", Request::InitRemote),
            ("PREPARE", Request::Prepare),
            ("EXPORTSUPPORTED", Request::ExportSupported),
            ("GETCOST", Request::GetCost),
            ("GETAVAILABILITY", Request::GetAvailability),
            ("GETINFO", Request::GetInfo),
            ("GETORDERED", Request::GetOrdered),
            ("CLAIMURL http://x", Request::Unsupported("CLAIMURL".into())),
            ("FROBNICATE", Request::Unsupported("FROBNICATE".into())),
        ] {
            assert_eq!(req(line), r, "{line}");
        }
        assert_eq!(parse("VALUE a b").unwrap(), Incoming::Value("a b".into()));
        assert_eq!(parse("VALUE ").unwrap(), Incoming::Value(String::new()));
        assert_eq!(parse("VALUE").unwrap(), Incoming::Value(String::new()));
        assert_eq!(parse("ERROR oops").unwrap(), Incoming::Error("oops".into()));
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        let e = |l: &str| parse(l).unwrap_err().to_string();
        assert_eq!(e(""), "empty protocol line");
        assert_eq!(e("CHECKPRESENT"), "CHECKPRESENT needs a key");
        assert_eq!(e("CHECKPRESENT "), "CHECKPRESENT needs a key");
        assert_eq!(e("REMOVE a b"), "`a b`: a key cannot contain spaces");
        assert_eq!(
            e("TRANSFER"),
            "TRANSFER needs STORE or RETRIEVE, a key and a file"
        );
        assert_eq!(
            e("TRANSFER SEND k f"),
            "TRANSFER direction `SEND` is neither STORE nor RETRIEVE"
        );
        assert_eq!(e("TRANSFER STORE"), "TRANSFER needs a key");
        assert_eq!(
            e("TRANSFER STORE k"),
            "TRANSFER needs a file name after the key"
        );
        assert_eq!(
            e("TRANSFER STORE k "),
            "TRANSFER needs a file name after the key"
        );
    }

    #[test]
    fn job_prefixes() {
        assert_eq!(split_job("J 1 PREPARE").unwrap(), (1, "PREPARE"));
        assert_eq!(split_job("J 42 VALUE ").unwrap(), (42, "VALUE "));
        for bad in [
            "PREPARE",
            "J PREPARE",
            "J x PREPARE",
            "J -1 PREPARE",
            "J 1",
            "J  1 X",
        ] {
            assert!(split_job(bad).is_err(), "{bad}");
        }
        assert_eq!(
            split_job("J 99999999999999999999 X")
                .unwrap_err()
                .to_string(),
            "bad job prefix in `J 99999999999999999999 X`: expected `J <number> <message>`"
        );
    }

    #[test]
    fn formats_exact_lines() {
        use Message::*;
        let k = "SHA256E-s6--ab.txt".to_owned();
        for (m, line) in [
            (Version(1), "VERSION 1"),
            (
                Extensions(vec!["INFO".into(), "ASYNC".into()]),
                "EXTENSIONS INFO ASYNC",
            ),
            (Extensions(vec![]), "EXTENSIONS"),
            (
                TransferSuccess(Direction::Store, k.clone()),
                "TRANSFER-SUCCESS STORE SHA256E-s6--ab.txt",
            ),
            (
                TransferFailure(Direction::Retrieve, k.clone(), "no\nsuch  key\r".into()),
                "TRANSFER-FAILURE RETRIEVE SHA256E-s6--ab.txt no such key",
            ),
            (
                CheckPresentUnknown(k.clone(), "3 stores down".into()),
                "CHECKPRESENT-UNKNOWN SHA256E-s6--ab.txt 3 stores down",
            ),
            (
                Availability(self::Availability::Unavailable),
                "AVAILABILITY UNAVAILABLE",
            ),
            (Cost(100), "COST 100"),
            (Progress(1048576), "PROGRESS 1048576"),
            (
                SetConfig("swarmdefinition".into(), "1:abc".into()),
                "SETCONFIG swarmdefinition 1:abc",
            ),
            (
                Config("k".into(), "data shards".into()),
                "CONFIG k data shards",
            ),
        ] {
            assert_eq!(m.to_string(), line);
        }
        assert_eq!(PrepareSuccess.line(Some(3)), "J 3 PREPARE-SUCCESS");
        assert_eq!(Version(2).line(Some(3)), "VERSION 2");
        assert_eq!(PrepareSuccess.line(None), "PREPARE-SUCCESS");
    }

    #[test]
    fn creds_replies_keep_spaces_in_the_password_and_empty_means_none() {
        let creds = |line: &str| match parse(line).unwrap() {
            Incoming::Creds { login, password } => {
                (login.expose().to_owned(), password.expose().to_owned())
            }
            other => panic!("not CREDS: {other:?}"),
        };
        // As git-annex sends them (verified with 10.20230126 and 10.20261026).
        assert_eq!(
            creds("CREDS AKID pass with  two spaces"),
            ("AKID".into(), "pass with  two spaces".into())
        );
        assert_eq!(creds("CREDS  token"), (String::new(), "token".into()));
        assert_eq!(creds("CREDS  "), (String::new(), String::new()));
        assert_eq!(creds("CREDS"), (String::new(), String::new()));
        // Never shown by Debug, so no error built from a reply can carry it.
        let shown = format!("{:?}", parse("CREDS AKID hunter2").unwrap());
        assert!(
            !shown.contains("hunter2") && !shown.contains("AKID"),
            "{shown}"
        );
    }

    #[test]
    fn setcreds_lines_and_what_a_pair_can_carry() {
        let s = |v: &str| Secret::new(v);
        let pair = CredPair::new(s("AKID"), s("se cret")).unwrap();
        let m = Message::SetCreds("swarm-s1-s3key".into(), pair);
        assert_eq!(m.line(None), "SETCREDS swarm-s1-s3key AKID se cret");
        assert_eq!(m.line(Some(2)), "J 2 SETCREDS swarm-s1-s3key AKID se cret");
        assert!(!format!("{m:?}").contains("se cret"));
        assert!(!m.is_final());
        assert_eq!(
            Message::GetCreds("swarm-s1-s3key".into()).line(Some(2)),
            "J 2 GETCREDS swarm-s1-s3key"
        );
        let empty_login = CredPair::new(s(""), s("tok")).unwrap();
        assert_eq!(
            Message::SetCreds("x".into(), empty_login).to_string(),
            "SETCREDS x  tok"
        );
        for (login, password, err) in [
            ("two words", "p", CredPairError::SpaceInLogin),
            ("a\tb", "p", CredPairError::ControlInLogin),
            ("a", "line\nbreak", CredPairError::ControlInPassword),
            ("a", "cr\r", CredPairError::ControlInPassword),
        ] {
            assert_eq!(CredPair::new(s(login), s(password)), Err(err), "{login:?}");
        }
        assert!(CredPairError::SpaceInLogin.in_login());
        assert!(!CredPairError::ControlInPassword.in_login());
    }

    #[test]
    fn logs_see_creds_lines_without_their_values() {
        for (line, shown) in [
            ("CREDS AKID hunter2 x", "CREDS ***"),
            ("CREDS  ", "CREDS ***"),
            ("CREDS", "CREDS ***"),
            ("J 12 CREDS AKID hunter2", "J 12 CREDS ***"),
            (
                "SETCREDS swarm-s1-s3key AKID hunter2",
                "SETCREDS swarm-s1-s3key ***",
            ),
            (
                "J 3 SETCREDS swarm-s1-login  hunter2",
                "J 3 SETCREDS swarm-s1-login ***",
            ),
            ("GETCREDS swarm-s1-s3key", "GETCREDS swarm-s1-s3key"),
            ("J 1 VALUE CREDS x", "J 1 VALUE CREDS x"),
            ("CREDSX y", "CREDSX y"),
        ] {
            assert_eq!(loggable(line), shown, "{line}");
        }
    }

    #[test]
    fn free_text_is_cut_to_one_bounded_line() {
        let long = "x".repeat(MAX_TEXT + 10);
        let cut = one_line(&long);
        assert!(cut.len() <= MAX_TEXT + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(one_line("  a\t\nb  "), "a b");
        assert_eq!(one_line("\u{2028}x\u{85}y"), "x y");
    }

    proptest! {
        #[test]
        fn parse_never_panics(line in "\\PC{0,60}|(J [0-9]{1,3} )?(TRANSFER|CHECKPRESENT|REMOVE|VALUE|EXTENSIONS)( [!-~]{0,8}){0,4}") {
            let body = split_job(&line).map(|(_, b)| b).unwrap_or(&line);
            let _ = parse(body);
        }

        #[test]
        fn every_message_is_one_line(text in "\\PC{0,80}|[\\s\\S]{0,40}", key in "[!-~]{1,20}") {
            for m in [
                Message::TransferFailure(Direction::Store, key.clone(), text.clone()),
                Message::CheckPresentUnknown(key.clone(), text.clone()),
                Message::InitRemoteFailure(text.clone()),
                Message::Info(text.clone()),
                Message::InfoValue(text.clone()),
                Message::WhereisSuccess(text.clone()),
            ] {
                let line = m.line(Some(7));
                prop_assert!(!line.contains('\n') && !line.contains('\r'), "{:?}", line);
                prop_assert!(line.starts_with("J 7 "));
            }
        }

        #[test]
        fn transfer_round_trips(store in any::<bool>(), key in "[!-~]{1,30}", file in "[!-~][ -~]{0,30}") {
            let file = file.trim_end().to_owned();
            prop_assume!(!file.is_empty());
            let dir = if store { "STORE" } else { "RETRIEVE" };
            let line = format!("TRANSFER {dir} {key} {file}");
            let Incoming::Request(Request::Transfer { direction, key: k, file: f }) = parse(&line).unwrap() else {
                panic!("not a transfer: {line}");
            };
            prop_assert_eq!(direction.as_str(), dir);
            prop_assert_eq!(k, key);
            prop_assert_eq!(f, file);
        }
    }
}
