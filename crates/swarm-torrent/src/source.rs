//! Where a torrent comes from, as the user or git-annex wrote it: a magnet link, an http(s) URL
//! of a `.torrent` file, either behind the `torrent:` prefix, or a local `.torrent` file.
//! Pure: parsing only, nothing here touches the network or the disk
//! (`docs/spec/torrent-sources-v1.md`).
//!
//! librqbit's own magnet parser keeps only `xt`, `tr`, `dn` and `so`; the peers a magnet names
//! (`x.pe`, BEP 9) are parsed here and handed to the session as initial peers.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::error::TorrentError;

/// The prefix that makes any URL a torrent source, for git-annex versions whose built-in
/// bittorrent remote claims plain magnets and `.torrent` URLs first.
pub const PREFIX: &str = "torrent:";

/// The longest source accepted (a magnet with many trackers and peers fits easily).
pub const MAX_SOURCE: usize = 64 * 1024;

/// A torrent source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Magnet(Magnet),
    /// An http or https URL serving a `.torrent` file.
    Url(String),
    /// A `.torrent` file on this machine.
    File(PathBuf),
}

/// A magnet link: what librqbit needs (the link itself) and what it ignores (`x.pe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    /// The link as given (without a `torrent:` prefix); librqbit parses `xt`, `tr`, `dn`, `so`.
    pub link: String,
    /// The v1 info hash, 40 lower-case hex digits.
    pub info_hash: String,
    /// `dn`, when present.
    pub name: Option<String>,
    /// `tr`, in order.
    pub trackers: Vec<String>,
    /// `x.pe`: peers to dial at once, as IP literals with a port.
    pub peers: Vec<SocketAddr>,
}

impl Source {
    /// Parses a URL or a path: `magnet:?...`, `http(s)://...`, `torrent:<any of these>`, or a
    /// path to a `.torrent` file.
    pub fn parse(text: &str) -> Result<Source, TorrentError> {
        let bad = |why: &str| TorrentError::BadSource {
            source_text: shown(text),
            why: why.to_owned(),
        };
        if text.len() > MAX_SOURCE {
            return Err(bad(&format!("longer than {MAX_SOURCE} bytes")));
        }
        if text.chars().any(char::is_control) {
            return Err(bad("contains control characters"));
        }
        let inner = text.strip_prefix(PREFIX).unwrap_or(text);
        if inner.is_empty() {
            return Err(bad("empty"));
        }
        if has_scheme(inner, "magnet:") {
            return Ok(Source::Magnet(Magnet::parse(inner)?));
        }
        if has_scheme(inner, "http://") || has_scheme(inner, "https://") {
            let rest = inner.split_once("://").map(|(_, r)| r).unwrap_or_default();
            if rest.is_empty() || rest.starts_with('/') {
                return Err(bad("no host in the URL"));
            }
            return Ok(Source::Url(inner.to_owned()));
        }
        if let Some((scheme, _)) = inner.split_once(':')
            && scheme.len() > 1
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !inner.contains('/')
        {
            return Err(bad(&format!(
                "`{scheme}:` is not a torrent source (magnet:, http://, https:// or a .torrent file)"
            )));
        }
        Ok(Source::File(PathBuf::from(inner)))
    }

    /// Whether the special remote claims `url` for itself (CLAIMURL): magnets, http(s) URLs
    /// whose path ends in `.torrent`, and anything behind the `torrent:` prefix that parses.
    pub fn claims(url: &str) -> bool {
        if url.starts_with(PREFIX) {
            return matches!(Source::parse(url), Ok(Source::Magnet(_) | Source::Url(_)));
        }
        match Source::parse(url) {
            Ok(Source::Magnet(_)) => true,
            Ok(Source::Url(u)) => url_path(&u).to_ascii_lowercase().ends_with(".torrent"),
            _ => false,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Magnet(m) => f.write_str(&m.link),
            Source::Url(u) => f.write_str(u),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Magnet {
    /// Parses `magnet:?xt=urn:btih:...&tr=...&x.pe=...`. A magnet with only a v2 hash
    /// (`urn:btmh:`) is refused: librqbit downloads through the v1 info hash.
    pub fn parse(link: &str) -> Result<Magnet, TorrentError> {
        let bad = |why: String| TorrentError::BadSource {
            source_text: shown(link),
            why,
        };
        let query = link
            .get("magnet:".len()..)
            .and_then(|r| r.strip_prefix('?'))
            .ok_or_else(|| bad("a magnet link starts with `magnet:?`".into()))?;
        let mut v1 = None;
        let mut v2 = false;
        let mut name = None;
        let mut trackers = Vec::new();
        let mut peers = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v).map_err(|why| bad(format!("parameter `{k}`: {why}")))?;
            match k {
                "xt" => {
                    if let Some(h) = v.strip_prefix("urn:btih:") {
                        let hex = info_hash_hex(h)
                            .ok_or_else(|| bad(format!("`{h}` is not a BitTorrent v1 info hash (40 hex digits or 32 base32 characters)")))?;
                        v1 = Some(hex);
                    } else if v.starts_with("urn:btmh:") {
                        v2 = true;
                    }
                }
                "dn" => name = Some(v),
                "tr" => trackers.push(v),
                "x.pe" => peers.push(parse_peer(&v).map_err(bad)?),
                _ => {}
            }
        }
        let info_hash = match (v1, v2) {
            (Some(h), _) => h,
            (None, true) => return Err(TorrentError::V2Only(shown(link))),
            (None, false) => return Err(bad("no `xt=urn:btih:` info hash".into())),
        };
        Ok(Magnet {
            link: link.to_owned(),
            info_hash,
            name,
            trackers,
            peers,
        })
    }
}

fn has_scheme(text: &str, scheme: &str) -> bool {
    text.get(..scheme.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
}

/// The path of an http(s) URL: without scheme, host, query or fragment.
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    rest.find('/').map(|i| &rest[i..]).unwrap_or_default()
}

/// 40 hex digits, or 32 base32 characters (RFC 4648, as in old magnets), as lower-case hex.
fn info_hash_hex(h: &str) -> Option<String> {
    if h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(h.to_ascii_lowercase());
    }
    if h.len() != 32 {
        return None;
    }
    let mut bits: u64 = 0;
    let mut n = 0;
    let mut out = Vec::with_capacity(20);
    for c in h.bytes() {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        bits = (bits << 5) | u64::from(v);
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push(((bits >> n) & 0xff) as u8);
        }
    }
    Some(hex::encode(out))
}

