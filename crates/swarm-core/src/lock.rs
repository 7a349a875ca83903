//! Lock records (`docs/spec/locks-v1.md`): who holds a swarm for writing (shared) or for
//! garbage collection (exclusive), and when a record is stale. Pure: the caller supplies the
//! clock and whether a process of its own host still runs.

use serde::{Deserialize, Serialize};

use crate::ids::SwarmId;

pub const FORMAT: u32 = 1;
/// A lock not refreshed for this long is stale.
pub const STALE_SECS: u64 = 30 * 60;
/// How often a holder rewrites its lock.
pub const REFRESH_SECS: u64 = 5 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    Shared,
    Exclusive,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Shared => "shared",
            LockMode::Exclusive => "exclusive",
        }
    }
}

/// The content of a lock object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockRecord {
    pub format: u32,
    pub mode: LockMode,
    pub swarm: SwarmId,
    pub host: String,
    pub pid: u32,
    pub purpose: String,
    /// Unix seconds, the holder's clock.
    pub created: u64,
    pub refreshed: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LockError {
    #[error("not a lock record: {0}")]
    Toml(String),
    #[error("lock record format {0} is not one this build reads ({FORMAT})")]
    Format(u32),
}

impl LockRecord {
    pub fn encode(&self) -> Vec<u8> {
        toml::to_string(self).unwrap_or_default().into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, LockError> {
        let text = std::str::from_utf8(bytes).map_err(|_| LockError::Toml("not UTF-8".into()))?;
        let record: LockRecord =
            toml::from_str(text).map_err(|e| LockError::Toml(e.message().to_owned()))?;
        if record.format != FORMAT {
            return Err(LockError::Format(record.format));
        }
        Ok(record)
    }

    /// Stale at `now` (unix seconds): not refreshed for [`STALE_SECS`], or held by a process of
    /// `host` (the reader's) that `runs` says is gone.
    pub fn is_stale(&self, now: u64, host: &str, runs: impl Fn(u32) -> bool) -> bool {
        now.saturating_sub(self.refreshed) > STALE_SECS || (self.host == host && !runs(self.pid))
    }

    /// "host H, process P, a put since <unix time>" for messages.
    pub fn holder(&self) -> String {
        format!(
            "host {}, process {}, {} ({} lock, started at unix time {})",
            self.host,
            self.pid,
            self.purpose,
            self.mode.as_str(),
            self.created
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record() -> LockRecord {
        LockRecord {
            format: 1,
            mode: LockMode::Shared,
            swarm: SwarmId([0xab; 16]),
            host: "nas".into(),
            pid: 4242,
            purpose: "put".into(),
            created: 1_764_892_800,
            refreshed: 1_764_892_800,
        }
    }

    #[test]
    fn golden_record() {
        let text = String::from_utf8(record().encode()).unwrap();
        assert_eq!(
            text,
            "format = 1\nmode = \"shared\"\nswarm = \"abababababababababababababababab\"\nhost = \"nas\"\npid = 4242\npurpose = \"put\"\ncreated = 1764892800\nrefreshed = 1764892800\n"
        );
        assert_eq!(LockRecord::decode(text.as_bytes()).unwrap(), record());
    }

    #[test]
    fn bad_records_are_refused() {
        assert!(LockRecord::decode(b"\xff").is_err());
        assert!(LockRecord::decode(b"format = 2").is_err());
        let v2 = String::from_utf8(record().encode())
            .unwrap()
            .replace("format = 1", "format = 2");
        assert_eq!(LockRecord::decode(v2.as_bytes()), Err(LockError::Format(2)));
        let extra = format!(
            "{}extra = 1\n",
            String::from_utf8(record().encode()).unwrap()
        );
        assert!(LockRecord::decode(extra.as_bytes()).is_err());
    }

    #[test]
    fn staleness() {
        let r = record();
        let t = r.refreshed;
        assert!(!r.is_stale(t + STALE_SECS, "other", |_| true));
        assert!(r.is_stale(t + STALE_SECS + 1, "other", |_| true));
        // On its own host, a lock of a process that is gone is stale at once.
        assert!(r.is_stale(t, "nas", |_| false));
        assert!(!r.is_stale(t, "nas", |_| true));
        // Another host's process ids mean nothing here.
        assert!(!r.is_stale(t, "other", |_| false));
    }
}
