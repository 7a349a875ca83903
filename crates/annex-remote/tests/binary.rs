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
