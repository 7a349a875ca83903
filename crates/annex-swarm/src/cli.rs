//! Command-line arguments.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "annex-swarm",
    version,
    about = "Erasure-coded swarm storage for git-annex keys"
)]
pub struct Cli {
    /// The swarm definition file.
    #[arg(long, global = true, env = "ANNEX_SWARM", default_value = "swarm.toml")]
    pub swarm: PathBuf,
    /// More logging on stderr (-v info, -vv debug); ANNEX_SWARM_LOG takes a tracing filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// After the command, print on stderr how many requests each store answered.
    #[arg(long, global = true)]
    pub request_stats: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a swarm definition and prepare its stores.
    Init(InitArgs),
    /// Run the OAuth consent flow for a cloud drive and save the refresh token in the
    /// credentials file (needs the service's OAuth client id and secret, and the internet).
    Authorize(AuthorizeArgs),
    /// This machine's node identity: an OpenSSH ed25519 key.
    Node {
        #[command(subcommand)]
        action: NodeCommand,
    },
    /// Sign, verify, show or edit the swarm definition (the --swarm file).
    Definition {
        #[command(subcommand)]
        action: DefinitionCommand,
    },
    /// BitTorrent: download magnets and .torrent files (no swarm definition needed).
    #[cfg(feature = "torrent")]
    Torrent {
        #[command(subcommand)]
        action: TorrentCommand,
    },
    /// Seed swarm content to BitTorrent: for each annexed FILE or KEY, make a v1 torrent by
    /// streaming the object from the swarm (written as KEY.torrent), print its magnet, and seed
    /// it until interrupted (Ctrl-C), pieces read from the stores as peers ask (a small cache
    /// of chunks, never a local copy).
    #[cfg(feature = "torrent")]
    Seed(SeedArgs),
    #[command(flatten)]
    OnSwarm(SwarmCommand),
}

impl Command {
    /// Whether the command handles Ctrl-C and SIGTERM itself (to stop cleanly and report).
    pub fn handles_signals(&self) -> bool {
        #[cfg(feature = "torrent")]
        if let Command::Seed(_)
        | Command::Torrent {
            action: TorrentCommand::Seed(_),
        } = self
        {
            return true;
        }
        false
    }
}

#[cfg(feature = "torrent")]
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// Annexed files (a git-annex symlink or pointer file) or git-annex keys.
    #[arg(required = true)]
    pub items: Vec<OsString>,
    /// A tracker to announce to, put in the .torrent and the magnet (repeatable).
    #[arg(long = "tracker")]
    pub trackers: Vec<String>,
    /// Where KEY.torrent files are written.
    #[arg(long, default_value = ".")]
    pub torrent_out: PathBuf,
    /// Memory for pieces read from the stores and checked, kept for the rest of their blocks
    /// and for other peers, as `256MiB` (at least two pieces). Each piece is read by ranges
    /// when a peer first asks for it, whatever the object's size.
    #[arg(long, default_value = "64MiB")]
    pub cache: swarm_core::units::ByteSize,
    /// With --json: a status line every this many seconds (0: only at start and exit).
    #[arg(long, default_value_t = 10)]
    pub status_every: u64,
    /// Make the torrents, print them, and exit without seeding.
    #[arg(long)]
    pub no_seed: bool,
    /// Print JSON lines: one per torrent when seeding starts, status lines, and one at exit.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub session: TorrentSessionArgs,
}

#[cfg(feature = "torrent")]
#[derive(Debug, Subcommand)]
pub enum TorrentCommand {
    /// Download a torrent (a magnet link, an http(s) URL of a .torrent file, or a .torrent
    /// file) into --out: a single-file torrent as its file, a multi-file one as a directory
    /// named after it. Pieces are checked (SHA-1) as they arrive; files appear under their
    /// names only when complete. An interrupted get resumes from where it stopped.
    Get(TorrentGetArgs),
    /// Seed a torrent whose content is on disk (a single file as DIR/<name>, a multi-file one
    /// under DIR/<name>/), every piece checked first, until interrupted (Ctrl-C). Swarm
    /// content is seeded with `annex-swarm seed` instead, with no local copy.
    Seed(TorrentSeedArgs),
}

#[cfg(feature = "torrent")]
#[derive(Debug, clap::Args)]
pub struct TorrentSeedArgs {
    /// The .torrent file.
    pub torrent: PathBuf,
    /// The directory holding the content.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Print JSON lines: when seeding starts, and at exit.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub session: TorrentSessionArgs,
}

