//! `annex-swarm seed FILE|KEY...`: swarm content seeded to BitTorrent.
//!
//! For each item: its key (an annexed file's, or the key given), a v1 torrent made by
//! streaming the object from the swarm once (`docs/spec/torrent-seeding-v1.md`), then seeding
//! with pieces read from the stores as peers ask (`crate::swarm_content`). `KEY.torrent` files
//! are written only once every torrent seeds: bad input leaves none behind. Runs until
//! Ctrl-C or SIGTERM, then stops cleanly and reports what it uploaded and read.

use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use swarm_core::key::Key;
use swarm_engine::Swarm;
use swarm_torrent::{Client, TorrentV1};

use crate::cli::SeedArgs;
use crate::seeder::{Seeded, Status};
use crate::swarm_content::SwarmContent;

/// What to seed: a key and the torrent's name.
struct Item {
    key: Key,
    name: String,
}

/// One line of `--json` output.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Event<'a> {
    /// A torrent made and seeding.
    Seeding {
        #[serde(flatten)]
        torrent: Made<'a>,
        listen: Option<SocketAddr>,
    },
    /// A torrent made and written, not seeded (`--no-seed`).
    Made(Made<'a>),
    /// Now and then while seeding, and once at exit (`stopped`).
    Status {
        torrents: Vec<Status>,
    },
    Stopped {
        torrents: Vec<Status>,
    },
}

/// A torrent made: what a `seeding` or `made` line tells of it.
#[derive(Serialize)]
struct Made<'a> {
    key: String,
    name: &'a str,
    info_hash: String,
    size: u64,
    piece_length: u32,
    pieces: usize,
    torrent: &'a Path,
    magnet: &'a str,
    /// Seconds streaming the object to hash its pieces.
    hash_seconds: f64,
}

impl<'a> Made<'a> {
    fn new(
        key: &Key,
        torrent: &'a TorrentV1,
        path: &'a Path,
        magnet: &'a str,
        took: Duration,
    ) -> Self {
        Made {
            key: key.to_string(),
            name: torrent.name(),
            info_hash: torrent.info_hash_hex(),
            size: torrent.length(),
            piece_length: torrent.piece_length(),
            pieces: torrent.piece_count(),
            torrent: path,
            magnet,
            hash_seconds: took.as_secs_f64(),
        }
    }
}

pub async fn run(swarm_path: &Path, args: SeedArgs) -> Result<ExitCode> {
    // Watched from the start: a Ctrl-C while the torrents are made is not lost.
    let stop = crate::interrupts();
    tokio::pin!(stop);
    let items = args.items.iter().map(resolve).collect::<Result<Vec<_>>>()?;
    let options = super::torrent::options(&args.session)?;
    let (swarm, peers) = super::open(swarm_path, false).await?;
    let outcome = seed(&swarm, &items, options, &args, stop).await;
    swarm.close().await;
    if let Some(p) = peers {
        let _ = tokio::time::timeout(Duration::from_millis(500), p.endpoint().close()).await;
    }
    outcome
}

async fn seed(
    swarm: &Swarm,
    items: &[Item],
    options: swarm_torrent::Options,
    args: &SeedArgs,
    mut stop: Pin<&mut impl Future<Output = ()>>,
) -> Result<ExitCode> {
    let made = tokio::select! {
        made = make(swarm, items, args) => made?,
        () = &mut stop => bail!("interrupted before seeding started: nothing written"),
    };
    if args.no_seed {
        return write_only(items, &made.1, args);
    }
    let scratch = tempfile::Builder::new()
        .prefix("annex-swarm-seed.")
        .tempdir()
        .context("cannot make a scratch directory")?;
    let client = Client::start_seeding(options, scratch.path()).await?;
    let (contents, torrents) = made;
    let outcome = serve(&client, items, contents, torrents, args, stop).await;
    client.stop().await;
    outcome
}

/// Each object opened, then hashed into its torrent.
async fn make(
    swarm: &Swarm,
    items: &[Item],
    args: &SeedArgs,
) -> Result<(Vec<SwarmContent>, Vec<(TorrentV1, Duration)>)> {
    // Every object opened first: a key not in the swarm fails before anything is hashed.
    let mut contents = Vec::new();
    for item in items {
        contents.push(crate::seeder::open(swarm, &item.key, args.cache.0).await?);
    }
    let mut torrents = Vec::new();
    for (item, content) in items.iter().zip(&contents) {
        torrents.push(crate::seeder::make(&item.key, content, &item.name).await?);
    }
    Ok((contents, torrents))
}

