//! A BitTorrent client for one process: a librqbit session with the switches a BitTorrent
//! user expects (DHT on unless asked, LSD and UPnP off unless asked, an explicit listen address,
//! rate limits), shared by every download of the process.
//!
//! Every librqbit default that reaches the internet by itself is decided here: DHT (bootstrap
//! from public routers) only when `Options::dht`, no DHT or session persistence on disk, no
//! LSD multicast, no UPnP. Nothing here prints; progress is read with [`Transfer::progress`].

use std::collections::HashSet;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use librqbit::limits::LimitsConfig;
use librqbit::{
    AddTorrent, AddTorrentOptions, AddTorrentResponse, DhtSessionConfig, ListenerMode,
    ListenerOptions, ManagedTorrent, Session, SessionOptions, SessionPersistenceConfig,
};
use tokio::sync::Mutex;

use crate::error::TorrentError;
use crate::source::Source;

/// How the session behaves. `Default` is what a BitTorrent user expects; tests turn DHT off.
#[derive(Debug, Clone)]
pub struct Options {
    /// Mainline DHT (BEP 5): finds peers without trackers; bootstraps from public routers.
    pub dht: bool,
    /// Where to accept peers (TCP). `None`: no listener (download only, by dialling out).
    pub listen: Option<SocketAddr>,
    /// UPnP port forwarding of the listen port.
    pub upnp: bool,
    /// Local service discovery (BEP 14, multicast on the LAN).
    pub lsd: bool,
    /// Bytes per second, for the whole session.
    pub upload_limit: Option<NonZeroU32>,
    pub download_limit: Option<NonZeroU32>,
    /// How long a magnet's metadata (or a .torrent URL) may take to arrive.
    pub metadata_timeout: Duration,
    /// How long a download may go without a byte of progress before it fails.
    pub stall_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dht: true,
            listen: Some(SocketAddr::from(([0, 0, 0, 0], 0))),
            upnp: false,
            lsd: false,
            upload_limit: None,
            download_limit: None,
            metadata_timeout: Duration::from_secs(120),
            stall_timeout: Duration::from_secs(300),
        }
    }
}

/// One file of a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorrentFile {
    /// Its index in the torrent (librqbit's file id, BEP 3 order).
    pub index: usize,
    /// Relative, every component a plain name (checked).
    pub path: PathBuf,
    pub len: u64,
    /// A BEP 47 padding file: never worth downloading or showing.
    pub padding: bool,
}

/// What a torrent holds, and what is needed to download it without asking again.
#[derive(Debug, Clone)]
pub struct Metainfo {
    /// 40 lower-case hex digits.
    pub info_hash: String,
    pub name: String,
    pub files: Vec<TorrentFile>,
    pub piece_length: u32,
    /// The .torrent file (for a magnet: made from the metadata and the magnet's trackers).
    pub torrent: Bytes,
    /// Peers to dial at once: a magnet's `x.pe`, and those seen while fetching metadata.
    pub peers: Vec<SocketAddr>,
}

impl Metainfo {
    /// The files worth a user's attention (padding files left out).
    pub fn real_files(&self) -> impl Iterator<Item = &TorrentFile> {
        self.files.iter().filter(|f| !f.padding)
    }

    /// Whether the content is a directory of files rather than one file.
    pub fn is_multi_file(&self) -> bool {
        self.real_files().count() != 1
    }

    pub fn file(&self, index: usize) -> Result<&TorrentFile, TorrentError> {
        self.files.get(index).ok_or(TorrentError::NoSuchIndex {
            name: self.name.clone(),
            index,
            count: self.files.len(),
        })
    }

    /// The file whose path (inside the torrent) is `path`.
    pub fn file_named(&self, path: &str) -> Result<&TorrentFile, TorrentError> {
        let wanted = Path::new(path);
        self.real_files()
            .find(|f| f.path == wanted)
            .ok_or_else(|| TorrentError::NoSuchFile {
                name: self.name.clone(),
                path: path.to_owned(),
            })
    }

    pub fn total_len(&self) -> u64 {
        self.real_files().map(|f| f.len).sum()
    }
}

