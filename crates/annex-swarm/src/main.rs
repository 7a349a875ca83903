//! `annex-swarm`: parse arguments, set up logging, run one command, map errors to exit codes.

mod cli;
mod cmd;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    swarm_engine::memory::bound_allocator();
    let cli = cli::Cli::parse();
    let filter = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(|| ScrubbedStderr(Vec::new()))
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(log_filter(filter))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("annex-swarm: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let interrupted = async {
        // If signals cannot be watched, run without Ctrl-C cleanup rather than not at all.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            r = cmd::run(cli) => Some(r),
            () = interrupted => None,
        }
    });
    // Reads abandoned to a hung store may still block pool threads: do not wait for them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    // Dropping the command's future above removed its temporary output, if any.
    let Some(outcome) = outcome else {
        eprintln!("annex-swarm: interrupted");
        return ExitCode::from(130);
    };
    match outcome {
        Ok(code) => code,
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("annex-swarm: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// One log event, written to stderr with every URL's query string hidden when dropped: OpenDAL
/// logs request URLs (in retry warnings, at debug), and some services carry tokens there.
struct ScrubbedStderr(Vec<u8>);

impl std::io::Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ScrubbedStderr {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            swarm_store::remote::scrub_queries(&text).as_bytes(),
        );
    }
}

/// `ANNEX_SWARM_LOG` or the -v level, with OpenDAL's request signer capped at warn whatever was
/// asked: reqsign logs the credentials it loads (keys included) at debug.
fn log_filter(level: &str) -> tracing_subscriber::EnvFilter {
    let asked = std::env::var("ANNEX_SWARM_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| level.to_owned());
    let capped = format!("{asked},reqsign=warn,reqsign_core=warn,reqsign_aws_v4=warn");
    tracing_subscriber::EnvFilter::try_new(&capped)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},reqsign=warn")))
}

/// The error and its causes on one line, skipping a cause its parent already spelled out.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    swarm_core::redact::one_line(&msg)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
