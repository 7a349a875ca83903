//! The real `git-annex-remote-swarm` binary over pipes: what it writes on stdout is protocol
//! and nothing else, whatever it is fed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_git-annex-remote-swarm");

/// Feeds `input` to the binary (with `env`), closes stdin, returns (status, stdout, stderr).
fn converse(env: &[(&str, &str)], input: &str) -> (bool, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("ANNEX_SWARM_REMOTE_VERSION")
        .env_remove("ANNEX_SWARM_REMOTE_ASYNC")
        .env_remove("ANNEX_SWARM_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn speaks_version_1_by_default_and_2_when_asked() {
    let input = "EXTENSIONS INFO GETGITREMOTENAME ASYNC\nJ 1 GETCOST\n";
    let (ok, out, _) = converse(&[], input);
    assert!(ok);
    // GETCOST asks for the definition; stdin closes instead, so the default cost is answered.
    assert_eq!(
        out,
        "VERSION 1\nEXTENSIONS INFO GETGITREMOTENAME ASYNC\nJ 1 GETCONFIG swarmdefinition\nJ 1 COST 200\n"
    );
    let (ok, out, _) = converse(
        &[
            ("ANNEX_SWARM_REMOTE_VERSION", "2"),
            ("ANNEX_SWARM_REMOTE_ASYNC", "0"),
        ],
        "EXTENSIONS INFO ASYNC\nGETORDERED\n",
    );
    assert!(ok);
    assert_eq!(out, "VERSION 2\nEXTENSIONS INFO\nUNORDERED\n");
}

#[test]
fn bad_settings_fail_before_any_protocol() {
    let (ok, out, err) = converse(&[("ANNEX_SWARM_REMOTE_VERSION", "3")], "");
    assert!(!ok);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "git-annex-remote-swarm: error: ANNEX_SWARM_REMOTE_VERSION=3: expected 1 or 2\n"
    );
}

#[test]
fn garbage_gets_one_error_line_per_line_and_logs_stay_on_stderr() {
    let input = "\u{0}\u{1}\nJ 1 PREPARE\n\nTRANSFER STORE\nVALUE x\nNOT-A-REQUEST\n";
    let (ok, out, _) = converse(&[("ANNEX_SWARM_LOG", "trace")], input);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "VERSION 1",
            "UNSUPPORTED-REQUEST",
            "UNSUPPORTED-REQUEST",
            "ERROR empty protocol line",
            "ERROR TRANSFER needs a key",
            "ERROR unexpected VALUE x: no question was asked",
            "UNSUPPORTED-REQUEST",
        ]
    );
}

#[test]
fn creds_lines_are_never_logged_with_their_values() {
    // An unasked CREDS (no job asked GETCREDS) gets an error that does not repeat it.
    let input = "EXTENSIONS\nCREDS AKIDLOGIN hunter2 with spaces\n";
    let (ok, out, err) = converse(&[("ANNEX_SWARM_LOG", "trace")], input);
    assert!(ok);
    assert_eq!(
        out,
        "VERSION 1\nEXTENSIONS\nERROR unexpected CREDS: no question was asked\n"
    );
    assert!(
        err.contains("< CREDS ***"),
        "the trace log shows the line: {err}"
    );
    for secret in ["hunter2", "AKIDLOGIN"] {
        assert!(!err.contains(secret), "{secret} in the log:\n{err}");
    }
}

/// A definition of one local store and one S3 store on a closed loopback port, embedded, and
/// the S3 store's host.
fn embedded_with_s3(local: &std::path::Path) -> (String, String) {
    use swarm_core::definition::{StoreEntry, SwarmDefinition};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let def = SwarmDefinition::new(
        1,
        1,
        vec![
            StoreEntry::new("s1-local".parse().unwrap(), local.to_str().unwrap()),
            StoreEntry::new(
                "s2-s3".parse().unwrap(),
                format!("s3://annex/swarm?endpoint=http://127.0.0.1:{port}&region=us-east-1"),
            ),
        ],
    )
    .unwrap();
    (
        annex_remote::config::encode_definition(&def),
        format!("http://127.0.0.1:{port}"),
    )
}

