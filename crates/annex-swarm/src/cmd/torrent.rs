//! `annex-swarm torrent get`: a torrent downloaded natively, with a bar (speed, peers, ETA).
//!
//! Files are written under a hidden staging directory in --out named after the info hash
//! (`.annex-swarm-torrent-HASH`), and moved to their names only when every selected file is
//! complete: a failed or interrupted get leaves nothing under a final name, and running it
//! again resumes from the staging directory (pieces already there are checked, not fetched).

use std::io::Write;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use swarm_torrent::{Client, Metainfo, Options, Progress, Source, TorrentFile};

use crate::cli::{TorrentCommand, TorrentGetArgs, TorrentSeedArgs, TorrentSessionArgs};

pub async fn run(action: TorrentCommand) -> Result<ExitCode> {
    match action {
        TorrentCommand::Get(args) => get(args).await,
        TorrentCommand::Seed(args) => seed_files(args).await,
    }
}

/// The session's options from the command line.
pub fn options(args: &TorrentSessionArgs) -> Result<Options> {
    let listen = match args.listen.as_str() {
        "none" => None,
        a => Some(a.parse::<SocketAddr>().with_context(|| {
            format!("--listen {a}: expected an address and port (as 0.0.0.0:6881) or `none`")
        })?),
    };
    let limit = |r: Option<swarm_core::units::Rate>, flag: &str| -> Result<Option<NonZeroU32>> {
        r.map(|r| {
            u32::try_from(r.bytes_per_sec())
                .ok()
                .and_then(NonZeroU32::new)
                .with_context(|| format!("{flag}: between 1 B/s and 4 GiB/s"))
        })
        .transpose()
    };
    Ok(Options {
        dht: !args.no_dht,
        listen,
        upnp: args.upnp,
        lsd: args.lsd,
        upload_limit: limit(args.upload_limit, "--upload-limit")?,
        download_limit: limit(args.download_limit, "--download-limit")?,
        metadata_timeout: Duration::from_secs(args.metadata_timeout),
        stall_timeout: Duration::from_secs(args.stall_timeout),
    })
}

#[derive(Serialize)]
struct Report {
    info_hash: String,
    name: String,
    files: Vec<FileReport>,
    bytes: u64,
    seconds: f64,
    /// The most peers connected at once, and how many were learnt of.
    peers_max: u32,
    peers_seen: u32,
}

#[derive(Serialize)]
struct FileReport {
    path: String,
    size: u64,
    dest: PathBuf,
}

