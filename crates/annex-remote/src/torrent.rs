//! Torrents as sources of keys (`docs/spec/torrent-sources-v1.md`): CLAIMURL, CHECKURL and
//! TRANSFER RETRIEVE for magnets, `.torrent` URLs and the `torrent:` prefix.
//!
//! One BitTorrent session serves the whole process, started at the first use: every job
//! downloading a file of the same torrent shares it (and its staging directory under
//! `<git dir>/annex/tmp/swarm-torrent/<info hash>/`), so `get -J4` of four files of one torrent
//! adds the torrent once and widens its file selection. A completed file is copied to
//! git-annex's destination and the key's hash checked there; nothing is left at the
//! destination when either fails.
//!
//! Session switches come from `git config` (`annex-swarm.torrent-dht false`,
//! `annex-swarm.torrent-listen ADDR:PORT|none`, `annex-swarm.torrent-upload-limit` and
//! `...-download-limit` as `1MiB/s`, `annex-swarm.torrent-metadata-timeout` and
//! `...-stall-timeout` in seconds), or from the environment, which wins
//! (`ANNEX_SWARM_TORRENT_DHT=0`, `..._LISTEN`, `..._UPLOAD_LIMIT`, `..._DOWNLOAD_LIMIT`,
//! `..._METADATA_TIMEOUT`, `..._STALL_TIMEOUT`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use swarm_core::key::Key;
use swarm_torrent::{Client, Metainfo, Options, Source, TorrentFile};
use tokio::sync::{Mutex, OnceCell};

use crate::protocol::{Message, UrlFile};
use crate::session::JobIo;

/// How often PROGRESS goes out while a file downloads (git-annex's stall detection wants at
/// least one a second).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// The process's torrents.
#[derive(Default)]
pub struct Torrents {
    client: OnceCell<Client>,
    git_dir: OnceCell<PathBuf>,
    /// Metadata by source (without fragment), fetched once per process.
    metas: Mutex<HashMap<String, Arc<Metainfo>>>,
}

/// A claimed URL split into its torrent and the file it names.
struct Located {
    source: Source,
    /// The source as text, without fragment: the cache key.
    text: String,
    /// The path after `#`, percent-decoded.
    file: Option<String>,
}

impl Torrents {
    /// CLAIMURL.
    pub fn claims(url: &str) -> bool {
        let (source, _) = split_fragment(url);
        Source::claims(source)
    }

    /// CHECKURL: one file, or every real file of a multi-file torrent.
    pub async fn check_url(&self, url: &str) -> Result<Message, String> {
        let located = locate(url)?;
        let meta = self.metainfo(&located).await?;
        if let Some(path) = &located.file {
            let f = meta.file_named(path).map_err(|e| e.to_string())?;
            return Ok(Message::CheckUrlContents(Some(f.len), file_name(&meta, f)));
        }
        if !meta.is_multi_file() {
            let f = meta
                .real_files()
                .next()
                .ok_or_else(|| format!("{}: the torrent has no files", meta.name))?;
            return Ok(Message::CheckUrlContents(Some(f.len), file_name(&meta, f)));
        }
        let files = meta
            .real_files()
            .map(|f| UrlFile {
                url: format!(
                    "{}#{}",
                    located.text,
                    encode_path(&f.path.to_string_lossy())
                ),
                size: Some(f.len),
                name: file_name(&meta, f),
            })
            .collect();
        Ok(Message::CheckUrlMulti(files))
    }

    /// Downloads `key` from the first of `urls` (claimed ones) that works, into `dest`.
    pub async fn retrieve(
        &self,
        key: &Key,
        urls: &[String],
        dest: &Path,
        io: &mut JobIo,
    ) -> Result<(), String> {
        let mut failures = Vec::new();
        for url in urls {
            match self.retrieve_from(key, url, dest, io).await {
                Ok(()) => return Ok(()),
                Err(why) => {
                    let _ = std::fs::remove_file(dest);
                    failures.push(why);
                }
            }
        }
        Err(failures.join("; "))
    }

