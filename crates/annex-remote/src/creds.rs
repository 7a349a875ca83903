//! Store credentials through git-annex: at INITREMOTE (and enableremote) the remote hands what
//! it finds in the environment or the credentials file to git-annex with `SETCREDS`, and git-annex
//! keeps them in this repository's `.git/annex/creds/`; when the swarm is opened it asks for them
//! back with `GETCREDS`. `docs/spec/remote-config-v1.md` lists the settings.
//!
//! **Bound to hosts.** The definition is shared (the git-annex branch): a collaborator may
//! change a store's URL. So git-annex keeps the credentials of a store of a kind that can point
//! anywhere (S3, WebDAV, SFTP) under a setting named for the store *and the host* they were
//! handed over for, `swarm-<id>-<pair>@<host>`: a pair is only ever asked for the host the
//! store is at now, and one kept for another host is never sent. `swarm-<id>-host` records the
//! host of the last handover, so that the refusal can name it, and enableremote moves the pair
//! to the store's new host when the user names that host for the store
//! (`ANNEX_SWARM_<ID>_HOSTS`). Pairs kept before hosts were bound (`swarm-<id>-<pair>`) are
//! treated the same way. git-annex also answers GETCREDS from a setting of the same name in
//! remote.log (shared input), so only a pair's own name binds it to a host: a host found
//! anywhere else is used for messages, and to move a pair only with the user's word.
//!
//! Never lets git-annex put a credential in the git-annex branch: `embedcreds=yes`, or gpg
//! encryption without `embedcreds=no` (git-annex then embeds them in `remote.log`), is refused
//! before any `SETCREDS`. Never formats a secret: notes and errors name stores, credentials and
//! hosts.

use std::collections::{BTreeMap, BTreeSet};

use swarm_core::definition::{StoreLocation, SwarmDefinition};
use swarm_core::ids::StoreId;
use swarm_engine::credentials::{
    CredentialError, CredentialSource, Destination, Host, Secret, names, store_var,
};

use crate::protocol::{CredPair, CredPairError};

/// One credential pair git-annex keeps for a store: `SETCREDS <setting> <login> <password>`.
/// A pair with no login name carries one credential, in the password field (which may hold
/// spaces), with an empty login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub store: StoreId,
    pub kind: &'static str,
    /// Where the store's credentials go; `None` for the drives (fixed service hosts).
    pub host: Option<Host>,
    /// `swarm-<store id>-<pair>`, one word: the whole name for the drives, and the name
    /// before credentials were bound to hosts.
    pub base: String,
    /// What git-annex keeps the pair under: `<base>@<host>`, or `<base>` for the drives.
    pub name: String,
    pub login: Option<&'static str>,
    pub password: &'static str,
}

impl Setting {
    /// The name this pair is kept under for `host`.
    pub fn name_for(&self, host: &Host) -> String {
        format!("{}@{host}", self.base)
    }
}

/// The setting recording the host a store's credentials were last handed over for (the
/// password field holds it).
pub fn host_record(store: &StoreId) -> String {
    format!("swarm-{store}-host")
}

/// The pairs of one store kind: (pair name, login credential, password credential).
fn pairs(kind: &str) -> &'static [(&'static str, Option<&'static str>, &'static str)] {
    match kind {
        "s3" => &[(
            "s3key",
            Some(names::ACCESS_KEY_ID),
            names::SECRET_ACCESS_KEY,
        )],
        "webdav" => &[("login", Some(names::USERNAME), names::PASSWORD)],
        "sftp" => &[("sshkey", None, names::SSH_KEY)],
        "gdrive" | "onedrive" | "dropbox" => &[
            ("oauthclient", Some(names::CLIENT_ID), names::CLIENT_SECRET),
            ("oauthtoken", None, names::REFRESH_TOKEN),
        ],
        _ => &[],
    }
}

