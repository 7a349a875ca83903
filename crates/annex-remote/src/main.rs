//! `git-annex-remote-swarm`: started by git-annex, speaks the external special remote protocol
//! on stdin/stdout until git-annex closes it. Logs go to stderr, secrets hidden
//! (`ANNEX_SWARM_LOG` takes a tracing filter; default `warn`).
//!
//! Testing knobs: `ANNEX_SWARM_REMOTE_VERSION=2` sends `VERSION 2` (default 1, which every
//! git-annex accepts); `ANNEX_SWARM_REMOTE_ASYNC=0` declines ASYNC (one job per process).

use std::process::ExitCode;
use std::sync::Arc;

use annex_remote::{Options, Remote};
use anyhow::{Context, Result, bail};
use tokio::io::BufReader;

fn main() -> ExitCode {
    swarm_engine::memory::bound_allocator();
    swarm_engine::logging::init("warn", swarm_engine::logging::Colour::Never);
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            // It may quote git-annex's own ERROR text, which nothing else has redacted.
            let msg = swarm_core::redact::text(&msg.join(": "));
            eprintln!("git-annex-remote-swarm: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let options = options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let input = BufReader::new(tokio::io::stdin());
        let output = tokio::io::stdout();
        let remote = Arc::new(Remote::new());
        let outcome = annex_remote::run(input, output, remote.clone(), options).await;
        // Lets a gc run at once rather than when our write lock would have lingered.
        remote.close().await;
        outcome
    })?;
    // Blocking work of jobs cancelled at exit (a put's staged write) is not waited for.
    runtime.shutdown_background();
    Ok(())
}

fn options() -> Result<Options> {
    let mut options = Options::default();
    if let Ok(v) = std::env::var("ANNEX_SWARM_REMOTE_VERSION") {
        options.version = match v.as_str() {
            "1" => 1,
            "2" => 2,
            other => bail!("ANNEX_SWARM_REMOTE_VERSION={other}: expected 1 or 2"),
        };
    }
    if let Ok(v) = std::env::var("ANNEX_SWARM_REMOTE_ASYNC") {
        options.allow_async = match v.as_str() {
            "1" | "yes" => true,
            "0" | "no" => false,
            other => bail!("ANNEX_SWARM_REMOTE_ASYNC={other}: expected 0 or 1"),
        };
    }
    Ok(options)
}