    async fn retrieve_from(
        &self,
        key: &Key,
        url: &str,
        dest: &Path,
        io: &mut JobIo,
    ) -> Result<(), String> {
        let located = locate(url)?;
        let meta = self.metainfo(&located).await?;
        let file = match &located.file {
            Some(path) => meta.file_named(path).map_err(|e| e.to_string())?.clone(),
            None if !meta.is_multi_file() => meta
                .real_files()
                .next()
                .cloned()
                .ok_or_else(|| format!("{}: the torrent has no files", meta.name))?,
            None => {
                return Err(format!(
                    "{url}: a torrent of {} files, and the URL names none (`#path`)",
                    meta.real_files().count()
                ));
            }
        };
        if let Some(size) = key.size()
            && size != file.len
        {
            return Err(format!(
                "{}: file `{}` has {} bytes, the key {size}",
                meta.name,
                file.path.display(),
                file.len
            ));
        }
        let staging = self
            .git_dir(io)
            .await?
            .join("annex/tmp/swarm-torrent")
            .join(&meta.info_hash);
        let client = self.client().await?;
        let transfer = client
            .download(&meta, &staging, &[file.index])
            .await
            .map_err(|e| e.to_string())?;
        let progress = io.sender();
        transfer
            .wait(PROGRESS_EVERY, |p| {
                // Every tick, even without news: git-annex watches for stalls.
                progress.send(Message::Progress(p.done));
            })
            .await
            .map_err(|e| e.to_string())?;
        let from = staging.join(&file.path);
        deliver(key, &from, dest).await
    }

    async fn metainfo(&self, located: &Located) -> Result<Arc<Metainfo>, String> {
        let mut metas = self.metas.lock().await;
        if let Some(m) = metas.get(&located.text) {
            return Ok(m.clone());
        }
        let client = self.client().await?;
        let meta = Arc::new(
            client
                .metainfo(&located.source)
                .await
                .map_err(|e| e.to_string())?,
        );
        metas.insert(located.text.clone(), meta.clone());
        Ok(meta)
    }

    async fn client(&self) -> Result<&Client, String> {
        self.client
            .get_or_try_init(|| async {
                let options = options_from_env()?;
                let scratch = std::env::temp_dir();
                Client::start(options, &scratch)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
    }

    async fn git_dir(&self, io: &mut JobIo) -> Result<PathBuf, String> {
        self.git_dir
            .get_or_try_init(|| async {
                let dir = io
                    .ask(Message::GetGitDir)
                    .await
                    .map_err(|e| e.to_string())?;
                if dir.is_empty() {
                    return Err("git-annex answered GETGITDIR with nothing".to_owned());
                }
                Ok(PathBuf::from(dir))
            })
            .await
            .cloned()
    }

    /// Ends the session (peers are told, the listener closes).
    pub async fn close(&self) {
        if let Some(c) = self.client.get() {
            c.stop().await;
        }
    }
}

/// Copies the completed file to `dest`, checking the key's hash over the bytes written; on any
/// failure `dest` is removed.
async fn deliver(key: &Key, from: &Path, dest: &Path) -> Result<(), String> {
    let (key, from, dest) = (key.clone(), from.to_owned(), dest.to_owned());
    let outcome = tokio::task::spawn_blocking(move || {
        let done = copy_and_check(&key, &from, &dest);
        if done.is_err() {
            let _ = std::fs::remove_file(&dest);
        }
        done
    })
    .await;
    match outcome {
        Ok(r) => r,
        Err(e) => Err(format!("copying the downloaded file failed: {e}")),
    }
}

/// One pass: each block read from the download is hashed and written to `dest` (the bytes
/// hashed are the bytes written, so the copy is never read back).
fn copy_and_check(key: &Key, from: &Path, dest: &Path) -> Result<(), String> {
    let mut src =
        std::fs::File::open(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    let mut out =
        std::fs::File::create(dest).map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    let mut hasher = key.hasher();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src
            .read(&mut buf)
            .map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        if n == 0 {
            break;
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&buf[..n]);
        }
        out.write_all(&buf[..n])
            .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    }
    let Some(hasher) = hasher else {
        return Ok(());
    };
    key.check_digest(&hasher.finalize())
        .map_err(|e| format!("the torrent's file does not match the key: {e}"))
}

/// One session switch: its environment variable (wins, per invocation) and its `git config`
/// key (the repository's, or the user's), e.g. `ANNEX_SWARM_TORRENT_DHT` and
/// `annex-swarm.torrent-dht`.
struct Switch {
    env: &'static str,
    git: &'static str,
}

const DHT: Switch = Switch {
    env: "ANNEX_SWARM_TORRENT_DHT",
    git: "annex-swarm.torrent-dht",
};
const LISTEN: Switch = Switch {
    env: "ANNEX_SWARM_TORRENT_LISTEN",
    git: "annex-swarm.torrent-listen",
};
const UPLOAD_LIMIT: Switch = Switch {
    env: "ANNEX_SWARM_TORRENT_UPLOAD_LIMIT",
    git: "annex-swarm.torrent-upload-limit",
};
const DOWNLOAD_LIMIT: Switch = Switch {
    env: "ANNEX_SWARM_TORRENT_DOWNLOAD_LIMIT",
    git: "annex-swarm.torrent-download-limit",
};
const METADATA_TIMEOUT: Switch = Switch {
    env: "ANNEX_SWARM_TORRENT_METADATA_TIMEOUT",
    git: "annex-swarm.torrent-metadata-timeout",
};
const STALL_TIMEOUT: Switch = Switch {
    env: "ANNEX_SWARM_TORRENT_STALL_TIMEOUT",
    git: "annex-swarm.torrent-stall-timeout",
};

impl Switch {
    /// The value set, and where (`NAME=value` for messages): the environment first, then
    /// `git config` run where git-annex runs the remote (the repository).
    fn get(&self) -> Option<(String, String)> {
        if let Some(v) = std::env::var(self.env).ok().filter(|v| !v.is_empty()) {
            return Some((format!("{}={v}", self.env), v));
        }
        let out = std::process::Command::new("git")
            .args(["config", "--get", self.git])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (!v.is_empty()).then(|| (format!("git config {}={v}", self.git), v))
    }
}

/// The session's options from the switches (`Options::default()` where none is set).
fn options_from_env() -> Result<Options, String> {
    let mut o = Options::default();
    if let Some((at, v)) = DHT.get() {
        o.dht = match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => return Err(format!("{at}: expected true or false")),
        };
    }
    if let Some((at, v)) = LISTEN.get() {
        o.listen = match v.as_str() {
            "none" => None,
            a => Some(
                a.parse()
                    .map_err(|_| format!("{at}: expected ADDRESS:PORT or none"))?,
            ),
        };
    }
    let secs = |(at, v): (String, String)| {
        v.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("{at}: expected seconds"))
    };
    let rate = |(at, v): (String, String)| {
        v.parse::<swarm_core::units::Rate>()
            .ok()
            .and_then(|r| u32::try_from(r.bytes_per_sec()).ok())
            .and_then(std::num::NonZeroU32::new)
            .ok_or_else(|| format!("{at}: expected a rate as 1MiB/s, below 4 GiB/s"))
    };
    if let Some(set) = UPLOAD_LIMIT.get() {
        o.upload_limit = Some(rate(set)?);
    }
    if let Some(set) = DOWNLOAD_LIMIT.get() {
        o.download_limit = Some(rate(set)?);
    }
    if let Some(set) = METADATA_TIMEOUT.get() {
        o.metadata_timeout = secs(set)?;
    }
    if let Some(set) = STALL_TIMEOUT.get() {
        o.stall_timeout = secs(set)?;
    }
    Ok(o)
}