/// A process's BitTorrent session.
pub struct Client {
    session: Arc<Session>,
    options: Options,
    /// Where librqbit keeps fastresume bitfields, in a session started for seeding.
    resume: Option<PathBuf>,
    /// Adding a torrent and widening its file selection happen one at a time.
    adding: Mutex<()>,
}

impl Client {
    /// Starts the session. `scratch` is librqbit's default output folder: never written to,
    /// since every download names its own folder.
    pub async fn start(options: Options, scratch: &Path) -> Result<Client, TorrentError> {
        Client::start_inner(options, scratch, None).await
    }

    /// Starts a session for seeding content that is not in files ([`Client::seed`]):
    /// librqbit's fastresume state is kept under `scratch/resume` (create `scratch` fresh:
    /// torrents a previous session left there would be added again).
    pub async fn start_seeding(options: Options, scratch: &Path) -> Result<Client, TorrentError> {
        let resume = scratch.join("resume");
        std::fs::create_dir_all(&resume).map_err(|e| TorrentError::Io {
            what: format!("cannot create {}", resume.display()),
            why: e,
        })?;
        Client::start_inner(options, scratch, Some(resume)).await
    }

    async fn start_inner(
        options: Options,
        scratch: &Path,
        resume: Option<PathBuf>,
    ) -> Result<Client, TorrentError> {
        // librqbit's rustls brings aws-lc-rs beside the ring the rest of the build uses: with
        // two providers compiled in, rustls needs one installed (an earlier install stays).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dht = options.dht.then(|| DhtSessionConfig {
            persistence: None,
            ..Default::default()
        });
        let listen = options
            .listen
            .map(|addr| -> Result<ListenerOptions, TorrentError> {
                // librqbit announces no port for a loopback listener (and trackers then hand
                // out its default, 4240): the port is named, picked here when 0.
                let (addr, announce_port) = if addr.ip().is_loopback() {
                    let addr = if addr.port() == 0 {
                        free_port(addr)?
                    } else {
                        addr
                    };
                    (addr, Some(addr.port()))
                } else {
                    (addr, None)
                };
                Ok(ListenerOptions {
                    mode: ListenerMode::TcpOnly,
                    listen_addr: addr,
                    announce_port,
                    enable_upnp_port_forwarding: options.upnp,
                    ipv4_only: addr.is_ipv4(),
                    ..Default::default()
                })
            })
            .transpose()?;
        let opts = SessionOptions {
            dht,
            listen,
            fastresume: resume.is_some(),
            persistence: resume.as_ref().map(|dir| SessionPersistenceConfig::Json {
                folder: Some(dir.clone()),
            }),
            disable_local_service_discovery: !options.lsd,
            ratelimits: LimitsConfig {
                upload_bps: options.upload_limit,
                download_bps: options.download_limit,
            },
            // An IPv4 listener says nothing of peers: IPv6 ones may still be dialled (and the
            // DHT, when on, is dual-stack).
            ipv4_only: false,
            ..Default::default()
        };
        let session = Session::new_with_opts(scratch.to_owned(), opts)
            .await
            .map_err(|e| TorrentError::Session(format!("{e:#}")))?;
        Ok(Client {
            session,
            options,
            resume,
            adding: Mutex::new(()),
        })
    }

    pub(crate) fn resume_dir(&self) -> Option<&Path> {
        self.resume.as_deref()
    }

    pub(crate) fn session(&self) -> Arc<Session> {
        self.session.clone()
    }

    /// Where peers can reach this session, when it listens.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.session.listen_addr()
    }

    /// Reads what `source` holds: a local file at once, a URL or a magnet's metadata from the
    /// network within `metadata_timeout`.
    pub async fn metainfo(&self, source: &Source) -> Result<Metainfo, TorrentError> {
        let (add, peers) = match source {
            Source::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|e| TorrentError::Read {
                        path: path.clone(),
                        source: e,
                    })?;
                check_not_v2_only(&bytes, &path.display().to_string())?;
                (AddTorrent::from_bytes(bytes), Vec::new())
            }
            Source::Url(url) => (AddTorrent::from_url(url.clone()), Vec::new()),
            Source::Magnet(m) => (AddTorrent::from_url(m.link.clone()), m.peers.clone()),
        };
        let opts = AddTorrentOptions {
            list_only: true,
            initial_peers: (!peers.is_empty()).then(|| peers.clone()),
            ..Default::default()
        };
        let after = self.options.metadata_timeout;
        let listed = tokio::time::timeout(after, self.session.add_torrent(add, Some(opts)))
            .await
            .map_err(|_| TorrentError::MetadataTimeout {
                source_text: source.to_string(),
                after,
            })?;
        let listed = match listed {
            Ok(AddTorrentResponse::ListOnly(l)) => l,
            Ok(_) => return Err(TorrentError::Engine("listing started a download".into())),
            Err(e) => {
                return Err(match source {
                    Source::File(p) => TorrentError::BadTorrent {
                        what: p.display().to_string(),
                        why: format!("{e:#}"),
                    },
                    _ => TorrentError::engine(e),
                });
            }
        };
        let name = listed
            .info
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|| "torrent-content".into());
        let mut files = Vec::new();
        for (index, fd) in listed.info.iter_file_details().enumerate() {
            let path = fd.filename.to_pathbuf();
            let safe = !path.as_os_str().is_empty()
                && path.components().all(|c| matches!(c, Component::Normal(_)));
            if !safe {
                return Err(TorrentError::UnsafePath {
                    name,
                    path: path.display().to_string(),
                });
            }
            files.push(TorrentFile {
                index,
                path,
                len: fd.len,
                padding: fd.attrs().padding,
            });
        }
        let mut all_peers = peers;
        all_peers.extend(listed.seen_peers.iter().copied());
        all_peers.sort();
        all_peers.dedup();
        Ok(Metainfo {
            info_hash: listed.info_hash.as_string(),
            name,
            files,
            piece_length: listed.info.lengths().default_piece_length(),
            torrent: listed.torrent_bytes,
            peers: all_peers,
        })
    }

    /// Downloads the files `only` of `meta` into `dir` (files at `dir/<path in the torrent>`),
    /// keeping what `dir` already holds that checks out (resumption: every piece already there
    /// is hashed first and not fetched again). Adding a torrent this session already has widens
    /// its selection.
    pub async fn download(
        &self,
        meta: &Metainfo,
        dir: &Path,
        only: &[usize],
    ) -> Result<Transfer, TorrentError> {
        for &i in only {
            meta.file(i)?;
        }
        let _one = self.adding.lock().await;
        let opts = AddTorrentOptions {
            output_folder: Some(dir.to_string_lossy().into_owned()),
            only_files: Some(only.to_vec()),
            overwrite: true,
            initial_peers: (!meta.peers.is_empty()).then(|| meta.peers.clone()),
            ..Default::default()
        };
        let added = self
            .session
            .add_torrent(AddTorrent::from_bytes(meta.torrent.clone()), Some(opts))
            .await
            .map_err(TorrentError::engine)?;
        let handle = match added {
            AddTorrentResponse::Added(_, h) => h,
            AddTorrentResponse::AlreadyManaged(_, h) => {
                if h.output_folder() != dir {
                    return Err(TorrentError::Engine(format!(
                        "{}: already being downloaded into {}",
                        meta.name,
                        h.output_folder().display()
                    )));
                }
                h.wait_until_initialized()
                    .await
                    .map_err(TorrentError::engine)?;
                let mut wanted: HashSet<usize> =
                    h.only_files().unwrap_or_default().into_iter().collect();
                let before = wanted.len();
                wanted.extend(only.iter().copied());
                if wanted.len() != before {
                    self.session
                        .update_only_files(&h, &wanted)
                        .await
                        .map_err(TorrentError::engine)?;
                }
                h
            }
            AddTorrentResponse::ListOnly(_) => {
                return Err(TorrentError::Engine("download answered a listing".into()));
            }
        };
        Ok(Transfer {
            session: self.session.clone(),
            handle,
            name: meta.name.clone(),
            files: only
                .iter()
                .filter_map(|&i| meta.files.get(i).map(|f| (i, f.len)))
                .collect(),
            stall_timeout: self.options.stall_timeout,
        })
    }

    /// Stops every torrent and the listener.
    pub async fn stop(&self) {
        self.session.stop().await;
    }
}