/// `1.2.3.4:6881` or `[::1]:6881`: peers are dialled as given, so only IP literals.
fn parse_peer(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!(
            "x.pe peer `{text}` is not an IP address with a port (as 127.0.0.2:6881 or [::1]:6881)"
        )
    })
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("a `%` not followed by two hex digits")?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once decoded".to_owned())
}

/// A source shown in an error: one line, at most 200 characters.
fn shown(text: &str) -> String {
    let one: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &one[..i]),
        None => one,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const HASH: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn magnets_keep_their_peers_and_trackers() {
        let link = format!(
            "magnet:?xt=urn:btih:{}&dn=a%20b&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&x.pe=127.0.0.2:6881&x.pe=%5B%3A%3A1%5D%3A7000",
            HASH.to_uppercase()
        );
        let Source::Magnet(m) = Source::parse(&link).unwrap() else {
            panic!("not a magnet")
        };
        assert_eq!(m.info_hash, HASH);
        assert_eq!(m.name.as_deref(), Some("a b"));
        assert_eq!(m.trackers, ["http://127.0.0.1:6969/announce"]);
        assert_eq!(
            m.peers,
            [
                "127.0.0.2:6881".parse::<SocketAddr>().unwrap(),
                "[::1]:7000".parse().unwrap()
            ]
        );
        assert_eq!(m.link, link);
    }

    #[test]
    fn base32_info_hashes_become_hex() {
        // The same 20 bytes as HASH, in RFC 4648 base32.
        let b32 = "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK";
        let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{b32}")).unwrap();
        assert_eq!(m.info_hash, HASH);
    }

    #[test]
    fn v2_only_magnets_are_refused_by_name() {
        let v2 = "magnet:?xt=urn:btmh:1220caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e";
        assert!(matches!(Magnet::parse(v2), Err(TorrentError::V2Only(_))));
        // Hybrid: the v1 hash is used.
        let hybrid = format!("{v2}&xt=urn:btih:{HASH}");
        assert_eq!(Magnet::parse(&hybrid).unwrap().info_hash, HASH);
    }

    #[test]
    fn malformed_magnets_say_what_is_wrong() {
        for (link, says) in [
            ("magnet:", "magnet:?"),
            ("magnet:?dn=x", "no `xt=urn:btih:`"),
            ("magnet:?xt=urn:btih:123", "not a BitTorrent v1 info hash"),
            (
                "magnet:?xt=urn:btih:zz2fe1c06bba254a9dc9f519b335aa7c1367a88a",
                "v1 info hash",
            ),
            (
                "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&x.pe=host:1",
                "not an IP address",
            ),
            (
                "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=%zz",
                "two hex digits",
            ),
        ] {
            let e = Source::parse(link).unwrap_err().to_string();
            assert!(e.contains(says), "{link}: {e}");
        }
    }

    #[test]
    fn claims_magnets_torrent_urls_and_the_prefix() {
        let magnet = format!("magnet:?xt=urn:btih:{HASH}");
        for url in [
            magnet.as_str(),
            "http://127.0.0.1:8000/a/debian.iso.torrent",
            "https://example.org/x.TORRENT?sig=1",
            "torrent:https://example.org/download?id=7",
            &format!("torrent:{magnet}"),
        ] {
            assert!(Source::claims(url), "{url}");
        }
        for url in [
            "https://example.org/debian.iso",
            "http://example.org/torrent?x.torrent",
            "torrent:/tmp/x.torrent",
            "torrent:ftp:x",
            "magnet:?dn=nohash",
            "swarm:abc",
            "",
        ] {
            assert!(!Source::claims(url), "{url}");
        }
    }

    #[test]
    fn files_and_urls() {
        assert_eq!(
            Source::parse("torrent:https://h/x").unwrap(),
            Source::Url("https://h/x".into())
        );
        assert_eq!(
            Source::parse("dir/a.torrent").unwrap(),
            Source::File("dir/a.torrent".into())
        );
        assert!(Source::parse("http:///x").is_err());
        assert!(Source::parse("ftp:x").is_err());
        assert!(Source::parse("torrent:").is_err());
        assert!(Source::parse("a\nb").is_err());
    }
}
