//! Transcripts of the credential path: INITREMOTE hands what it finds to git-annex (SETCREDS)
//! unless git-annex would embed it in the git-annex branch; PREPARE asks for it back (GETCREDS)
//! for remote stores only, under settings named for the store and its host. The remote's
//! credential source is an in-memory map here (its values allowed for the S3 store's host), so
//! nothing depends on the environment; the S3 store points at a closed loopback port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use annex_remote::config::encode_definition;
use annex_remote::{Options, Remote};
use common::{Annex, Fixture};
use swarm_core::definition::StoreEntry;
use swarm_engine::credentials::{MapSource, Secret};

const S3_ID: &str = "s7-s3test";
const RECORD: &str = "swarm-s7-s3test-host";
const LEGACY: &str = "swarm-s7-s3test-s3key";
const SECRET: &str = "hunter2 with spaces";

/// A closed loopback port: nobody answers there.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The fixture's six local stores plus an S3 store nobody answers for, at `host`.
fn with_s3_at(f: &Fixture, host: &str) -> String {
    let mut def = f.def.clone();
    def.stores.push(StoreEntry::new(
        S3_ID.parse().unwrap(),
        format!("s3://annex/swarm?endpoint={host}&region=us-east-1"),
    ));
    def.validate().unwrap();
    encode_definition(&def)
}

/// The S3 store's host in these tests (a closed port; one per process is enough).
fn s3_host() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| format!("http://127.0.0.1:{}", closed_port()))
}

/// Where git-annex keeps the S3 store's key pair for `host`.
fn setting_at(host: &str) -> String {
    format!("swarm-s7-s3test-s3key@{host}")
}

fn with_s3(f: &Fixture) -> String {
    with_s3_at(f, s3_host())
}

/// `values` for the S3 store, allowed to go to `hosts`.
fn source_for(values: &[(&str, &str)], hosts: &[&str]) -> Arc<MapSource> {
    let mut m = MapSource::new();
    let id = S3_ID.parse().unwrap();
    for (name, value) in values {
        m.insert(&id, name, Secret::new(*value));
    }
    for h in hosts {
        m.allow(&id, h.parse().unwrap());
    }
    Arc::new(m)
}

fn source(values: &[(&str, &str)]) -> Arc<MapSource> {
    source_for(values, &[s3_host()])
}

async fn start(values: &[(&str, &str)]) -> Annex {
    start_with(source(values)).await
}

async fn start_with(source: Arc<MapSource>) -> Annex {
    let remote = Remote::with_credentials(source);
    let mut a = Annex::start_with(Options::default(), remote);
    a.expect("VERSION 1").await;
    a.send("EXTENSIONS INFO").await;
    a.expect("EXTENSIONS INFO").await;
    a
}

/// Reads up to and including the final reply (a line starting with `end`).
async fn until(a: &mut Annex, end: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let line = a.recv().await;
        let done = line.starts_with(end);
        out.push(line);
        if done {
            return out;
        }
    }
}

fn assert_no_secret(lines: &[String]) {
    for l in lines {
        assert!(!l.contains("hunter2"), "a secret was sent: {l}");
    }
}

#[tokio::test]
async fn an_empty_getcreds_reply_means_none_stored() {
    let f = Fixture::new();
    let embedded = with_s3(&f);
    let mut a = start(&[]).await;
    a.send("PREPARE").await;
    a.expect("GETCONFIG swarmdefinition").await;
    a.send(&format!("VALUE {embedded}")).await;
    // Only the S3 store is asked for; the six local ones cost no round trip. Nothing for its
    // host, no host recorded, nothing from before hosts were bound.
    for setting in [setting_at(s3_host()), RECORD.into(), LEGACY.into()] {
        a.expect(&format!("GETCREDS {setting}")).await;
        a.send("CREDS  ").await;
    }
    let out = until(&mut a, "PREPARE-").await;
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(
        out[0].starts_with(&format!("DEBUG stores unavailable: store {S3_ID}"))
            && out[0].contains("no s3 credential `access_key_id`"),
        "{out:?}"
    );
    assert_eq!(out[1], "PREPARE-SUCCESS");
    a.close().await.unwrap();
}