/// Every setting of the definition's stores, in store order. Local stores have none (so an
/// all-local swarm costs no GETCREDS round trip); a store whose URL does not parse has none
/// (opening it reports the URL).
pub fn settings(def: &SwarmDefinition) -> Vec<Setting> {
    let mut out = Vec::new();
    for entry in &def.stores {
        let Ok(location) = entry.location() else {
            continue;
        };
        if matches!(location, StoreLocation::Local(_)) {
            continue;
        }
        let kind = location.kind();
        let host = Host::of(&location);
        for (pair, login, password) in pairs(kind) {
            let base = format!("swarm-{}-{pair}", entry.id);
            let name = match &host {
                Some(h) => format!("{base}@{h}"),
                None => base.clone(),
            };
            out.push(Setting {
                store: entry.id.clone(),
                kind,
                host: host.clone(),
                base,
                name,
                login: *login,
                password,
            });
        }
    }
    out
}

/// A host recorded by `swarm-<id>-host`, when it is another than `here`.
pub fn recorded_elsewhere(recorded: &Secret, here: &Host) -> Option<Host> {
    recorded.expose().parse::<Host>().ok().filter(|h| h != here)
}

/// One pair as GETCREDS answered it.
#[derive(Debug, Clone)]
pub struct KeptPair {
    pub setting: Setting,
    pub login: Secret,
    pub password: Secret,
}

impl KeptPair {
    fn holds(&self, name: &str) -> bool {
        (self.setting.login == Some(name) && !self.login.expose().is_empty())
            || (self.setting.password == name && !self.password.expose().is_empty())
    }
}

/// What git-annex keeps for the definition's stores (GETCREDS), as a credential source: each
/// store's credentials go only to the host they were kept for.
#[derive(Debug, Default)]
pub struct Kept {
    /// (store, credential name) -> value, kept for the store's host in `hosts` (the drives:
    /// for the kind).
    values: BTreeMap<(StoreId, String), Secret>,
    hosts: BTreeMap<StoreId, Host>,
    /// Stores with nothing kept for their host, but something for another host or from before
    /// hosts were bound: never sent; named when refused, moved by [`move_to_new_hosts`].
    elsewhere: BTreeMap<StoreId, Elsewhere>,
}

#[derive(Debug)]
struct Elsewhere {
    /// The host they were handed over for; `None`: before credentials were bound to hosts.
    from: Option<Host>,
    pairs: Vec<KeptPair>,
}

impl Kept {
    /// Takes what GETCREDS returned for `setting` (asked under `setting.name`). Empty values
    /// mean "none kept". True when anything was kept.
    pub fn remember(&mut self, setting: &Setting, login: Secret, password: Secret) -> bool {
        let mut any = false;
        if let Some(name) = setting.login
            && !login.expose().is_empty()
        {
            self.values
                .insert((setting.store.clone(), name.to_owned()), login);
            any = true;
        }
        if !password.expose().is_empty() {
            self.values.insert(
                (setting.store.clone(), setting.password.to_owned()),
                password,
            );
            any = true;
        }
        if any && let Some(h) = &setting.host {
            self.hosts.insert(setting.store.clone(), h.clone());
        }
        any
    }

    /// Takes what is kept for `store` under another host (`from`) or under the names from
    /// before hosts were bound (`None`): never sent.
    pub fn remember_elsewhere(
        &mut self,
        store: &StoreId,
        from: Option<Host>,
        pairs: Vec<KeptPair>,
    ) {
        let pairs: Vec<KeptPair> = pairs
            .into_iter()
            .filter(|p| !p.login.expose().is_empty() || !p.password.expose().is_empty())
            .collect();
        if !pairs.is_empty() {
            self.elsewhere
                .insert(store.clone(), Elsewhere { from, pairs });
        }
    }

    fn refusal(
        store: &StoreId,
        dest: &Destination,
        name: &str,
        target: &Host,
        from: Option<&Host>,
    ) -> CredentialError {
        CredentialError::NotForHost {
            what: format!(
                "the {} `{name}` git-annex keeps for this store",
                dest.kind()
            ),
            target: target.clone(),
            why: match from {
                Some(h) => format!("it was handed over for {h}"),
                None => "it was handed over before credentials were bound to hosts".into(),
            },
            remedy: format!(
                "if that host should have it, run `{}={target} git annex enableremote NAME` once (NAME: this remote), or enableremote with the credentials in the environment",
                store_var(store, names::HOSTS)
            ),
        }
    }
}

