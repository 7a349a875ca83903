//! The git-annex external special remote protocol as data: lines from git-annex parsed into
//! [`Incoming`], lines to git-annex formatted from [`Message`]. Sans-IO: nothing here reads,
//! writes or waits; [`crate::session`] moves the lines.
//!
//! Framing (git-annex's `doc/design/external_special_remote_protocol.mdwn` and its ASYNC
//! appendix): one message per line, words separated by single spaces, a fixed number of
//! parameters per message of which only the last may contain spaces. Once ASYNC is negotiated
//! every line except `VERSION`, `EXTENSIONS` and a global `ERROR` carries a `J <n> ` job prefix.
//!
//! Lines are bytes, not text: git-annex keys are byte strings (a `*E` key keeps a Latin-1
//! extension byte), and so are the file paths of `TRANSFER`, which contain the key. Keys and
//! paths are carried as the exact bytes git-annex sent, and a reply echoes them byte for byte;
//! only words and free text need to be UTF-8. Parsing never fails on any bytes: what is not a
//! message this remote understands is a [`ProtocolError`], answered with `ERROR`.
//! Free text sent to git-annex (error messages, info) is made one line by [`one_line`]: a stray
//! newline would otherwise be read as a second, bogus message.
//!
//! Credentials cross this protocol (`SETCREDS`, `CREDS`): they are held as [`Secret`]s, whose
//! `Debug` never shows them, and [`loggable`] is the only form of a line that logs may print.

use std::fmt;

use swarm_core::key::Printable;
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
        /// The key's bytes, as sent.
        key: Vec<u8>,
        /// Relative to the repository's top directory; may contain spaces, and any byte but a
        /// newline (it holds the key).
        file: Vec<u8>,
    },
    CheckPresent(Vec<u8>),
    Remove(Vec<u8>),
    GetCost,
    GetAvailability,
    Whereis(Vec<u8>),
    GetInfo,
    GetOrdered,
    /// `CLAIMURL <url>`: whether this remote handles the URL.
    ClaimUrl(String),
    /// `CHECKURL <url>`: what the URL holds (size and name, or several files).
    CheckUrl(String),
    /// Any other request: answered `UNSUPPORTED-REQUEST`. Holds the request's first word
    /// (escaped, see [`Printable`]).
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
    #[error("{0} with text that is not UTF-8")]
    NotUtf8(&'static str),
    #[error("protocol line longer than {0} bytes (skipped to its end)")]
    TooLong(usize),
}

/// Bytes as one bounded line of text for an error message.
fn shown(bytes: &[u8]) -> String {
    one_line(&Printable(bytes).to_string())
}

/// Splits `line` at its first space: the first word and, if there was a space, the rest.
fn split_word(line: &[u8]) -> (&[u8], Option<&[u8]>) {
    match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], line.get(i + 1..)),
        None => (line, None),
    }
}

/// Splits `J <n> <rest>` into the job number and the rest.
pub fn split_job(line: &[u8]) -> Result<(u64, &[u8]), ProtocolError> {
    let bad = || ProtocolError::BadJob(shown(line));
    let rest = line.strip_prefix(b"J ").ok_or_else(bad)?;
    let (n, body) = split_word(rest);
    let body = body.ok_or_else(bad)?;
    if n.is_empty() || !n.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let n = n
        .iter()
        .try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or_else(bad)?;
    Ok((n, body))
}