async fn get(args: TorrentGetArgs) -> Result<ExitCode> {
    let source = Source::parse(&args.source)?;
    let options = options(&args.session)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let client = Client::start(options, &args.out).await?;
    let outcome = get_with(&client, &source, &args).await;
    client.stop().await;
    let report = outcome?;
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    if args.json {
        crate::cmd::report::json(out, &report)?;
    } else {
        let mb = report.bytes as f64 / 1e6;
        writeln!(
            out,
            "{}: {} files, {mb:.1} MB in {:.1} s ({:.1} MB/s)",
            report.name,
            report.files.len(),
            report.seconds,
            mb / report.seconds.max(1e-3)
        )?;
        for f in &report.files {
            writeln!(out, "  {}", f.dest.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn get_with(client: &Client, source: &Source, args: &TorrentGetArgs) -> Result<Report> {
    let started = Instant::now();
    let meta = client.metainfo(source).await?;
    let selected = select(&meta, &args.only)?;
    // A single file lands as itself; a directory of files under the torrent's name.
    let root = if meta.is_multi_file() {
        args.out.join(safe_name(&meta.name)?)
    } else {
        args.out.clone()
    };
    let targets: Vec<(TorrentFile, PathBuf)> = selected
        .into_iter()
        .map(|f| {
            let dest = root.join(&f.path);
            (f, dest)
        })
        .collect();
    for (_, dest) in &targets {
        if dest.symlink_metadata().is_ok() {
            bail!("{} already exists: not overwritten", dest.display());
        }
    }
    let staging = args
        .out
        .join(format!(".annex-swarm-torrent-{}", meta.info_hash));
    let only: Vec<usize> = targets.iter().map(|(f, _)| f.index).collect();
    let transfer = client.download(&meta, &staging, &only).await?;
    let bar = bar(&meta.name, args.json);
    let (mut peers_max, mut peers_seen) = (0, 0);
    let waited = transfer
        .wait(Duration::from_millis(250), |p| {
            peers_max = peers_max.max(p.peers);
            peers_seen = peers_seen.max(p.peers_seen);
            show(&bar, p);
        })
        .await;
    bar.finish_and_clear();
    transfer.close().await;
    waited?;
    for (f, dest) in &targets {
        let from = staging.join(&f.path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::rename(&from, dest)
            .with_context(|| format!("cannot move {} to {}", from.display(), dest.display()))?;
    }
    // What is left there: parts of unselected files sharing pieces with the selected ones.
    let _ = std::fs::remove_dir_all(&staging);
    Ok(Report {
        info_hash: meta.info_hash.clone(),
        name: meta.name.clone(),
        bytes: targets.iter().map(|(f, _)| f.len).sum(),
        files: targets
            .into_iter()
            .map(|(f, dest)| FileReport {
                path: f.path.display().to_string(),
                size: f.len,
                dest,
            })
            .collect(),
        seconds: started.elapsed().as_secs_f64(),
        peers_max,
        peers_seen,
    })
}

/// The files to download: those named by --only, or every file.
fn select(meta: &Metainfo, only: &[String]) -> Result<Vec<TorrentFile>> {
    if only.is_empty() {
        return Ok(meta.real_files().cloned().collect());
    }
    let mut out: Vec<TorrentFile> = Vec::new();
    for path in only {
        let f = meta.file_named(path)?;
        if !out.iter().any(|o| o.index == f.index) {
            out.push(f.clone());
        }
    }
    Ok(out)
}

/// The torrent's name as one directory name.
fn safe_name(name: &str) -> Result<&Path> {
    let p = Path::new(name);
    let mut parts = p.components();
    match (parts.next(), parts.next()) {
        (Some(std::path::Component::Normal(_)), None) => Ok(p),
        _ => bail!("torrent name `{name}` is not a plain directory name"),
    }
}

fn bar(name: &str, quiet: bool) -> ProgressBar {
    let target = if quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(0), target);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(name.to_owned());
    bar
}

fn show(bar: &ProgressBar, p: &Progress) {
    bar.set_length(p.total);
    bar.set_position(p.done);
    if p.checking {
        bar.set_message("checking what is already here");
        return;
    }
    let eta = p
        .eta
        .map(|e| format!("eta {}s", e.as_secs()))
        .unwrap_or_else(|| "eta -".into());
    bar.set_message(format!(
        "{}/s, {} peers ({} seeding), {eta}",
        indicatif::HumanBytes(p.download_speed),
        p.peers,
        p.seeders
    ));
}

async fn seed_files(args: TorrentSeedArgs) -> Result<ExitCode> {
    let torrent = std::fs::read(&args.torrent)
        .with_context(|| format!("cannot read {}", args.torrent.display()))?;
    let options = options(&args.session)?;
    // Watched from the start: a Ctrl-C during the check is not lost.
    let stop = crate::interrupts();
    let client = Client::start(options, &args.dir).await?;
    let outcome = async {
        let seeding = client.seed_files(torrent, &args.dir).await?;
        let listen = client.listen_addr();
        if args.json {
            println!(
                "{}",
                serde_json::json!({"event": "seeding", "info_hash": seeding.info_hash(), "listen": listen})
            );
        } else {
            eprintln!(
                "seeding {} from {}; Ctrl-C stops",
                seeding.info_hash(),
                args.dir.display()
            );
        }
        stop.await;
        let uploaded = seeding.stats().uploaded;
        if args.json {
            println!(
                "{}",
                serde_json::json!({"event": "stopped", "info_hash": seeding.info_hash(), "uploaded": uploaded})
            );
        } else {
            eprintln!("uploaded {uploaded} bytes");
        }
        seeding.stop().await;
        anyhow::Ok(())
    }
    .await;
    client.stop().await;
    outcome?;
    Ok(ExitCode::SUCCESS)
}