impl CredentialSource for Kept {
    fn get(
        &self,
        store: &StoreId,
        dest: &Destination,
        name: &str,
    ) -> Result<Option<Secret>, CredentialError> {
        if let Some(v) = self.values.get(&(store.clone(), name.to_owned())) {
            let Some(target) = dest.host() else {
                return Ok(Some(v.clone()));
            };
            return match self.hosts.get(store) {
                Some(h) if h == target => Ok(Some(v.clone())),
                from => Err(Self::refusal(store, dest, name, target, from)),
            };
        }
        if let (Some(target), Some(e)) = (dest.host(), self.elsewhere.get(store))
            && e.pairs.iter().any(|p| p.holds(name))
        {
            return Err(Self::refusal(store, dest, name, target, e.from.as_ref()));
        }
        Ok(None)
    }
}

/// What INITREMOTE hands to git-annex, and what the user should hear about it.
#[derive(Debug, Default)]
pub struct Handover {
    pub pairs: Vec<(String, CredPair)>,
    pub notes: Vec<LeftOut>,
    /// Stores whose credentials git-annex kept for another host and now keeps for their host.
    pub moved: Vec<Moved>,
    /// Stores with credentials found now (so nothing kept is moved for them).
    found: BTreeSet<StoreId>,
}

/// Why a store's credentials are not handed to git-annex: a note for the user, naming the
/// store and the credential, never a value.
#[derive(Debug, thiserror::Error)]
pub enum LeftOut {
    #[error(
        "store {store}: S3 session credentials are temporary, so they are not handed to git-annex; they are read from the environment or the credentials file each time"
    )]
    Temporary { store: StoreId },
    #[error("store {store}: credentials not handed to git-annex: {error}")]
    Unreadable {
        store: StoreId,
        error: CredentialError,
    },
    #[error(
        "store {store}: its {kind} `{name}` {error}, so it is not handed to git-annex; keep it in the environment or the credentials file"
    )]
    Unfit {
        store: StoreId,
        kind: &'static str,
        /// The credential's name (`secret_access_key`, ...).
        name: &'static str,
        error: CredPairError,
    },
}

/// Credentials git-annex kept for a store's old host (or from before hosts were bound), now kept
/// for its new host because the user named that host for the store.
#[derive(Debug)]
pub struct Moved {
    pub store: StoreId,
    pub from: Option<Host>,
    pub to: Host,
}

impl std::fmt::Display for Moved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = match &self.from {
            Some(h) => format!("for {h}"),
            None => "from before credentials were bound to hosts".into(),
        };
        write!(
            f,
            "store {}: the credentials git-annex kept {from} now go to {}, the host named for this store",
            self.store, self.to
        )
    }
}

/// The pairs `source` knows for the definition's stores, for the hosts the stores are at (a
/// credential found for another host is left out with a note). A pair is handed over when
/// either of its credentials is found (the other is then empty), followed by the store's host
/// record. Values the protocol cannot carry, S3 session credentials (temporary: a stored copy
/// would outlive them) and an unreadable source are left out, with a note naming the store and
/// the credential.
pub fn handover(def: &SwarmDefinition, source: &dyn CredentialSource) -> Handover {
    let mut out = Handover::default();
    let mut temporary: Vec<StoreId> = Vec::new();
    let all = settings(def);
    for store in all.chunk_by(|a, b| a.store == b.store) {
        let mut any = false;
        for setting in store {
            if temporary.contains(&setting.store) {
                continue;
            }
            match pair_for(setting, source) {
                Ok(Some(pair)) => {
                    out.pairs.push((setting.name.clone(), pair));
                    any = true;
                }
                Ok(None) => {}
                Err(note) => {
                    if let LeftOut::Temporary { store } = &note {
                        temporary.push(store.clone());
                    }
                    out.notes.push(note);
                }
            }
        }
        if any && let Some(first) = store.first() {
            out.found.insert(first.store.clone());
            if let Some(host) = &first.host {
                push_record(&mut out, &first.store, host);
            }
        }
    }
    out
}

fn push_record(out: &mut Handover, store: &StoreId, host: &Host) {
    if let Ok(pair) = CredPair::new(Secret::new(""), Secret::new(host.as_str())) {
        out.pairs.push((host_record(store), pair));
    }
}