/// Parses one line from git-annex (without its job prefix and newline).
pub fn parse(line: &[u8]) -> Result<Incoming, ProtocolError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(ProtocolError::Empty);
    }
    let (word, rest) = split_word(line);
    let key = |request: &'static str| -> Result<Vec<u8>, ProtocolError> {
        let k = rest
            .filter(|r| !r.is_empty())
            .ok_or(ProtocolError::Missing {
                request,
                what: "a key",
            })?;
        if k.contains(&b' ') {
            return Err(ProtocolError::KeyWithSpace(shown(k)));
        }
        Ok(k.to_vec())
    };
    let text = |what: &'static str| -> Result<&str, ProtocolError> {
        std::str::from_utf8(rest.unwrap_or_default()).map_err(|_| ProtocolError::NotUtf8(what))
    };
    let url = |request: &'static str| -> Result<String, ProtocolError> {
        let u = text(request)?;
        if u.is_empty() {
            return Err(ProtocolError::Missing {
                request,
                what: "a URL",
            });
        }
        Ok(u.to_owned())
    };
    let request = match word {
        b"VALUE" => return Ok(Incoming::Value(text("VALUE")?.to_owned())),
        // git-annex is giving up: its reason is only shown, and must not stop that.
        b"ERROR" => {
            return Ok(Incoming::Error(
                String::from_utf8_lossy(rest.unwrap_or_default()).into_owned(),
            ));
        }
        b"CREDS" => {
            let rest = text("CREDS")?;
            let (login, password) = rest.split_once(' ').unwrap_or((rest, ""));
            return Ok(Incoming::Creds {
                login: Secret::new(login),
                password: Secret::new(password),
            });
        }
        // An offered name that is not UTF-8 is no extension this remote knows: ignored.
        b"EXTENSIONS" => Request::Extensions(
            rest.unwrap_or_default()
                .split(|&b| b == b' ')
                .filter(|e| !e.is_empty())
                .map(|e| String::from_utf8_lossy(e).into_owned())
                .collect(),
        ),
        b"LISTCONFIGS" => Request::ListConfigs,
        b"INITREMOTE" => Request::InitRemote,
        b"PREPARE" => Request::Prepare,
        b"EXPORTSUPPORTED" => Request::ExportSupported,
        b"TRANSFER" => {
            let missing = |what| ProtocolError::Missing {
                request: "TRANSFER",
                what,
            };
            let rest = rest.ok_or(missing("STORE or RETRIEVE, a key and a file"))?;
            let (dir, rest) = split_word(rest);
            let direction = match dir {
                b"STORE" => Direction::Store,
                b"RETRIEVE" => Direction::Retrieve,
                other => return Err(ProtocolError::BadDirection(shown(other))),
            };
            let (key, file) = split_word(rest.unwrap_or_default());
            if key.is_empty() {
                return Err(missing("a key"));
            }
            let file = file.unwrap_or_default();
            if file.is_empty() {
                return Err(missing("a file name after the key"));
            }
            Request::Transfer {
                direction,
                key: key.to_vec(),
                file: file.to_vec(),
            }
        }
        b"CHECKPRESENT" => Request::CheckPresent(key("CHECKPRESENT")?),
        b"REMOVE" => Request::Remove(key("REMOVE")?),
        b"WHEREIS" => Request::Whereis(key("WHEREIS")?),
        b"GETCOST" => Request::GetCost,
        b"GETAVAILABILITY" => Request::GetAvailability,
        b"GETINFO" => Request::GetInfo,
        b"GETORDERED" => Request::GetOrdered,
        b"CLAIMURL" => Request::ClaimUrl(url("CLAIMURL")?),
        b"CHECKURL" => Request::CheckUrl(url("CHECKURL")?),
        other => Request::Unsupported(shown(other)),
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
    /// Replies to a key's request carry the key's bytes exactly as the request had them.
    TransferSuccess(Direction, Vec<u8>),
    TransferFailure(Direction, Vec<u8>, String),
    CheckPresentSuccess(Vec<u8>),
    CheckPresentFailure(Vec<u8>),
    CheckPresentUnknown(Vec<u8>, String),
    RemoveSuccess(Vec<u8>),
    RemoveFailure(Vec<u8>, String),
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
    ClaimUrlSuccess,
    ClaimUrlFailure,
    /// `CHECKURL-CONTENTS <size|UNKNOWN> <file name>`.
    CheckUrlContents(Option<u64>, String),
    /// `CHECKURL-MULTI` with (url, size, file name) per file; none may contain spaces.
    CheckUrlMulti(Vec<UrlFile>),
    CheckUrlFailure(String),
    Progress(u64),
    /// `GETURLS <key> <prefix>`: answered by VALUE lines, the last one empty.
    GetUrls(Vec<u8>, String),
    /// `GETGITDIR`: answered by VALUE.
    GetGitDir,
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
                | Message::GetUrls(..)
                | Message::GetGitDir
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

    /// The line for job `job` (`None`: no ASYNC), without its newline: the bytes git-annex
    /// gets.
    pub fn line(&self, job: Option<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(n) = job
            && !self.is_untagged()
        {
            out.extend_from_slice(format!("J {n} ").as_bytes());
        }
        self.encode(&mut out);
        out
    }

    /// Appends the message's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>) {
        use Message::*;
        // Keys are checked to be single words before they reach a message; free text is not.
        let t = |s: &str| one_line(s);
        // `HEAD KEY` and, when there is text, ` TEXT`.
        let keyed = |out: &mut Vec<u8>, head: &str, key: &[u8], text: Option<&str>| {
            out.extend_from_slice(head.as_bytes());
            out.push(b' ');
            out.extend_from_slice(key);
            if let Some(text) = text {
                out.push(b' ');
                out.extend_from_slice(one_line(text).as_bytes());
            }
        };
        let line = match self {
            TransferSuccess(d, k) => {
                return keyed(out, &format!("TRANSFER-SUCCESS {}", d.as_str()), k, None);
            }
            TransferFailure(d, k, m) => {
                return keyed(out, &format!("TRANSFER-FAILURE {}", d.as_str()), k, Some(m));
            }
            CheckPresentSuccess(k) => return keyed(out, "CHECKPRESENT-SUCCESS", k, None),
            CheckPresentFailure(k) => return keyed(out, "CHECKPRESENT-FAILURE", k, None),
            CheckPresentUnknown(k, m) => {
                return keyed(out, "CHECKPRESENT-UNKNOWN", k, Some(m));
            }
            RemoveSuccess(k) => return keyed(out, "REMOVE-SUCCESS", k, None),
            RemoveFailure(k, m) => return keyed(out, "REMOVE-FAILURE", k, Some(m)),
            GetUrls(k, prefix) => return keyed(out, "GETURLS", k, Some(prefix)),
            Version(v) => format!("VERSION {v}"),
            Extensions(l) => l.iter().fold("EXTENSIONS".to_owned(), |mut line, e| {
                line.push(' ');
                line.push_str(e);
                line
            }),
            InitRemoteSuccess => "INITREMOTE-SUCCESS".into(),
            InitRemoteFailure(m) => format!("INITREMOTE-FAILURE {}", t(m)),
            PrepareSuccess => "PREPARE-SUCCESS".into(),
            PrepareFailure(m) => format!("PREPARE-FAILURE {}", t(m)),
            Cost(c) => format!("COST {c}"),
            Availability(a) => match a {
                self::Availability::Global => "AVAILABILITY GLOBAL",
                self::Availability::Local => "AVAILABILITY LOCAL",
                self::Availability::Unavailable => "AVAILABILITY UNAVAILABLE",
            }
            .into(),
            WhereisSuccess(s) => format!("WHEREIS-SUCCESS {}", t(s)),
            WhereisFailure => "WHEREIS-FAILURE".into(),
            InfoField(s) => format!("INFOFIELD {}", t(s)),
            InfoValue(s) => format!("INFOVALUE {}", t(s)),
            InfoEnd => "INFOEND".into(),
            Config(name, d) => format!("CONFIG {name} {}", t(d)),
            ConfigEnd => "CONFIGEND".into(),
            ExportSupportedFailure => "EXPORTSUPPORTED-FAILURE".into(),
            Unordered => "UNORDERED".into(),
            UnsupportedRequest => "UNSUPPORTED-REQUEST".into(),
            ClaimUrlSuccess => "CLAIMURL-SUCCESS".into(),
            ClaimUrlFailure => "CLAIMURL-FAILURE".into(),
            CheckUrlContents(size, name) => {
                format!("CHECKURL-CONTENTS {} {}", size_word(*size), t(name))
            }
            CheckUrlMulti(files) => {
                files
                    .iter()
                    .fold("CHECKURL-MULTI".to_owned(), |mut line, f| {
                        line.push_str(&format!(
                            " {} {} {}",
                            word(&f.url),
                            size_word(f.size),
                            word(&f.name)
                        ));
                        line
                    })
            }
            CheckUrlFailure(m) => format!("CHECKURL-FAILURE {}", t(m)),
            GetGitDir => "GETGITDIR".into(),
            Progress(n) => format!("PROGRESS {n}"),
            GetConfig(name) => format!("GETCONFIG {name}"),
            SetConfig(name, v) => format!("SETCONFIG {name} {}", t(v)),
            GetCreds(setting) => format!("GETCREDS {setting}"),
            // The one place a secret is formatted: the wire needs it. [`CredPair`] made sure
            // it fits on the line; logs print [`loggable`] lines instead.
            SetCreds(setting, pair) => format!(
                "SETCREDS {setting} {} {}",
                pair.login.expose(),
                pair.password.expose()
            ),
            GetGitRemoteName => "GETGITREMOTENAME".into(),
            Debug(m) => format!("DEBUG {}", t(m)),
            Info(m) => format!("INFO {}", t(m)),
            Error(m) => format!("ERROR {}", t(m)),
        };
        out.extend_from_slice(line.as_bytes());
    }
}