/// `SOURCE#PATH` into the source and the decoded path. A magnet's own text never holds `#`
/// (it would be percent-encoded), nor does a URL's query.
fn split_fragment(url: &str) -> (&str, Option<&str>) {
    match url.split_once('#') {
        Some((s, f)) => (s, Some(f)),
        None => (url, None),
    }
}

fn locate(url: &str) -> Result<Located, String> {
    let (text, fragment) = split_fragment(url);
    // Parsed first: its error says what is wrong with a magnet.
    let source = Source::parse(text).map_err(|e| e.to_string())?;
    if !Source::claims(text) {
        return Err(format!("`{text}` is not a torrent URL this remote takes"));
    }
    let file = fragment
        .map(|f| decode_path(f).ok_or_else(|| format!("`#{f}`: bad percent-encoding")))
        .transpose()?;
    Ok(Located {
        source,
        text: text.to_owned(),
        file,
    })
}

/// The name git-annex gives the file: the torrent's name, then its path inside a multi-file
/// torrent.
fn file_name(meta: &Metainfo, f: &TorrentFile) -> String {
    let path = f.path.to_string_lossy();
    if meta.is_multi_file() {
        format!("{}/{path}", meta.name)
    } else {
        path.into_owned()
    }
}

/// A path inside a torrent as a URL fragment: bytes other than unreserved ones and `/` are
/// percent-encoded (so no space, `#` or `%` survives raw).
fn encode_path(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode_path(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fragments_name_files_with_any_bytes() {
        for path in ["a.bin", "sub dir/b#1%.txt", "é/ü"] {
            let enc = encode_path(path);
            assert!(!enc.contains([' ', '#']), "{enc}");
            assert_eq!(decode_path(&enc).unwrap(), path);
        }
        let magnet = "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
        assert!(Torrents::claims(&format!("{magnet}#sub/a.bin")));
        let l = locate(&format!("torrent:{magnet}#sub%20dir/a.bin")).unwrap();
        assert_eq!(l.file.as_deref(), Some("sub dir/a.bin"));
        assert_eq!(l.text, format!("torrent:{magnet}"));
        assert!(locate("https://example.org/file.iso#x").is_err());
    }
}
