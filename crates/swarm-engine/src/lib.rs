//! annex-swarm's engine: put, get, ranged reads, fsck, repair, ls, rm, gc and status over a
//! swarm of stores, as a service a long-lived process (the special remote, a node daemon, a
//! seeder) keeps open: a [`Swarm`] is a cheap cloneable handle; its stores' health is followed
//! (stores that come back are used again) and a newer definition is taken without a restart
//! ([`Swarm::reload`]). Every public future is `Send`.
//!
//! The engine never prints: it reports through [`progress::Observer`] (an event stream) and
//! returns typed reports that the front ends render. CPU work (hashing, coding) runs on one
//! bounded pool ([`pool`]); file I/O never runs on the reactor; at most a fixed number of
//! chunks is in flight, whatever the file size. It talks to stores only through the store
//! layer's traits, and front ends talk to stores only through the engine.

pub mod admin;
pub mod error;
pub mod fetch;
pub mod fsck;
pub mod gc;
pub mod get;
mod hashing;
pub mod inventory;
mod locks;
pub mod logging;
mod manifests;
pub mod memory;
pub mod mirror;
mod placer;
pub(crate) mod pool;
pub mod progress;
pub mod put;
pub mod reader;
pub mod repair;
mod restore;
pub mod swarm;

pub use error::EngineError;
pub use get::GetReport;
pub use reader::ObjectReader;
pub use swarm::{Member, Members, Reloaded, Swarm};
/// Where store credentials come from: the front ends hand the engine a source.
pub use swarm_store::credentials;
/// Installs the TLS provider the HTTP clients use (for a front end's own HTTPS requests).
pub use swarm_store::remote::ensure_tls_provider;
/// Store kinds, for a front end that registers one of its own (peer stores).
pub use swarm_store::{Kinds, StoreKind};
