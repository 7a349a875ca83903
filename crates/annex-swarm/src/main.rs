//! `annex-swarm`: parse arguments, set up logging, run one command, map errors to exit codes.

mod cli;
mod cmd;
mod progress;
#[cfg(feature = "torrent")]
mod seeder;
#[cfg(feature = "torrent")]
mod swarm_content;

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
    swarm_engine::logging::init(filter, swarm_engine::logging::Colour::OnTerminal);
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
    let own_signals = cli.command.handles_signals();
    let outcome = runtime.block_on(async {
        if own_signals {
            return Some(cmd::run(cli).await);
        }
        tokio::select! {
            r = cmd::run(cli) => Some(r),
            () = interrupted() => None,
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

/// Resolves on Ctrl-C (SIGINT), SIGTERM or SIGHUP: the command's future is then dropped, which
/// removes what it was building (a get's part file). Signals that cannot be watched are not.
pub async fn interrupted() {
    interrupts().await
}

/// As [`interrupted`], but watching from the call on, not from the first poll: a signal
/// that arrives before the future is awaited is not lost. (Once any part of the process
/// watches a signal, its default action, ending the process, is gone for good.)
pub fn interrupts() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    let mut watched: Vec<Signal> = [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ]
    .into_iter()
    .filter_map(|kind| signal(kind).ok())
    .collect();
    async move {
        std::future::poll_fn(|cx| {
            for s in &mut watched {
                if s.poll_recv(cx).is_ready() {
                    return std::task::Poll::Ready(());
                }
            }
            std::task::Poll::Pending
        })
        .await
    }
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
