//! Store credentials through git-annex: at INITREMOTE (and enableremote) the remote hands what
//! it finds in the environment or the credentials file to git-annex with `SETCREDS`, and git-annex
//! keeps them in this repository's `.git/annex/creds/`; when the swarm is opened it asks for them
//! back with `GETCREDS`. `docs/spec/remote-config-v1.md` lists the settings.
//!
//! Never lets git-annex put a credential in the git-annex branch: `embedcreds=yes`, or gpg
//! encryption without `embedcreds=no` (git-annex then embeds them in `remote.log`), is refused
//! before any `SETCREDS`. Never formats a secret: notes and errors name stores and credentials.

use swarm_core::definition::{StoreLocation, SwarmDefinition};
use swarm_core::ids::StoreId;
use swarm_engine::credentials::{CredentialError, CredentialSource, MapSource, Secret, names};

use crate::protocol::{CredPair, CredPairError};

/// One credential pair git-annex keeps for a store: `SETCREDS <setting> <login> <password>`.
/// A pair with no login name carries one credential, in the password field (which may hold
/// spaces), with an empty login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub store: StoreId,
    pub kind: &'static str,
    /// `swarm-<store id>-<pair>`, one word.
    pub name: String,
    pub login: Option<&'static str>,
    pub password: &'static str,
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
        for (pair, login, password) in pairs(kind) {
            out.push(Setting {
                store: entry.id.clone(),
                kind,
                name: format!("swarm-{}-{pair}", entry.id),
                login: *login,
                password,
            });
        }
    }
    out
}

/// Puts what `GETCREDS` returned for `setting` into `map`. Empty values mean "none stored".
pub fn remember(map: &mut MapSource, setting: &Setting, login: Secret, password: Secret) {
    if let Some(name) = setting.login
        && !login.expose().is_empty()
    {
        map.insert(&setting.store, name, login);
    }
    if !password.expose().is_empty() {
        map.insert(&setting.store, setting.password, password);
    }
}

/// What INITREMOTE hands to git-annex, and what the user should hear about what it does not.
#[derive(Debug, Default)]
pub struct Handover {
    pub pairs: Vec<(String, CredPair)>,
    pub notes: Vec<LeftOut>,
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

/// The pairs `source` knows for the definition's stores. A pair is handed over when either of
/// its credentials is found (the other is then empty). Values the protocol cannot carry, S3
/// session credentials (temporary: a stored copy would outlive them) and an unreadable source
/// are left out, with a note naming the store and the credential.
pub fn handover(def: &SwarmDefinition, source: &dyn CredentialSource) -> Handover {
    let mut out = Handover::default();
    let mut temporary: Vec<StoreId> = Vec::new();
    for setting in settings(def) {
        if temporary.contains(&setting.store) {
            continue;
        }
        match pair_for(&setting, source) {
            Ok(Some(pair)) => out.pairs.push((setting.name, pair)),
            Ok(None) => {}
            Err(note) => {
                if let LeftOut::Temporary { store } = &note {
                    temporary.push(store.clone());
                }
                out.notes.push(note);
            }
        }
    }
    out
}

fn pair_for(setting: &Setting, source: &dyn CredentialSource) -> Result<Option<CredPair>, LeftOut> {
    let get = |name: &str| {
        source
            .get(&setting.store, setting.kind, name)
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

    fn def(urls: &[&str]) -> SwarmDefinition {
        let entries = urls
            .iter()
            .enumerate()
            .map(|(i, u)| StoreEntry::new(format!("s{}", i + 1).parse().unwrap(), *u))
            .collect();
        SwarmDefinition::new(1, 1, entries).unwrap()
    }

    fn mixed() -> SwarmDefinition {
        def(&[
            "/data/a",
            "s3://bucket/p?endpoint=http://127.0.0.1:1",
            "webdav+http://127.0.0.1:1/dav/",
            "sftp://u@127.0.0.1/srv",
            "gdrive://folder",
        ])
    }

    fn notes(h: &Handover) -> Vec<String> {
        h.notes.iter().map(ToString::to_string).collect()
    }

    fn map(values: &[(&str, &str, &str)]) -> MapSource {
        let mut m = MapSource::new();
        for (store, name, value) in values {
            m.insert(&store.parse().unwrap(), name, Secret::new(*value));
        }
        m
    }

    #[test]
    fn settings_name_store_and_pair_and_skip_local_stores() {
        let names: Vec<String> = settings(&mixed()).into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "swarm-s2-s3key",
                "swarm-s3-login",
                "swarm-s4-sshkey",
                "swarm-s5-oauthclient",
                "swarm-s5-oauthtoken"
            ]
        );
        assert!(settings(&def(&["/a", "file:///b"])).is_empty());
    }

    #[test]
    fn found_credentials_are_handed_over_in_pairs() {
        let source = map(&[
            ("s2", "access_key_id", "AKID"),
            ("s2", "secret_access_key", "se cret"),
            ("s3", "password", "pw"),
            ("s5", "refresh_token", "tok"),
        ]);
        let h = handover(&mixed(), &source);
        assert!(h.notes.is_empty(), "{:?}", h.notes);
        let lines: Vec<String> = h
            .pairs
            .into_iter()
            .map(|(name, pair)| crate::protocol::Message::SetCreds(name, pair).to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "SETCREDS swarm-s2-s3key AKID se cret",
                "SETCREDS swarm-s3-login  pw",
                "SETCREDS swarm-s5-oauthtoken  tok"
            ]
        );
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
        fn get(&self, _: &StoreId, _: &str, _: &str) -> Result<Option<Secret>, CredentialError> {
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

    #[test]
    fn getcreds_replies_fill_the_map_and_empty_means_none() {
        let d = mixed();
        let all = settings(&d);
        let mut m = MapSource::new();
        remember(&mut m, &all[0], Secret::new("AKID"), Secret::new("s e"));
        remember(&mut m, &all[1], Secret::new(""), Secret::new(""));
        remember(&mut m, &all[4], Secret::new("ignored"), Secret::new("tok"));
        let get = |store: &str, name: &str| {
            m.get(&store.parse().unwrap(), "", name)
                .unwrap()
                .map(|s| s.expose().to_owned())
        };
        assert_eq!(get("s2", "access_key_id").as_deref(), Some("AKID"));
        assert_eq!(get("s2", "secret_access_key").as_deref(), Some("s e"));
        assert_eq!(get("s3", "username"), None);
        assert_eq!(get("s3", "password"), None);
        assert_eq!(get("s5", "refresh_token").as_deref(), Some("tok"));
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
