//! Byte sizes written by people: `4MiB`, `256 KiB`, `1.5GB`, `1048576`.
//!
//! Binary units (KiB, MiB, GiB, TiB) are powers of 1024, decimal ones (kB/KB, MB, GB, TB) powers
//! of 1000, and a bare number is bytes. Used by the swarm definition for shard sizes, thresholds,
//! quotas and (later) rates.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A number of bytes, parsed from and printed to human units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad size `{input}`: {reason} (examples: 4MiB, 256KiB, 1GB, 1048576)")]
pub struct SizeError {
    input: String,
    reason: &'static str,
}

const UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("k", 1000),
    ("kb", 1000),
    ("m", 1_000_000),
    ("mb", 1_000_000),
    ("g", 1_000_000_000),
    ("gb", 1_000_000_000),
    ("t", 1_000_000_000_000),
    ("tb", 1_000_000_000_000),
];

impl FromStr for ByteSize {
    type Err = SizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| SizeError {
            input: s.to_owned(),
            reason,
        };
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        if num.is_empty() {
            return Err(err("no number"));
        }
        let unit = unit.trim().to_ascii_lowercase();
        let mult = if unit.is_empty() {
            1
        } else {
            UNITS
                .iter()
                .find(|(u, _)| *u == unit)
                .map(|(_, m)| *m)
                .ok_or_else(|| err("unknown unit"))?
        };
        if let Ok(n) = num.parse::<u64>() {
            return n
                .checked_mul(mult)
                .map(ByteSize)
                .ok_or_else(|| err("too large"));
        }
        let f: f64 = num.parse().map_err(|_| err("not a number"))?;
        let v = f * mult as f64;
        if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
            return Err(err("too large"));
        }
        if v.fract() != 0.0 {
            return Err(err("not a whole number of bytes"));
        }
        Ok(ByteSize(v as u64))
    }
}

impl fmt::Display for ByteSize {
    /// Prints the exact value in the largest binary unit that divides it (`4MiB`, `1536KiB`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, mult) in [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if self.0 >= mult && self.0.is_multiple_of(mult) {
                return write!(f, "{}{}", self.0 / mult, name);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// A size or rate as written in a document: a bare number of bytes, or text with a unit.
#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    N(u64),
    S(String),
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A transfer rate in bytes per second, written `20MiB/s` (the `/s` is optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(pub u64);

impl Rate {
    pub fn bytes_per_sec(self) -> u64 {
        self.0
    }
}

impl FromStr for Rate {
    type Err = SizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let t = t.strip_suffix("/s").unwrap_or(t);
        let n: ByteSize = t.parse()?;
        if n.0 == 0 {
            return Err(SizeError {
                input: s.to_owned(),
                reason: "a rate must be above zero",
            });
        }
        Ok(Rate(n.0))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", ByteSize(self.0))
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Raw::deserialize(d)? {
            Raw::N(0) => Err(serde::de::Error::custom("a rate must be above zero")),
            Raw::N(n) => Ok(Rate(n)),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!("20MiB/s".parse::<Rate>().unwrap().0, 20 << 20);
        assert_eq!("5 MB/s".parse::<Rate>().unwrap().0, 5_000_000);
        assert_eq!("1024".parse::<Rate>().unwrap().0, 1024);
        assert_eq!(Rate(20 << 20).to_string(), "20MiB/s");
        for bad in ["0/s", "fast", "/s", "-1MiB/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_units() {
        assert_eq!("4MiB".parse::<ByteSize>().unwrap().0, 4 << 20);
        assert_eq!("256 KiB".parse::<ByteSize>().unwrap().0, 256 << 10);
        assert_eq!("1.5GiB".parse::<ByteSize>().unwrap().0, 3 << 29);
        assert_eq!("20MB".parse::<ByteSize>().unwrap().0, 20_000_000);
        assert_eq!("123".parse::<ByteSize>().unwrap().0, 123);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "MiB", "4 parsecs", "-1", "0.5", "99999999999TiB"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
    }

    #[test]
    fn display_round_trips() {
        for v in [0u64, 1, 1023, 1024, 1536 << 10, 4 << 20, 3 << 40] {
            let s = ByteSize(v).to_string();
            assert_eq!(s.parse::<ByteSize>().unwrap().0, v, "{s}");
        }
    }
}
