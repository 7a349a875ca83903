//! The process's log output, set up once by each binary before anything logs.
//!
//! Events go to stderr, one write per event, each passed through [`swarm_core::redact::text`]
//! first: OpenDAL logs request URLs (in retry warnings, at debug), some services carry tokens in
//! their query strings, and an error may quote a URL with `user:password@`. reqsign (OpenDAL's
//! request signer) logs the credentials it loads, keys included, at debug, so it is never let
//! below warn, whatever was asked. Must never write to stdout: the special remote's stdout is its
//! protocol.

use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{DefaultFields, Format};
use tracing_subscriber::fmt::{MakeWriter, SubscriberBuilder};

/// The environment variable that takes a tracing filter (`debug`, `swarm_engine=trace,warn`,
/// ...) in place of the binary's default level.
pub const LOG_VAR: &str = "ANNEX_SWARM_LOG";

/// Log targets held at warn or above whatever the filter asks.
const CAPPED_AT_WARN: [&str; 3] = ["reqsign", "reqsign_core", "reqsign_aws_v4"];

/// Whether log lines may be coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Never,
    /// When stderr is a terminal.
    OnTerminal,
}

/// Sends this process's log events to stderr, secrets hidden, filtered by [`LOG_VAR`] or else
/// `default_level` (`warn`, `info`, `debug`, ...). A second call changes nothing.
pub fn init(default_level: &str, colour: Colour) {
    let ansi = colour == Colour::OnTerminal && std::io::stderr().is_terminal();
    let asked = std::env::var(LOG_VAR).ok();
    let builder = builder(filter(asked.as_deref(), default_level), ansi, || {
        Redacted::new(std::io::stderr())
    });
    // Fails only when a logger is already set; that one stays.
    let _ = builder.try_init();
}

fn builder<M>(
    filter: EnvFilter,
    ansi: bool,
    make_writer: M,
) -> SubscriberBuilder<DefaultFields, Format, EnvFilter, M>
where
    M: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(make_writer)
        .with_ansi(ansi)
}

/// The filter asked for (ignored when blank or malformed) or the default level, then the caps.
fn filter(asked: Option<&str>, default_level: &str) -> EnvFilter {
    let asked = asked.filter(|a| !a.trim().is_empty());
    asked
        .and_then(|a| EnvFilter::try_new(directives(a)).ok())
        .unwrap_or_else(|| EnvFilter::new(directives(default_level)))
}

fn directives(asked: &str) -> String {
    let mut all = asked.to_owned();
    for target in CAPPED_AT_WARN {
        all.push_str(&format!(",{target}=warn"));
    }
    all
}

/// One log event, collected and then written to `sink` with its secrets hidden when dropped
/// (the formatter writes an event in pieces; a URL may span two of them).
struct Redacted<W: Write> {
    event: Vec<u8>,
    sink: W,
}

impl<W: Write> Redacted<W> {
    fn new(sink: W) -> Self {
        Redacted {
            event: Vec::new(),
            sink,
        }
    }
}

impl<W: Write> Write for Redacted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.event.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for Redacted<W> {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.event);
        // Nowhere to report a failed log write.
        let _ = self
            .sink
            .write_all(swarm_core::redact::text(&text).as_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `log` writes through a subscriber set up as [`init`] does with `asked`.
    fn logged(asked: Option<&str>, log: impl FnOnce()) -> String {
        let out = Shared::default();
        let sink = out.clone();
        let subscriber = builder(filter(asked, "warn"), false, move || {
            Redacted::new(sink.clone())
        })
        .finish();
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn every_line_is_written_without_secrets() {
        let out = logged(Some("debug"), || {
            tracing::warn!("retrying https://oauth2.example/token?refresh_token=SECRET1");
            tracing::warn!(
                url = "http://user:hunter2@host/x?y=SECRET2",
                "request failed"
            );
            tracing::debug!(endpoint = %"https://u:pw3@h", "debug lines too");
        });
        for secret in ["SECRET1", "hunter2", "SECRET2", "pw3"] {
            assert!(!out.contains(secret), "{secret} in:\n{out}");
        }
        assert!(
            out.contains("https://oauth2.example/token?<hidden>"),
            "{out}"
        );
        assert!(out.contains("http://***@host/x?<hidden>"), "{out}");
        assert!(out.contains("debug lines too"), "{out}");
        assert_eq!(out.lines().count(), 3, "{out}");
    }

    #[test]
    fn the_level_comes_from_the_variable_or_the_default() {
        let log = || {
            tracing::info!("an info line");
            tracing::warn!("a warning");
        };
        for asked in [None, Some(""), Some("  "), Some("not a [valid filter")] {
            let out = logged(asked, log);
            assert!(
                out.contains("a warning") && !out.contains("an info line"),
                "{asked:?}: {out}"
            );
        }
        assert!(logged(Some("info"), log).contains("an info line"));
    }

    #[test]
    fn the_request_signer_stays_at_warn_whatever_is_asked() {
        for asked in ["trace", "debug,reqsign=trace"] {
            let out = logged(Some(asked), || {
                tracing::debug!(target: "reqsign", "loaded AKIDEXAMPLE");
                tracing::debug!(target: "reqsign_core", "loaded AKIDEXAMPLE");
                tracing::trace!(target: "reqsign_aws_v4", "loaded AKIDEXAMPLE");
                tracing::warn!(target: "reqsign", "a signer warning");
            });
            assert!(!out.contains("AKIDEXAMPLE"), "{asked}: {out}");
            assert!(out.contains("a signer warning"), "{asked}: {out}");
        }
    }
}