#[tokio::test]
async fn getcreds_values_open_the_store_and_are_never_repeated() {
    let f = Fixture::new();
    let embedded = with_s3(&f);
    // The source knows only a wrong key id; GETCREDS supplies both and wins.
    let mut a = start(&[("access_key_id", "FROM-ENV")]).await;
    a.send("PREPARE").await;
    a.expect("GETCONFIG swarmdefinition").await;
    a.send(&format!("VALUE {embedded}")).await;
    a.expect(&format!("GETCREDS {}", setting_at(s3_host())))
        .await;
    a.send(&format!("CREDS AKIDGIVEN {SECRET}")).await;
    let out = until(&mut a, "PREPARE-").await;
    assert_eq!(out.last().unwrap(), "PREPARE-SUCCESS");
    // The store was built (it is down for want of a server, not of credentials).
    assert!(
        out[0].starts_with(&format!("DEBUG stores unavailable: store {S3_ID}"))
            && !out[0].contains("credential"),
        "{out:?}"
    );
    assert_no_secret(&out);
    assert!(!out[0].contains("AKIDGIVEN"), "{out:?}");
    a.close().await.unwrap();
}

/// What git-annex keeps: setting -> the `<login> <password>` of its last SETCREDS.
type Kept = Vec<(String, String)>;

/// Sends `request` and plays git-annex until the reply starting with `end`: GETCONFIG answered
/// from `config` (and `swarmdefinition` with `embedded`; unlisted names are empty), GETCREDS from
/// `kept`, which SETCREDS updates unless `keep` is false (`annex.cachecreds=false`).
async fn play(
    a: &mut Annex,
    request: &str,
    end: &str,
    embedded: &str,
    config: &[(&str, &str)],
    keep: bool,
    kept: &mut Kept,
) -> Vec<String> {
    a.send(request).await;
    let mut out = Vec::new();
    loop {
        let line = a.recv().await;
        if let Some(rest) = line.strip_prefix("SETCREDS ")
            && keep
        {
            let (setting, pair) = rest.split_once(' ').unwrap();
            kept.push((setting.to_owned(), pair.to_owned()));
        }
        if let Some(name) = line.strip_prefix("GETCONFIG ") {
            let value = match name {
                "swarmdefinition" => embedded,
                other => config
                    .iter()
                    .find(|(n, _)| *n == other)
                    .map(|(_, v)| *v)
                    .unwrap_or(""),
            };
            a.send(&format!("VALUE {value}")).await;
        } else if line.starts_with("GETURLS ") {
            // A key the swarm lacks: the remote looks for torrent URLs; there are none.
            a.send("VALUE ").await;
        } else if let Some(setting) = line.strip_prefix("GETCREDS ") {
            let pair = kept
                .iter()
                .rev()
                .find(|(s, _)| s == setting)
                .map(|(_, p)| p.as_str())
                .unwrap_or(" ");
            a.send(&format!("CREDS {pair}")).await;
        } else if line.starts_with(end) {
            out.push(line);
            return out;
        }
        out.push(line);
    }
}

/// INITREMOTE over the embedded definition (enableremote), with nothing kept at first.
async fn initremote(a: &mut Annex, embedded: &str, config: &[(&str, &str)]) -> Vec<String> {
    initremote_keeping(a, embedded, config, true).await
}

/// As [`initremote`]; `keep: false` plays git-annex with `annex.cachecreds=false`.
async fn initremote_keeping(
    a: &mut Annex,
    embedded: &str,
    config: &[(&str, &str)],
    keep: bool,
) -> Vec<String> {
    let mut kept = Kept::new();
    play(
        a,
        "INITREMOTE",
        "INITREMOTE-",
        embedded,
        config,
        keep,
        &mut kept,
    )
    .await
}