impl fmt::Display for Message {
    /// The line (without job prefix) as text: bytes of a key that are not printable UTF-8 are
    /// escaped (see [`Printable`]); [`Message::line`] is what goes on the wire.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Printable(&self.line(None)).fmt(f)
    }
}

/// One file of a `CHECKURL-MULTI` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlFile {
    pub url: String,
    pub size: Option<u64>,
    pub name: String,
}

fn size_word(size: Option<u64>) -> String {
    size.map_or_else(|| "UNKNOWN".to_owned(), |n| n.to_string())
}

/// One word of a multi-word reply: spaces and control characters (which would split or end
/// it) become `_`.
fn word(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
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
/// (the setting name stays), and bytes that are not printable UTF-8 are escaped. Any job
/// prefix is kept.
pub fn loggable(line: &[u8]) -> String {
    let body = split_job(line).map(|(_, body)| body).unwrap_or(line);
    let prefix = Printable(&line[..line.len() - body.len()]);
    if body == b"CREDS" || body.starts_with(b"CREDS ") {
        return format!("{prefix}CREDS ***");
    }
    if let Some(rest) = body.strip_prefix(b"SETCREDS ") {
        let setting = split_word(rest).0;
        return format!("{prefix}SETCREDS {} ***", Printable(setting));
    }
    Printable(line).to_string()
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
        match parse(line.as_bytes()).unwrap() {
            Incoming::Request(r) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn url_replies_keep_one_word_per_field() {
        let line = |m: Message| String::from_utf8(m.line(Some(3))).unwrap();
        assert_eq!(line(Message::ClaimUrlSuccess), "J 3 CLAIMURL-SUCCESS");
        assert_eq!(
            line(Message::CheckUrlContents(Some(5), "a b.txt".into())),
            "J 3 CHECKURL-CONTENTS 5 a b.txt"
        );
        assert_eq!(
            line(Message::CheckUrlContents(None, "x".into())),
            "J 3 CHECKURL-CONTENTS UNKNOWN x"
        );
        assert_eq!(
            line(Message::CheckUrlMulti(vec![
                UrlFile {
                    url: "torrent:u#a.bin".into(),
                    size: Some(7),
                    name: "t/a.bin".into()
                },
                UrlFile {
                    url: "torrent:u#sub%20dir/b".into(),
                    size: None,
                    name: "t/sub dir/b".into()
                },
            ])),
            "J 3 CHECKURL-MULTI torrent:u#a.bin 7 t/a.bin torrent:u#sub%20dir/b UNKNOWN t/sub_dir/b"
        );
        assert_eq!(
            line(Message::GetUrls(b"SHA256E-s1--ab".to_vec(), String::new())),
            "J 3 GETURLS SHA256E-s1--ab "
        );
        assert_eq!(line(Message::GetGitDir), "J 3 GETGITDIR");
        assert!(!Message::GetUrls(vec![], String::new()).is_final());
        assert!(!Message::GetGitDir.is_final());
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
                key: b"SHA256E-s6--ab.txt".to_vec(),
                file: b".git/annex/objects/a b/c".to_vec(),
            }
        );
        assert_eq!(
            req("TRANSFER RETRIEVE GPGHMACSHA1--00 .git/annex/tmp/x"),
            Request::Transfer {
                direction: Direction::Retrieve,
                key: b"GPGHMACSHA1--00".to_vec(),
                file: b".git/annex/tmp/x".to_vec(),
            }
        );
        assert_eq!(req("CHECKPRESENT K"), Request::CheckPresent(b"K".to_vec()));
        assert_eq!(req("REMOVE K"), Request::Remove(b"K".to_vec()));
        assert_eq!(req("WHEREIS K"), Request::Whereis(b"K".to_vec()));
        for (line, r) in [
            ("LISTCONFIGS", Request::ListConfigs),
            ("INITREMOTE", Request::InitRemote),
            ("PREPARE", Request::Prepare),
            ("EXPORTSUPPORTED", Request::ExportSupported),
            ("GETCOST", Request::GetCost),
            ("GETAVAILABILITY", Request::GetAvailability),
            ("GETINFO", Request::GetInfo),
            ("GETORDERED", Request::GetOrdered),
            ("CLAIMURL http://x", Request::ClaimUrl("http://x".into())),
            (
                "CHECKURL torrent:magnet:?xt=urn:btih:ab&dn=a b",
                Request::CheckUrl("torrent:magnet:?xt=urn:btih:ab&dn=a b".into()),
            ),
            ("FROBNICATE", Request::Unsupported("FROBNICATE".into())),
        ] {
            assert_eq!(req(line), r, "{line}");
        }
        assert!(parse(b"CLAIMURL").is_err());
        assert!(parse(b"CHECKURL ").is_err());
        assert_eq!(parse(b"VALUE a b").unwrap(), Incoming::Value("a b".into()));
        assert_eq!(parse(b"VALUE ").unwrap(), Incoming::Value(String::new()));
        assert_eq!(parse(b"VALUE").unwrap(), Incoming::Value(String::new()));
        assert_eq!(
            parse(b"ERROR oops").unwrap(),
            Incoming::Error("oops".into())
        );
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        let e = |l: &str| parse(l.as_bytes()).unwrap_err().to_string();
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
        assert_eq!(split_job(b"J 1 PREPARE").unwrap(), (1, &b"PREPARE"[..]));
        assert_eq!(split_job(b"J 42 VALUE ").unwrap(), (42, &b"VALUE "[..]));
        for bad in [
            "PREPARE",
            "J PREPARE",
            "J x PREPARE",
            "J -1 PREPARE",
            "J 1",
            "J  1 X",
        ] {
            assert!(split_job(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(
            split_job(b"J 99999999999999999999 X")
                .unwrap_err()
                .to_string(),
            "bad job prefix in `J 99999999999999999999 X`: expected `J <number> <message>`"
        );
    }

    #[test]
    fn formats_exact_lines() {
        use Message::*;
        let k = b"SHA256E-s6--ab.txt".to_vec();
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
        assert_eq!(PrepareSuccess.line(Some(3)), b"J 3 PREPARE-SUCCESS");
        assert_eq!(Version(2).line(Some(3)), b"VERSION 2");
        assert_eq!(PrepareSuccess.line(None), b"PREPARE-SUCCESS");
    }

    #[test]
    fn creds_replies_keep_spaces_in_the_password_and_empty_means_none() {
        let creds = |line: &str| match parse(line.as_bytes()).unwrap() {
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
        let shown = format!("{:?}", parse(b"CREDS AKID hunter2").unwrap());
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
        assert_eq!(m.line(None), b"SETCREDS swarm-s1-s3key AKID se cret");
        assert_eq!(m.line(Some(2)), b"J 2 SETCREDS swarm-s1-s3key AKID se cret");
        assert!(!format!("{m:?}").contains("se cret"));
        assert!(!m.is_final());
        assert_eq!(
            Message::GetCreds("swarm-s1-s3key".into()).line(Some(2)),
            b"J 2 GETCREDS swarm-s1-s3key"
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
            assert_eq!(loggable(line.as_bytes()), shown, "{line}");
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

    /// git-annex keeps a Latin-1 extension byte in a SHA256E key; such a line used to end the
    /// remote with "invalid utf-8".
    #[test]
    fn a_key_that_is_not_utf8_is_carried_byte_for_byte() {
        let key =
            b"SHA256E-s6--5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03.\xe9";
        let file = [&b".git/annex/objects/zK/02/"[..], key, b"/", key].concat();
        let line = [&b"TRANSFER STORE "[..], key, b" ", &file].concat();
        assert_eq!(
            parse(&line).unwrap(),
            Incoming::Request(Request::Transfer {
                direction: Direction::Store,
                key: key.to_vec(),
                file,
            })
        );
        let line = [&b"J 3 CHECKPRESENT "[..], key].concat();
        let (job, body) = split_job(&line).unwrap();
        assert_eq!(job, 3);
        assert_eq!(
            parse(body).unwrap(),
            Incoming::Request(Request::CheckPresent(key.to_vec()))
        );
        let reply = Message::CheckPresentSuccess(key.to_vec()).line(Some(3));
        assert_eq!(reply, [&b"J 3 CHECKPRESENT-SUCCESS "[..], key].concat());
        let shown = Message::TransferFailure(Direction::Store, key.to_vec(), "no".into());
        assert!(shown.to_string().ends_with(".\\xe9 no"), "{shown}");
        assert!(loggable(&line).ends_with(".\\xe9"));
    }

    #[test]
    fn words_and_text_that_are_not_utf8_are_errors_not_panics() {
        let e = |l: &[u8]| parse(l).unwrap_err().to_string();
        assert_eq!(
            e(b"TRANSFER ST\xffORE k f"),
            "TRANSFER direction `ST\\xffORE` is neither STORE nor RETRIEVE"
        );
        assert_eq!(e(b"VALUE \xff"), "VALUE with text that is not UTF-8");
        assert_eq!(e(b"CREDS a \xff"), "CREDS with text that is not UTF-8");
        assert_eq!(
            e(b"REMOVE a\xff b"),
            "`a\\xff b`: a key cannot contain spaces"
        );
        assert_eq!(
            parse(b"FROB\xffNICATE x").unwrap(),
            Incoming::Request(Request::Unsupported("FROB\\xffNICATE".into()))
        );
        // git-annex giving up is honoured whatever its words.
        assert_eq!(
            parse(b"ERROR bad \xff").unwrap(),
            Incoming::Error("bad \u{fffd}".into())
        );
        // Unknown extension names are ignored, whatever their bytes.
        assert_eq!(
            parse(b"EXTENSIONS INFO \xff ASYNC").unwrap(),
            Incoming::Request(Request::Extensions(vec![
                "INFO".into(),
                "\u{fffd}".into(),
                "ASYNC".into()
            ]))
        );
        assert!(split_job(b"J \xff X").is_err());
        assert_eq!(
            split_job(b"J 1\x00 X").unwrap_err().to_string(),
            "bad job prefix in `J 1\\x00 X`: expected `J <number> <message>`"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_any_bytes(line in proptest::collection::vec(any::<u8>(), 0..80)) {
            let body = split_job(&line).map(|(_, b)| b).unwrap_or(&line);
            let _ = parse(body);
            let _ = loggable(&line);
        }

        #[test]
        fn parse_never_panics(line in "\\PC{0,60}|(J [0-9]{1,3} )?(TRANSFER|CHECKPRESENT|REMOVE|VALUE|EXTENSIONS)( [!-~]{0,8}){0,4}") {
            let body = split_job(line.as_bytes()).map(|(_, b)| b).unwrap_or(line.as_bytes());
            let _ = parse(body);
        }

        #[test]
        fn every_message_is_one_line(text in "\\PC{0,80}|[\\s\\S]{0,40}", key in proptest::collection::vec(0x21u8..=0xff, 1..20)) {
            for m in [
                Message::TransferFailure(Direction::Store, key.clone(), text.clone()),
                Message::CheckPresentUnknown(key.clone(), text.clone()),
                Message::InitRemoteFailure(text.clone()),
                Message::Info(text.clone()),
                Message::InfoValue(text.clone()),
                Message::WhereisSuccess(text.clone()),
            ] {
                let line = m.line(Some(7));
                prop_assert!(!line.contains(&b'\n') && !line.contains(&b'\r'), "{:?}", line);
                prop_assert!(line.starts_with(b"J 7 "));
            }
        }

        #[test]
        fn transfer_round_trips(store in any::<bool>(), key in proptest::collection::vec(0x21u8..=0xff, 1..30),
                                file in proptest::collection::vec(any::<u8>().prop_filter("newline", |b| *b != b'\n'), 1..30)) {
            prop_assume!(file.first() != Some(&b' ') && file.last() != Some(&b'\r'));
            let dir = if store { "STORE" } else { "RETRIEVE" };
            let line = [format!("TRANSFER {dir} ").as_bytes(), &key, b" ", &file].concat();
            let Incoming::Request(Request::Transfer { direction, key: k, file: f }) = parse(&line).unwrap() else {
                panic!("not a transfer: {line:?}");
            };
            prop_assert_eq!(direction.as_str(), dir);
            prop_assert_eq!(k, key);
            prop_assert_eq!(f, file);
        }
    }
}