/// For each store with nothing found now whose credentials git-annex keeps only for another
/// host (or from before hosts were bound): when the user names the store's host for it
/// (`ANNEX_SWARM_<ID>_HOSTS`, `hosts` under `[store.ID]`: `source.store_hosts`), the kept pairs
/// are handed over again for that host (added to `handover`) and used from now on. Anything
/// else stays refused.
pub fn move_to_new_hosts(
    def: &SwarmDefinition,
    kept: &mut Kept,
    handover: &mut Handover,
    source: &dyn CredentialSource,
) {
    let all = settings(def);
    let stores: Vec<StoreId> = kept.elsewhere.keys().cloned().collect();
    for store in stores {
        if handover.found.contains(&store) {
            continue;
        }
        let Some(to) = all
            .iter()
            .find(|s| s.store == store)
            .and_then(|s| s.host.clone())
        else {
            continue;
        };
        match source.store_hosts(&store) {
            Ok(hosts) if hosts.contains(&to) => {}
            Ok(_) => continue,
            Err(error) => {
                handover.notes.push(LeftOut::Unreadable { store, error });
                continue;
            }
        }
        let Some(e) = kept.elsewhere.remove(&store) else {
            continue;
        };
        for p in e.pairs {
            let Some(setting) = all
                .iter()
                .find(|s| s.store == store && s.base == p.setting.base)
            else {
                continue;
            };
            kept.remember(setting, p.login.clone(), p.password.clone());
            if let Ok(pair) = CredPair::new(p.login, p.password) {
                handover.pairs.push((setting.name.clone(), pair));
            }
        }
        push_record(handover, &store, &to);
        handover.moved.push(Moved {
            store,
            from: e.from,
            to,
        });
    }
}

fn pair_for(setting: &Setting, source: &dyn CredentialSource) -> Result<Option<CredPair>, LeftOut> {
    let dest = match &setting.host {
        Some(h) => Destination::at(setting.kind, h.clone()),
        None => Destination::fixed_hosts(setting.kind),
    };
    let get = |name: &str| {
        source
            .get(&setting.store, &dest, name)
            .map_err(|error| LeftOut::Unreadable {
                store: setting.store.clone(),
                error,
            })
    };
    if setting.kind == "s3" && get(names::SESSION_TOKEN)?.is_some() {
        return Err(LeftOut::Temporary {
            store: setting.store.clone(),
        });
    }
    let login = match setting.login {
        Some(name) => get(name)?,
        None => None,
    };
    let password = get(setting.password)?;
    if login.is_none() && password.is_none() {
        return Ok(None);
    }
    let empty = || Secret::new("");
    CredPair::new(login.unwrap_or_else(empty), password.unwrap_or_else(empty))
        .map(Some)
        .map_err(|error| LeftOut::Unfit {
            store: setting.store.clone(),
            kind: setting.kind,
            name: match (error.in_login(), setting.login) {
                (true, Some(login)) => login,
                _ => setting.password,
            },
            error,
        })
}

/// Why INITREMOTE refuses to hand credentials over: git-annex would embed them in the
/// git-annex branch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbedError {
    #[error(
        "embedcreds={0} would make git-annex copy store credentials into the git-annex branch, where every clone can read them; leave it out (or give embedcreds=no): they are then kept in this repository's .git/annex/creds/ only"
    )]
    Asked(String),
    #[error(
        "with encryption={0}, git-annex embeds store credentials (gpg-encrypted) in the git-annex branch unless told not to: add embedcreds=no (they are then kept in this repository's .git/annex/creds/ only)"
    )]
    ByDefault(String),
}