#[test]
fn setcreds_go_to_git_annex_but_not_to_the_trace_log() {
    let dir = tempfile::tempdir().unwrap();
    let (embedded, host) = embedded_with_s3(&dir.path().join("local"));
    let missing = dir.path().join("no-credentials.toml");
    let secret = "hunter2 with spaces";
    // INITREMOTE (enableremote: the definition is embedded), then PREPARE; git-annex's
    // answers in the order the remote asks: nothing kept for the store's host, none recorded,
    // none from before hosts; the embedding settings; then CREDS confirming each SETCREDS
    // (the pair, then its host record).
    let input = format!(
        "EXTENSIONS\nINITREMOTE\nVALUE \nVALUE \nVALUE \nVALUE \nVALUE \nVALUE \nVALUE {embedded}\n\
         CREDS  \nCREDS  \nCREDS  \nVALUE \nVALUE none\nVALUE \n\
         CREDS AKIDFROMENV {secret}\nCREDS  {host}\n\
         PREPARE\nVALUE {embedded}\nCREDS AKIDFROMANNEX {secret}\n"
    );
    let (ok, out, err) = converse(
        &[
            ("ANNEX_SWARM_LOG", "trace"),
            ("ANNEX_SWARM_CREDENTIALS", missing.to_str().unwrap()),
            ("ANNEX_SWARM_S2_S3_ACCESS_KEY_ID", "AKIDFROMENV"),
            ("ANNEX_SWARM_S2_S3_SECRET_ACCESS_KEY", secret),
            ("ANNEX_SWARM_S2_S3_HOSTS", &host),
        ],
        &input,
    );
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "\nSETCREDS swarm-s2-s3-s3key@{host} AKIDFROMENV {secret}\nGETCREDS swarm-s2-s3-s3key@{host}\nSETCREDS swarm-s2-s3-host  {host}\n"
        )),
        "{out}"
    );
    assert!(out.ends_with("PREPARE-SUCCESS\n"), "{out}");
    assert!(
        err.contains(&format!("> SETCREDS swarm-s2-s3-s3key@{host} ***")),
        "{err}"
    );
    assert!(err.contains("< CREDS ***"), "{err}");
    for leak in ["hunter2", "AKIDFROMENV", "AKIDFROMANNEX"] {
        let lines: Vec<&str> = err.lines().filter(|l| l.contains(leak)).collect();
        assert!(lines.is_empty(), "{leak} in the log:\n{}", lines.join("\n"));
    }
}

/// Every URL in `log` (after its `://`): its query string, if any, is hidden and it has no user
/// info. Returns the URLs found.
fn urls_are_redacted(log: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in log.match_indices("://") {
        let mut url: String = log[i + 3..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !",})\"'`".contains(*c))
            .collect();
        if url.ends_with('>') && !url.ends_with("?<hidden>") {
            url.pop();
        }
        let authority = url.split(['/', '?', '#']).next().unwrap_or_default();
        assert!(
            !authority.contains('@') || authority.starts_with("***@"),
            "user info in the log: {url}\n{log}"
        );
        if let Some((_, query)) = url.split_once('?') {
            assert_eq!(query, "<hidden>", "a query string in the log: {url}\n{log}");
        }
        found.push(url);
    }
    found
}

#[test]
fn logs_never_show_a_url_query_or_user_info() {
    // Lines git-annex might send, logged at trace as they arrive, and an S3 store that cannot be
    // reached, whose client logs its requests at debug and its retries at warn.
    let dir = tempfile::tempdir().unwrap();
    let (embedded, _) = embedded_with_s3(&dir.path().join("local"));
    let missing = dir.path().join("no-credentials.toml");
    let input = format!(
        "EXTENSIONS\nVALUE s3://bkt?endpoint=http://u:hunter2@127.0.0.1:1\n\
         PREPARE\nVALUE {embedded}\nCREDS AKIDFROMANNEX SECRETFROMANNEX\n\
         CHECKPRESENT SHA256E-s1--x\n"
    );
    let env = [
        ("ANNEX_SWARM_LOG", "trace"),
        ("ANNEX_SWARM_CREDENTIALS", missing.to_str().unwrap()),
    ];
    let (ok, out, err) = converse(&env, &input);
    assert!(ok, "{err}");
    assert!(out.contains("PREPARE-SUCCESS"), "{out}");
    let urls = urls_are_redacted(&err);
    for secret in ["hunter2", "SECRETFROMANNEX"] {
        assert!(!err.contains(secret), "{secret} in the log:\n{err}");
    }
    assert!(urls.iter().any(|u| u == "bkt?<hidden>"), "{urls:?}");
    // The S3 client's requests were logged, without their queries.
    assert!(
        urls.iter().any(|u| u.starts_with("127.0.0.1:")),
        "no request logged: {urls:?}\n{err}"
    );

    // A global ERROR ends the session; its text is logged and repeated as the exit error.
    let (ok, _, err) = converse(
        &env,
        "EXTENSIONS\nERROR see https://oauth2.example/token?refresh_token=SECRETTOKEN and \
         webdav+https://alice:hunter3@dav.example/x\n",
    );
    assert!(!ok, "{err}");
    let urls = urls_are_redacted(&err);
    for secret in ["hunter3", "SECRETTOKEN", "refresh_token"] {
        assert!(!err.contains(secret), "{secret} in the log:\n{err}");
    }
    for url in ["oauth2.example/token?<hidden>", "***@dav.example/x"] {
        assert_eq!(urls.iter().filter(|u| *u == url).count(), 2, "{url}: {err}");
    }
}
