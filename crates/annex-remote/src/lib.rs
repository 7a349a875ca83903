//! `git-annex-remote-swarm`: a git-annex external special remote that keeps each key
//! erasure-coded over the stores of an annex-swarm swarm.
//!
//! Layers: [`protocol`] (lines <-> messages, pure), [`config`] (initremote parameters <-> the
//! swarm definition kept in the git-annex branch, pure), [`creds`] (which store credentials
//! go through git-annex's SETCREDS/GETCREDS), [`remote`] (each request mapped onto the swarm
//! engine), [`session`] (the conversation: jobs, ASYNC, one writer). The library never prints;
//! the only bytes on the session's output are protocol lines.

pub mod config;
pub mod creds;
pub mod protocol;
pub mod remote;
pub mod session;
#[cfg(feature = "torrent")]
pub mod torrent;

pub use remote::Remote;
pub use session::{Options, run};