/// Refuses the configurations in which git-annex stores SETCREDS values in `remote.log` as
/// well as locally (its `embedCreds`): `embedcreds=yes`, or, with `embedcreds` unset, gpg
/// encryption (hybrid, pubkey: `cipherkeys` set). Values are as GETCONFIG answers them.
pub fn check_not_embedded(
    embedcreds: &str,
    encryption: &str,
    cipherkeys: &str,
) -> Result<(), EmbedError> {
    match embedcreds.trim() {
        "no" => Ok(()),
        "" if cipherkeys.trim().is_empty() => Ok(()),
        "" => Err(EmbedError::ByDefault(encryption.trim().to_owned())),
        other => Err(EmbedError::Asked(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use swarm_core::definition::StoreEntry;
    use swarm_engine::credentials::MapSource;

    fn def(urls: &[&str]) -> SwarmDefinition {
        let entries = urls
            .iter()
            .enumerate()
            .map(|(i, u)| StoreEntry::new(format!("s{}", i + 1).parse().unwrap(), *u))
            .collect();
        SwarmDefinition::new(1, 1, entries).unwrap()
    }

    const S3_HOST: &str = "http://127.0.0.1:1";
    const DAV_HOST: &str = "http://127.0.0.1:2";

    fn mixed() -> SwarmDefinition {
        def(&[
            "/data/a",
            "s3://bucket/p?endpoint=http://127.0.0.1:1",
            "webdav+http://127.0.0.1:2/dav/",
            "sftp://u@127.0.0.1/srv",
            "gdrive://folder",
        ])
    }

    fn notes(h: &Handover) -> Vec<String> {
        h.notes.iter().map(ToString::to_string).collect()
    }

    fn host(s: &str) -> Host {
        s.parse().unwrap()
    }

    /// Values for stores, each allowed to go to the host of `mixed()` the store is at.
    fn map(values: &[(&str, &str, &str)]) -> MapSource {
        let mut m = MapSource::new();
        for (store, name, value) in values {
            m.insert(&store.parse().unwrap(), name, Secret::new(*value));
        }
        for (store, h) in [
            ("s2", S3_HOST),
            ("s3", DAV_HOST),
            ("s4", "sftp://127.0.0.1"),
        ] {
            m.allow(&store.parse().unwrap(), host(h));
        }
        m
    }

    fn lines(h: Handover) -> Vec<String> {
        h.pairs
            .into_iter()
            .map(|(name, pair)| crate::protocol::Message::SetCreds(name, pair).to_string())
            .collect()
    }

    #[test]
    fn settings_name_store_pair_and_host_and_skip_local_stores() {
        let names: Vec<String> = settings(&mixed()).into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "swarm-s2-s3key@http://127.0.0.1:1",
                "swarm-s3-login@http://127.0.0.1:2",
                "swarm-s4-sshkey@sftp://127.0.0.1",
                "swarm-s5-oauthclient",
                "swarm-s5-oauthtoken"
            ]
        );
        assert_eq!(settings(&mixed())[0].base, "swarm-s2-s3key");
        assert_eq!(
            settings(&def(&["s3://bucket/p", "/a"]))[0].name,
            "swarm-s1-s3key@aws"
        );
        assert!(settings(&def(&["/a", "file:///b"])).is_empty());
    }

    #[test]
    fn found_credentials_are_handed_over_in_pairs_with_their_host() {
        let source = map(&[
            ("s2", "access_key_id", "AKID"),
            ("s2", "secret_access_key", "se cret"),
            ("s3", "password", "pw"),
            ("s5", "refresh_token", "tok"),
        ]);
        let h = handover(&mixed(), &source);
        assert!(h.notes.is_empty(), "{:?}", h.notes);
        assert_eq!(
            lines(h),
            [
                "SETCREDS swarm-s2-s3key@http://127.0.0.1:1 AKID se cret",
                "SETCREDS swarm-s2-host  http://127.0.0.1:1",
                "SETCREDS swarm-s3-login@http://127.0.0.1:2  pw",
                "SETCREDS swarm-s3-host  http://127.0.0.1:2",
                "SETCREDS swarm-s5-oauthtoken  tok"
            ]
        );
    }

    /// Issue 11, item 9, at initremote: credentials found for another host than the store's
    /// are not handed over; the note names the host and shows no value.
    #[test]
    fn credentials_for_another_host_are_not_handed_over() {
        let mut source = MapSource::new();
        let s3: StoreId = "s3".parse().unwrap();
        source.insert(&s3, "password", Secret::new("hunter2"));
        source.allow(&s3, host("https://dav.example"));
        let h = handover(&mixed(), &source);
        assert!(h.pairs.is_empty());
        let n = notes(&h);
        assert_eq!(n.len(), 1);
        assert!(
            n[0].starts_with("store s3: credentials not handed to git-annex: the webdav `password` given for this store is not sent to http://127.0.0.1:2 (it may go only to https://dav.example)"),
            "{n:?}"
        );
        assert!(!n[0].contains("hunter2"));
    }

    #[test]
    fn what_cannot_travel_is_left_out_with_a_note_that_shows_no_value() {
        let source = map(&[
            ("s2", "access_key_id", "AKID"),
            ("s2", "secret_access_key", "line\nbreak-secret"),
            ("s3", "username", "two words"),
            ("s3", "password", "pw"),
        ]);
        let h = handover(&mixed(), &source);
        assert!(h.pairs.is_empty());
        assert_eq!(
            notes(&h),
            [
                "store s2: its s3 `secret_access_key` contains a line break or another control character, so it is not handed to git-annex; keep it in the environment or the credentials file",
                "store s3: its webdav `username` contains a space, and git-annex's CREDS reply takes the login as one word, so it is not handed to git-annex; keep it in the environment or the credentials file",
            ]
        );
    }

    #[test]
    fn s3_session_credentials_stay_out() {
        let source = map(&[
            ("s2", "access_key_id", "AKID"),
            ("s2", "secret_access_key", "secret"),
            ("s2", "session_token", "tok"),
        ]);
        let h = handover(&mixed(), &source);
        assert!(h.pairs.is_empty());
        assert_eq!(h.notes.len(), 1);
        assert!(notes(&h)[0].starts_with("store s2: S3 session credentials are temporary"));
    }

    struct Broken;
    impl CredentialSource for Broken {
        fn get(
            &self,
            _: &StoreId,
            _: &Destination,
            _: &str,
        ) -> Result<Option<Secret>, CredentialError> {
            Err(CredentialError::Exposed {
                path: "/c.toml".into(),
                mode: 0o644,
            })
        }
    }

    #[test]
    fn an_unreadable_source_is_a_note_not_a_failure() {
        let h = handover(&def(&["/a", "s3://bucket/p"]), &Broken);
        assert!(h.pairs.is_empty());
        assert_eq!(
            notes(&h),
            [
                "store s2: credentials not handed to git-annex: credentials file /c.toml is readable by others (mode 644); run `chmod 600 /c.toml`"
            ]
        );
    }

    fn dav(kind: &str, at: &str) -> Destination {
        match kind {
            "gdrive" => Destination::fixed_hosts("gdrive"),
            _ => Destination::at("webdav", host(at)),
        }
    }

    #[test]
    fn getcreds_replies_fill_the_source_and_empty_means_none() {
        let d = mixed();
        let all = settings(&d);
        let mut k = Kept::default();
        assert!(k.remember(&all[0], Secret::new("AKID"), Secret::new("s e")));
        assert!(!k.remember(&all[1], Secret::new(""), Secret::new("")));
        assert!(k.remember(&all[4], Secret::new("ignored"), Secret::new("tok")));
        let get = |store: &str, dest: &Destination, name: &str| {
            k.get(&store.parse().unwrap(), dest, name)
                .unwrap()
                .map(|s| s.expose().to_owned())
        };
        let s3 = Destination::at("s3", host(S3_HOST));
        assert_eq!(get("s2", &s3, "access_key_id").as_deref(), Some("AKID"));
        assert_eq!(get("s2", &s3, "secret_access_key").as_deref(), Some("s e"));
        assert_eq!(get("s3", &dav("webdav", DAV_HOST), "username"), None);
        assert_eq!(get("s3", &dav("webdav", DAV_HOST), "password"), None);
        assert_eq!(
            get("s5", &dav("gdrive", ""), "refresh_token").as_deref(),
            Some("tok")
        );
    }

    /// Issue 11, item 9, in the special remote: what git-annex keeps for a store's host is not
    /// sent to another host (a changed URL, a reload), and what it keeps for another host or
    /// from before hosts were bound is refused, naming the host and how to allow it.
    #[test]
    fn kept_credentials_go_only_to_the_host_they_were_kept_for() {
        let d = mixed();
        let all = settings(&d);
        let mut k = Kept::default();
        k.remember(&all[0], Secret::new("AKID"), Secret::new("hunter2"));
        let s2: StoreId = "s2".parse().unwrap();
        let moved = Destination::at("s3", host("http://127.0.0.2:1"));
        let err = k
            .get(&s2, &moved, "secret_access_key")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "the s3 `secret_access_key` git-annex keeps for this store is not sent to http://127.0.0.2:1 (it was handed over for http://127.0.0.1:1); if that host should have it, run `ANNEX_SWARM_S2_HOSTS=http://127.0.0.2:1 git annex enableremote NAME` once (NAME: this remote), or enableremote with the credentials in the environment"
        );
        let s3: StoreId = "s3".parse().unwrap();
        let legacy = KeptPair {
            setting: all[1].clone(),
            login: Secret::new("alice"),
            password: Secret::new("hunter2"),
        };
        k.remember_elsewhere(&s3, None, vec![legacy]);
        let err = k
            .get(&s3, &dav("webdav", DAV_HOST), "password")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is not sent to http://127.0.0.1:2 (it was handed over before credentials were bound to hosts)"),
            "{err}"
        );
        assert!(!err.contains("hunter2"));
        // Nothing kept anywhere: the next source is asked.
        assert!(
            k.get(&"s4".parse().unwrap(), &dav("webdav", DAV_HOST), "password")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn kept_credentials_move_only_to_a_host_the_user_names() {
        let d = mixed();
        let all = settings(&d);
        let s3: StoreId = "s3".parse().unwrap();
        let old = || KeptPair {
            setting: all[1].clone(),
            login: Secret::new("alice"),
            password: Secret::new("pw"),
        };
        // Not named: nothing moves, the refusal stays.
        let mut k = Kept::default();
        k.remember_elsewhere(&s3, Some(host("https://old.example")), vec![old()]);
        let mut h = Handover::default();
        move_to_new_hosts(&d, &mut k, &mut h, &MapSource::new());
        assert!(h.pairs.is_empty() && h.moved.is_empty());
        assert!(k.get(&s3, &dav("webdav", DAV_HOST), "password").is_err());
        // Named for the store: handed over again for the new host, and used.
        let mut named = MapSource::new();
        named.allow(&s3, host(DAV_HOST));
        move_to_new_hosts(&d, &mut k, &mut h, &named);
        assert_eq!(
            h.moved.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "store s3: the credentials git-annex kept for https://old.example now go to http://127.0.0.1:2, the host named for this store"
            ]
        );
        assert_eq!(
            lines(h),
            [
                "SETCREDS swarm-s3-login@http://127.0.0.1:2 alice pw",
                "SETCREDS swarm-s3-host  http://127.0.0.1:2"
            ]
        );
        assert_eq!(
            k.get(&s3, &dav("webdav", DAV_HOST), "password")
                .unwrap()
                .unwrap()
                .expose(),
            "pw"
        );
    }

    #[test]
    fn a_recorded_host_counts_only_when_it_is_another() {
        let here = host(DAV_HOST);
        assert_eq!(
            recorded_elsewhere(&Secret::new("https://old.example"), &here),
            Some(host("https://old.example"))
        );
        assert_eq!(recorded_elsewhere(&Secret::new(DAV_HOST), &here), None);
        assert_eq!(recorded_elsewhere(&Secret::new(""), &here), None);
        assert_eq!(recorded_elsewhere(&Secret::new("junk"), &here), None);
    }

    #[test]
    fn embedding_in_the_branch_is_refused() {
        assert_eq!(check_not_embedded("", "none", ""), Ok(()));
        assert_eq!(check_not_embedded("", "shared", ""), Ok(()));
        assert_eq!(check_not_embedded("no", "hybrid", "ABCD"), Ok(()));
        assert_eq!(
            check_not_embedded("yes", "none", ""),
            Err(EmbedError::Asked("yes".into()))
        );
        let e = check_not_embedded("", "hybrid", "ABCD").unwrap_err();
        assert_eq!(
            e.to_string(),
            "with encryption=hybrid, git-annex embeds store credentials (gpg-encrypted) in the git-annex branch unless told not to: add embedcreds=no (they are then kept in this repository's .git/annex/creds/ only)"
        );
    }
}