/// `--no-seed`: the torrents written and their magnets printed (trackers, no peer address: no
/// one seeds them yet), nothing seeded.
fn write_only(
    items: &[Item],
    torrents: &[(TorrentV1, Duration)],
    args: &SeedArgs,
) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.torrent_out)
        .with_context(|| format!("cannot create {}", args.torrent_out.display()))?;
    let mut written = Vec::new();
    for (item, (torrent, took)) in items.iter().zip(torrents) {
        let path = torrent_path(&args.torrent_out, &item.key);
        if let Err(e) = write_atomically(&path, &torrent.torrent_file(&args.trackers)) {
            for p in &written {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
        written.push(path.clone());
        let magnet = torrent.magnet(&args.trackers, &[]);
        if args.json {
            line(&Event::Made(Made::new(
                &item.key, torrent, &path, &magnet, *took,
            )))?;
        } else {
            println!("{magnet}");
            eprintln!(
                "made {} (not seeding); torrent: {}",
                torrent.name(),
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(
    client: &Client,
    items: &[Item],
    contents: Vec<SwarmContent>,
    torrents: Vec<(TorrentV1, Duration)>,
    args: &SeedArgs,
    mut stop: Pin<&mut impl Future<Output = ()>>,
) -> Result<ExitCode> {
    let listen = client.listen_addr();
    let mut seeded: Vec<Seeded> = Vec::new();
    for ((item, content), (torrent, _)) in items.iter().zip(contents).zip(&torrents) {
        let s = crate::seeder::seed(
            client,
            item.key.clone(),
            content,
            torrent.clone(),
            &args.trackers,
        )
        .await?;
        seeded.push(s);
    }
    std::fs::create_dir_all(&args.torrent_out)
        .with_context(|| format!("cannot create {}", args.torrent_out.display()))?;
    let mut written = Vec::new();
    for ((item, s), (_, took)) in items.iter().zip(&seeded).zip(&torrents) {
        let path = torrent_path(&args.torrent_out, &item.key);
        if let Err(e) = write_atomically(&path, &s.file) {
            for p in &written {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
        written.push(path.clone());
        let torrent = &s.torrent;
        if args.json {
            line(&Event::Seeding {
                torrent: Made::new(&item.key, torrent, &path, &s.magnet, *took),
                listen,
            })?;
        } else {
            println!("{}", s.magnet);
            eprintln!(
                "seeding {} ({} bytes, {} pieces of {} KiB) from the swarm; torrent: {}",
                torrent.name(),
                torrent.length(),
                torrent.piece_count(),
                torrent.piece_length() >> 10,
                path.display()
            );
        }
    }
    if !args.json {
        match listen {
            Some(a) => eprintln!("listening on {a}; Ctrl-C stops"),
            None => eprintln!(
                "no listener (--listen none): only peers we dial get pieces; Ctrl-C stops"
            ),
        }
    }

    let every = (args.status_every > 0).then(|| Duration::from_secs(args.status_every));
    let failed = loop {
        let tick = async {
            match every {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut stop => break None,
            () = tick => {
                if args.json {
                    line(&Event::Status { torrents: status(&seeded) })?;
                }
            }
        }
        if let Some(s) = seeded.iter().find(|s| s.seeding.stats().error.is_some()) {
            break s.seeding.stats().error.map(|e| format!("{}: {e}", s.key));
        }
    };
    let last = status(&seeded);
    if args.json {
        line(&Event::Stopped { torrents: last })?;
    } else {
        for (s, st) in seeded.iter().zip(&last) {
            eprintln!(
                "{}: uploaded {} bytes; read {} bytes from the swarm for them",
                s.key, st.uploaded, st.swarm_read
            );
        }
    }
    for s in seeded {
        s.seeding.stop().await;
    }
    match failed {
        Some(why) => bail!("seeding stopped: {why}"),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn status(seeded: &[Seeded]) -> Vec<Status> {
    seeded.iter().map(Seeded::status).collect()
}

fn line(event: &Event) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    serde_json::to_writer(&mut out, event)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// `DIR/KEY.torrent` (a key is bytes; so is the file name).
fn torrent_path(dir: &Path, key: &Key) -> PathBuf {
    let mut name = key.as_bytes().to_vec();
    name.extend_from_slice(b".torrent");
    dir.join(OsStr::from_bytes(&name))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}", path.display())
    })
}

/// An argument as a key and a torrent name: an annexed file (its key; named after the file)
/// or a key (named after itself).
fn resolve(arg: &OsString) -> Result<Item> {
    let path = Path::new(arg);
    match path.symlink_metadata() {
        Ok(meta) => {
            let key = key_of_annexed_file(path, &meta)?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| key.to_string());
            Ok(Item { key, name })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match Key::from_bytes(arg.as_bytes()) {
                Ok(key) => Ok(Item {
                    name: key.to_string(),
                    key,
                }),
                Err(why) => bail!(
                    "{}: no such file, and not a git-annex key ({why})",
                    path.display()
                ),
            }
        }
        Err(e) => bail!("cannot read {}: {e}", path.display()),
    }
}

/// The key of an annexed file: a locked file is a symlink into `.git/annex/objects/` ending
/// in the key; an unlocked one is a pointer file `/annex/objects/KEY` until its content is
/// there (then it is the content itself, and `git annex lookupkey` names it).
fn key_of_annexed_file(path: &Path, meta: &std::fs::Metadata) -> Result<Key> {
    let not_annexed = || {
        anyhow::anyhow!(
            "{} is not an annexed file (neither a git-annex symlink nor a pointer file); give its key (`git annex lookupkey {}`)",
            path.display(),
            path.display()
        )
    };
    let target: Vec<u8> = if meta.file_type().is_symlink() {
        let t = std::fs::read_link(path)
            .with_context(|| format!("cannot read the link {}", path.display()))?;
        t.as_os_str().as_bytes().to_vec()
    } else if meta.is_file() && meta.len() < 1024 {
        let b = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        b.strip_suffix(b"\n").unwrap_or(&b).to_vec()
    } else {
        return Err(not_annexed());
    };
    let is_annex = target
        .windows(b"annex/objects/".len())
        .any(|w| w == b"annex/objects/");
    let last = target.rsplit(|&c| c == b'/').next().unwrap_or_default();
    if !is_annex || last.is_empty() {
        return Err(not_annexed());
    }
    Key::from_bytes(last).with_context(|| format!("{}: its key", path.display()))
}