/// One download in progress: some files of one torrent.
pub struct Transfer {
    session: Arc<Session>,
    handle: Arc<ManagedTorrent>,
    name: String,
    /// (index, length) of the files this transfer waits for.
    files: Vec<(usize, u64)>,
    stall_timeout: Duration,
}

/// A moment of a transfer, for bars and PROGRESS lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Bytes of the transfer's files held and checked.
    pub done: u64,
    pub total: u64,
    /// Bytes per second, the whole torrent.
    pub download_speed: u64,
    pub upload_speed: u64,
    pub uploaded: u64,
    /// Peers connected now, and of those, seeders.
    pub peers: u32,
    pub seeders: u32,
    /// Peer addresses learnt so far (trackers, x.pe, DHT), connected or not.
    pub peers_seen: u32,
    pub eta: Option<Duration>,
    /// Still checking what was already on disk.
    pub checking: bool,
}

impl Transfer {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn progress(&self) -> Progress {
        let stats = self.handle.stats();
        let have = |i: usize| stats.file_progress.get(i).copied().unwrap_or(0);
        let done: u64 = self.files.iter().map(|&(i, len)| have(i).min(len)).sum();
        let total: u64 = self.files.iter().map(|&(_, len)| len).sum();
        let checking = matches!(
            stats.state,
            librqbit::TorrentStatsState::Initializing { .. }
        );
        let mut p = Progress {
            done: if checking { 0 } else { done },
            total,
            checking,
            uploaded: stats.uploaded_bytes,
            ..Default::default()
        };
        if let Some(live) = &stats.live {
            let bps = |mibps: f64| (mibps * 1024.0 * 1024.0) as u64;
            p.download_speed = bps(live.download_speed.mbps);
            p.upload_speed = bps(live.upload_speed.mbps);
            p.peers = live.snapshot.peer_stats.live;
            p.seeders = live.snapshot.peer_stats.live_seeders;
            p.peers_seen = live.snapshot.peer_stats.seen;
            p.eta = total
                .saturating_sub(done)
                .checked_div(p.download_speed)
                .map(Duration::from_secs);
        }
        p
    }