#[cfg(feature = "torrent")]
#[derive(Debug, clap::Args)]
pub struct TorrentGetArgs {
    /// `magnet:?xt=urn:btih:...`, `https://.../x.torrent`, `torrent:URL` or `FILE.torrent`.
    pub source: String,
    /// Directory to download into.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Only these files (paths inside the torrent, as `--json` lists them); repeatable.
    #[arg(long, num_args = 1..)]
    pub only: Vec<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub session: TorrentSessionArgs,
}

/// The BitTorrent session's switches, with the defaults a BitTorrent user expects.
#[cfg(feature = "torrent")]
#[derive(Debug, clap::Args)]
pub struct TorrentSessionArgs {
    /// Do not use the mainline DHT (which bootstraps from public routers): peers then come
    /// only from trackers and the magnet's x.pe peers.
    #[arg(long)]
    pub no_dht: bool,
    /// Address and port to accept peers on; `none` for no listener.
    #[arg(long, default_value = "0.0.0.0:0")]
    pub listen: String,
    /// Forward the listen port with UPnP.
    #[arg(long)]
    pub upnp: bool,
    /// Local service discovery (LAN multicast).
    #[arg(long)]
    pub lsd: bool,
    /// Upload rate limit, as `1MiB/s`.
    #[arg(long)]
    pub upload_limit: Option<swarm_core::units::Rate>,
    /// Download rate limit, as `10MiB/s`.
    #[arg(long)]
    pub download_limit: Option<swarm_core::units::Rate>,
    /// Seconds a magnet's metadata or a .torrent URL may take.
    #[arg(long, default_value_t = 120)]
    pub metadata_timeout: u64,
    /// Seconds without progress before the download fails.
    #[arg(long, default_value_t = 300)]
    pub stall_timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Make this node's ed25519 key (mode 0600; an existing file is never replaced) and print
    /// its node id.
    Init {
        /// Key file [default: $XDG_CONFIG_HOME/annex-swarm/node_ed25519, else
        /// ~/.config/annex-swarm/node_ed25519].
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Print the node id of a key (any unencrypted OpenSSH ed25519 key works).
    Id {
        /// Key file [default: as for `node init`].
        #[arg(long)]
        key: Option<PathBuf>,
        /// Print the OpenSSH public key line instead (for allowed_signers and `key = ...`).
        #[arg(long)]
        openssh: bool,
    },
    /// The swarm's nodes as this machine sees them: each node's addresses, whether it answers,
    /// and the definition version it holds (against the --swarm file's).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Serve this node's store (its [[node]] entry's `store` directory) to the swarm's members
    /// until stopped; prints `NODEID listening on ADDRESS` once it does.
    Run {
        /// Key file [default: as for `node init`].
        #[arg(long)]
        key: Option<PathBuf>,
        /// Address and port to listen on [default: the node's first `addrs` entry]; port 0
        /// takes any free port.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// How often the node looks for keys it should hold whole (`full_copies`): each round
        /// lists the swarm's manifests, so remote stores are asked this often.
        #[arg(long, default_value = "60s")]
        replicate_every: String,
        /// Serve a status page (and `/status.json`) over HTTP at this address, e.g.
        /// 127.0.0.1:7421; it is not authenticated, so keep it on loopback.
        #[arg(long)]
        status: Option<std::net::SocketAddr>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DefinitionCommand {
    /// Sign the definition's exact bytes; writes `<definition>.sig` (as `ssh-keygen -Y sign -n
    /// annex-swarm-definition` would).
    Sign {
        /// An OpenSSH ed25519 private key, e.g. ~/.ssh/id_ed25519 (mode 0600, no passphrase).
        #[arg(long)]
        key: PathBuf,
    },
    /// Check `<definition>.sig`: prints the signer, version and hash; exits non-zero with the
    /// reason when the signature is missing or bad.
    Verify {
        /// Check as a node holding this definition would before adopting: same swarm, newer
        /// version, signed by an admin of the held one.
        #[arg(long)]
        held: Option<PathBuf>,
    },
    /// Members, roles, stores, version, hash and whether the signature matches.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Add a node: a `[[node]]` entry and, with --store, a `peer://NODEID` store. Bumps the
    /// version and makes the document format 2; sign it again afterwards.
    AddNode {
        /// The node's id (64 hex digits, from `annex-swarm node id`) or its `ssh-ed25519 ...` line.
        node: String,
        /// A static address, host:port (repeat for more).
        #[arg(long = "addr")]
        addrs: Vec<String>,
        /// The directory on the node that holds its shards; also adds the node's peer store to
        /// the swarm.
        #[arg(long)]
        store: Option<String>,
        /// The node's name [default: node- and the first 8 hex digits of its id].
        #[arg(long)]
        name: Option<String>,
        /// read, write or admin.
        #[arg(long, default_value = "write")]
        role: String,
    },
    /// Offer the (signed) definition to the nodes it lists with an address, as a member: each
    /// adopts it if an admin of the version it holds signed it, and passes it on to the others.
    Push {
        /// Only these nodes (by name; repeat) [default: every node with an address].
        #[arg(long = "to")]
        to: Vec<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Data shards per chunk: any k of the k + m shards restore it.
    #[arg(long)]
    pub k: u16,
    /// Parity shards per chunk: how many stores may be lost.
    #[arg(long)]
    pub m: u16,
    /// A store: a directory path or a file:// URL. Give at least k + m.
    #[arg(long = "store", required = true)]
    pub stores: Vec<String>,
    /// Target shard size: chunks are about k times this [default: 1MiB, or 4MiB when any
    /// store is remote].
    #[arg(long)]
    pub shard_size: Option<String>,
    /// Objects below this are stored whole on m + 1 stores.
    #[arg(long, default_value = "256KiB")]
    pub inline_threshold: String,
    /// Replace an existing definition file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Args)]
pub struct AuthorizeArgs {
    /// gdrive, onedrive or dropbox.
    pub service: String,
    /// Save the token for this store id only (default: for every store of the service).
    #[arg(long)]
    pub store: Option<String>,
    /// Loopback port for the redirect (0 picks one; Dropbox needs the one registered).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

/// Commands that work on an existing swarm.
#[derive(Debug, Subcommand)]
pub enum SwarmCommand {
    /// Store a file; prints its key.
    Put {
        file: PathBuf,
        /// Store under this git-annex key (checked against the content) instead of SHA256E.
        /// Keys are bytes, as git-annex's are: an argument need not be UTF-8.
        #[arg(long)]
        key: Option<OsString>,
        /// Write every shard, even where the swarm's nodes would make the parity themselves
        /// (with `full_copies`, a put sends only the data shards to nodes and leaves; this waits
        /// until the key is fully redundant, sending (k + m) / k times its size).
        #[arg(long)]
        all_shards: bool,
        #[arg(long)]
        json: bool,
    },
    /// Restore a key into DEST, verified.
    Get {
        key: OsString,
        dest: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Health of each key (all keys when none are given); exit 0 only if every key is restorable.
    Fsck {
        keys: Vec<OsString>,
        /// Read and hash every shard instead of checking it exists with the right size.
        #[arg(long)]
        verify: bool,
        #[arg(long)]
        json: bool,
    },
    /// Re-create missing or corrupt shards and manifest copies (all keys when none are given).
    Repair {
        keys: Vec<OsString>,
        #[arg(long)]
        json: bool,
    },
    /// List the keys in the swarm.
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// The swarm, its stores and what they hold.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Remove keys (their shards go at the next gc unless shared).
    Rm {
        #[arg(required = true)]
        keys: Vec<OsString>,
        /// Remove the copies on the stores that are up even when others are down (by default
        /// nothing is removed then: a store that comes back would bring the key back).
        #[arg(long)]
        reachable_only: bool,
    },
    /// Manage the swarm's stores.
    Store {
        #[command(subcommand)]
        action: StoreCommand,
    },
    /// Delete shards no key references and leftovers of interrupted puts.
    Gc {
        /// Spare anything younger than this (a put may be under way): 90s, 30m, 1h, 2d, 0.
        #[arg(long, default_value = "1h")]
        grace: String,
        /// Collect even while a store is down.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Is a store reachable and writable (write, read back and delete a probe object), and how
    /// much free space does it report? TARGET is a store URL, or a store id of the swarm.
    /// Exit 0: reachable and writable; 2: unreachable; 3: not writable; 4: writable but not
    /// initialised for this swarm (by store id).
    Check {
        target: String,
        /// Look credentials up as for this store id (for a URL).
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Prepare a store of the definition again (a replacement disk, a recreated directory) so
    /// that `repair` can refill it.
    Init {
        /// The store's id, as in the definition.
        id: String,
    },
}