#[tokio::test]
async fn initremote_hands_found_credentials_to_git_annex() {
    let f = Fixture::new();
    let embedded = with_s3(&f);
    let setting = setting_at(s3_host());
    let mut a = start(&[
        ("access_key_id", "AKIDFOUND"),
        ("secret_access_key", SECRET),
    ])
    .await;
    let out = initremote(&mut a, &embedded, &[("encryption", "none")]).await;
    let asked: Vec<&str> = out
        .iter()
        .filter(|l| l.starts_with("GET"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        &asked[7..],
        [
            // What an earlier enableremote stored (for this host, for another, from before).
            &format!("GETCREDS {setting}"),
            &format!("GETCREDS {RECORD}"),
            &format!("GETCREDS {LEGACY}"),
            "GETCONFIG embedcreds",
            "GETCONFIG encryption",
            "GETCONFIG cipherkeys",
            // After each SETCREDS, what git-annex kept.
            &format!("GETCREDS {setting}"),
            &format!("GETCREDS {RECORD}"),
        ]
    );
    let n = out.len();
    assert_eq!(
        out[n - 6..],
        [
            format!("SETCREDS {setting} AKIDFOUND {SECRET}"),
            format!("GETCREDS {setting}"),
            format!("SETCREDS {RECORD}  {}", s3_host()),
            format!("GETCREDS {RECORD}"),
            format!(
                "INFO store credentials kept by git-annex in .git/annex/creds/ of this repository only: {setting}, {RECORD}"
            ),
            "INITREMOTE-SUCCESS".into(),
        ]
    );
    // The store's unreachability is a note, and the note holds no secret.
    assert_no_secret(&out[..n - 6]);
    assert_no_secret(&out[n - 5..]);
    a.close().await.unwrap();
}

#[tokio::test]
async fn initremote_says_when_git_annex_keeps_nothing() {
    let f = Fixture::new();
    let embedded = with_s3(&f);
    let setting = setting_at(s3_host());
    let mut a = start(&[("secret_access_key", SECRET)]).await;
    let out = initremote_keeping(&mut a, &embedded, &[], false).await;
    let n = out.len();
    assert_eq!(
        out[n - 6..],
        [
            format!("SETCREDS {setting}  {SECRET}"),
            format!("GETCREDS {setting}"),
            format!("SETCREDS {RECORD}  {}", s3_host()),
            format!("GETCREDS {RECORD}"),
            format!(
                "INFO git-annex did not keep the store credentials {setting}, {RECORD} (annex.cachecreds=false?): they must come from the environment or the credentials file"
            ),
            "INITREMOTE-SUCCESS".into(),
        ]
    );
    a.close().await.unwrap();
}

/// Issue 11, item 9, in the special remote: credentials git-annex keeps for a store are not
/// sent when the shared definition moves the store to another host. A listener on 127.0.0.2
/// stands in for that host and records any `Authorization` header: none arrives, and the store
/// is down with a reason naming the host and how to allow it. The same credentials kept for
/// that host do arrive (the listener would see a leak).
#[tokio::test]
async fn kept_credentials_do_not_follow_a_store_to_another_host() {
    const DAV_ID: &str = "s7-davtest";
    let f = Fixture::new();
    let recorder = swarm_testservers::recorder::Recorder::start([127, 0, 0, 2].into());
    let here = recorder.origin();
    let mut def = f.def.clone();
    def.stores.push(StoreEntry::new(
        DAV_ID.parse().unwrap(),
        format!("webdav+http://tester@127.0.0.2:{}/dav/", recorder.port),
    ));
    def.validate().unwrap();
    let embedded = encode_definition(&def);
    let old = "http://127.0.0.1:8080";
    let record = format!("swarm-{DAV_ID}-host");
    let at = |host: &str| format!("swarm-{DAV_ID}-login@{host}");
    // Kept at an earlier enableremote, for the store's old host.
    let mut kept: Kept = vec![
        (at(old), format!("tester {SECRET}")),
        (record.clone(), format!(" {old}")),
    ];
    let mut a = start_with(Arc::new(MapSource::new())).await;
    let out = play(
        &mut a,
        "PREPARE",
        "PREPARE-",
        &embedded,
        &[],
        true,
        &mut kept,
    )
    .await;
    assert_eq!(out.last().unwrap(), "PREPARE-SUCCESS");
    let asked: Vec<&str> = out
        .iter()
        .filter(|l| l.starts_with("GETCREDS"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        asked,
        [
            format!("GETCREDS {}", at(&here)),
            format!("GETCREDS {record}"),
            format!("GETCREDS {}", at(old)),
        ]
    );
    let down = out
        .iter()
        .find(|l| l.starts_with("DEBUG stores unavailable"))
        .unwrap();
    assert!(
        down.contains(&format!(
            "the webdav `password` git-annex keeps for this store is not sent to {here} (it was handed over for {old}); if that host should have it, run `ANNEX_SWARM_S7_DAVTEST_HOSTS={here} git annex enableremote NAME` once"
        )),
        "{down}"
    );
    assert_no_secret(&out);
    // Ask the store something, so any request it would make has been made.
    play(
        &mut a,
        "CHECKPRESENT SHA256E-s1--00",
        "CHECKPRESENT-",
        &embedded,
        &[],
        true,
        &mut kept,
    )
    .await;
    a.close().await.unwrap();
    let sent: Vec<_> = recorder
        .seen()
        .into_iter()
        .filter(|s| s.authorization)
        .collect();
    assert!(
        sent.is_empty(),
        "credentials reached the new host: {sent:?}"
    );

    // Kept for this host, they are sent: the listener sees them.
    let mut kept: Kept = vec![(at(&here), format!("tester {SECRET}"))];
    let mut a = start_with(Arc::new(MapSource::new())).await;
    play(
        &mut a,
        "PREPARE",
        "PREPARE-",
        &embedded,
        &[],
        true,
        &mut kept,
    )
    .await;
    play(
        &mut a,
        "CHECKPRESENT SHA256E-s1--00",
        "CHECKPRESENT-",
        &embedded,
        &[],
        true,
        &mut kept,
    )
    .await;
    a.close().await.unwrap();
    assert!(
        recorder.seen().iter().any(|s| s.authorization),
        "the control request carried no credentials: {:?}",
        recorder.seen()
    );
}

/// Credentials git-annex kept before they were bound to hosts are not used, and move to the
/// store's host at enableremote once the user names it for the store.
#[tokio::test]
async fn credentials_kept_before_hosts_move_only_when_the_host_is_named() {
    let f = Fixture::new();
    let embedded = with_s3(&f);
    let setting = setting_at(s3_host());
    let mut kept: Kept = vec![(LEGACY.into(), format!("AKIDOLD {SECRET}"))];
    // PREPARE: refused, saying how to bind them.
    let mut a = start(&[]).await;
    let out = play(
        &mut a,
        "PREPARE",
        "PREPARE-",
        &embedded,
        &[],
        true,
        &mut kept,
    )
    .await;
    assert!(
        out[out.len() - 2].contains(&format!(
            "the s3 `access_key_id` git-annex keeps for this store is not sent to {} (it was handed over before credentials were bound to hosts); if that host should have it, run `ANNEX_SWARM_S7_S3TEST_HOSTS={} git annex enableremote NAME` once",
            s3_host(),
            s3_host()
        )),
        "{out:?}"
    );
    a.close().await.unwrap();
    // enableremote without naming the host: nothing moves.
    let mut a = start_with(source_for(&[], &[])).await;
    let out = play(
        &mut a,
        "INITREMOTE",
        "INITREMOTE-",
        &embedded,
        &[],
        true,
        &mut kept,
    )
    .await;
    assert!(!out.iter().any(|l| l.starts_with("SETCREDS")), "{out:?}");
    a.close().await.unwrap();
    // enableremote with ANNEX_SWARM_S7_S3TEST_HOSTS naming it: handed over for that host.
    let mut a = start_with(source_for(&[], &[s3_host()])).await;
    let out = play(
        &mut a,
        "INITREMOTE",
        "INITREMOTE-",
        &embedded,
        &[],
        true,
        &mut kept,
    )
    .await;
    assert_eq!(out.last().unwrap(), "INITREMOTE-SUCCESS");
    assert!(
        out.contains(&format!(
            "INFO store {S3_ID}: the credentials git-annex kept from before credentials were bound to hosts now go to {}, the host named for this store",
            s3_host()
        )),
        "{out:?}"
    );
    assert!(
        out.contains(&format!("SETCREDS {setting} AKIDOLD {SECRET}")),
        "{out:?}"
    );
    a.close().await.unwrap();
    // From now on they are used, with nothing named.
    let mut a = start(&[]).await;
    let out = play(
        &mut a,
        "PREPARE",
        "PREPARE-",
        &embedded,
        &[],
        true,
        &mut kept,
    )
    .await;
    assert!(!out.iter().any(|l| l.contains("credential")), "{out:?}");
    a.close().await.unwrap();
}

#[tokio::test]
async fn initremote_refuses_to_let_git_annex_embed_credentials() {
    let f = Fixture::new();
    let embedded = with_s3(&f);
    let mut a = start(&[("access_key_id", "AKID"), ("secret_access_key", SECRET)]).await;
    let out = initremote(
        &mut a,
        &embedded,
        &[("embedcreds", "yes"), ("encryption", "none")],
    )
    .await;
    assert_eq!(
        out.last().unwrap(),
        "INITREMOTE-FAILURE embedcreds=yes would make git-annex copy store credentials into the git-annex branch, where every clone can read them; leave it out (or give embedcreds=no): they are then kept in this repository's .git/annex/creds/ only"
    );
    // gpg encryption embeds by default: refused too, unless embedcreds=no.
    let hybrid = [("encryption", "hybrid"), ("cipherkeys", "F12D78D33CE46284")];
    let out = initremote(&mut a, &embedded, &hybrid).await;
    assert!(
        out.last()
            .unwrap()
            .starts_with("INITREMOTE-FAILURE with encryption=hybrid, git-annex embeds"),
        "{out:?}"
    );
    for l in &out {
        assert!(
            !l.starts_with("SETCREDS") && !l.starts_with("SETCONFIG"),
            "{l}"
        );
    }
    let out = initremote(
        &mut a,
        &embedded,
        &[hybrid[0], hybrid[1], ("embedcreds", "no")],
    )
    .await;
    assert_eq!(out.last().unwrap(), "INITREMOTE-SUCCESS");
    assert!(
        out.iter()
            .any(|l| l.starts_with(&format!("SETCREDS {} AKID ", setting_at(s3_host()))))
    );
    a.close().await.unwrap();
}

#[tokio::test]
async fn without_credentials_to_hand_over_embedding_settings_do_not_matter() {
    // An all-local swarm with gpg encryption (as the hybrid test runs it): nothing asked.
    let f = Fixture::new();
    let mut a = start(&[]).await;
    let out = initremote(
        &mut a,
        &f.embedded,
        &[("encryption", "hybrid"), ("cipherkeys", "ABCD")],
    )
    .await;
    assert_eq!(
        out,
        [
            "GETCONFIG stores",
            "GETCONFIG k",
            "GETCONFIG m",
            "GETCONFIG shardsize",
            "GETCONFIG inlinethreshold",
            "GETCONFIG definition",
            "GETCONFIG swarmdefinition",
            &format!("SETCONFIG swarmdefinition {}", f.embedded),
            "INITREMOTE-SUCCESS",
        ]
    );
    a.close().await.unwrap();
}