    /// Waits until every file of the transfer is complete, calling `tick` at least every
    /// `every`. Fails when the torrent fails or nothing arrives for the stall timeout.
    pub async fn wait(
        &self,
        every: Duration,
        mut tick: impl FnMut(&Progress),
    ) -> Result<(), TorrentError> {
        let mut last_done = u64::MAX;
        let mut since = Instant::now();
        loop {
            let p = self.progress();
            tick(&p);
            if let Some(e) = self.handle.stats().error {
                return Err(TorrentError::Engine(format!("{}: {e}", self.name)));
            }
            if !p.checking && p.done >= p.total {
                return Ok(());
            }
            if p.done != last_done || p.checking {
                last_done = p.done;
                since = Instant::now();
            } else if since.elapsed() >= self.stall_timeout {
                return Err(TorrentError::Stalled {
                    name: self.name.clone(),
                    after: self.stall_timeout,
                    peers: p.peers as usize,
                    done: p.done,
                    total: p.total,
                });
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Where the torrent's files are written.
    pub fn dir(&self) -> &Path {
        self.handle.output_folder()
    }

    /// Removes the torrent from the session, keeping its files, so they can be moved.
    pub async fn close(self) {
        let id = self.handle.id();
        let _ = self.session.delete(id.into(), false).await;
    }
}

/// A free port at `addr`'s address (taken by the session a moment later).
fn free_port(addr: SocketAddr) -> Result<SocketAddr, TorrentError> {
    std::net::TcpListener::bind(addr)
        .and_then(|l| l.local_addr())
        .map_err(|e| TorrentError::Io {
            what: format!("cannot listen on {addr}"),
            why: e,
        })
}

/// A v2-only .torrent file (BEP 52: `meta version` 2 and no v1 `pieces`) gets its own error
/// instead of librqbit's generic decoding failure.
fn check_not_v2_only(bytes: &[u8], what: &str) -> Result<(), TorrentError> {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    if has(b"12:meta versioni2e") && !has(b"6:pieces") {
        return Err(TorrentError::V2Only(what.to_owned()));
    }
    Ok(())
}
