//! One conformance suite, the same body for every store kind: a local directory, S3 (SeaweedFS),
//! WebDAV (nginx) and SFTP (openssh), each a real server on loopback started by the test, and
//! the in-memory store the engine's unit tests use. Every store goes through the standard
//! decorators, as the engine opens them. The suite's body is `swarm_store::conformance` (feature
//! `test-support`), so that kinds defined in other crates run the same one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use swarm_core::definition::StoreEntry;
use swarm_core::ids::SwarmId;
use swarm_store::conformance::run as conformance;
use swarm_store::credentials::{Host, MapSource, Secret, names};
use swarm_store::kinds::memory::MemoryStore;
use swarm_store::{Store, decorate, open_store_with};
use swarm_testservers as servers;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Opens `url` as a store with the standard decorators, as the engine does.
fn opener(url: String, mut creds: MapSource) -> impl Fn(SwarmId) -> Arc<dyn Store> {
    // The credentials are given for this store's host, and go nowhere else.
    let location = swarm_core::definition::parse_location(&url).unwrap();
    if let Some(host) = Host::of(&location) {
        creds.allow(&"conf".parse().unwrap(), host);
    }
    move |swarm| {
        let entry = StoreEntry::new("conf".parse().unwrap(), url.clone());
        open_store_with(&entry, swarm, &creds).unwrap()
    }
}

#[test]
fn memory() {
    let mem = MemoryStore::new("conf".parse().unwrap(), SwarmId([0; 16]));
    let entry = StoreEntry::new("conf".parse().unwrap(), "/unused");
    runtime().block_on(conformance("memory", move |swarm| {
        decorate::standard(Arc::new(mem.seen_by(swarm)), &entry)
    }));
}

#[test]
fn local_directory() {
    let t = tempfile::tempdir().unwrap();
    // An empty directory, as an empty bucket or share is for the other kinds.
    std::fs::create_dir(t.path().join("store")).unwrap();
    let url = t.path().join("store").display().to_string();
    runtime().block_on(conformance("local", opener(url, MapSource::new())));
}

#[test]
fn s3_seaweedfs() {
    let server = servers::S3Server::start();
    let id = "conf".parse().unwrap();
    let mut creds = MapSource::new();
    creds.insert(
        &id,
        names::ACCESS_KEY_ID,
        Secret::new(servers::S3_ACCESS_KEY),
    );
    creds.insert(
        &id,
        names::SECRET_ACCESS_KEY,
        Secret::new(servers::S3_SECRET_KEY),
    );
    runtime().block_on(conformance(
        "s3",
        opener(server.url("conformance/a"), creds),
    ));
}

#[test]
fn webdav_nginx() {
    let server = servers::WebDavServer::start();
    let id = "conf".parse().unwrap();
    let mut creds = MapSource::new();
    creds.insert(&id, names::PASSWORD, Secret::new(servers::DAV_PASSWORD));
    runtime().block_on(conformance(
        "webdav",
        opener(server.url("dav/store"), creds),
    ));
}

#[test]
#[allow(unsafe_code)]
fn sftp_openssh() {
    let server = servers::SftpServer::start();
    // SAFETY: set before any other thread exists (the runtime is built after); OpenDAL's `ssh`
    // must find the wrapper that knows this server's host key.
    unsafe { std::env::set_var("PATH", server.path_env()) };
    let id = "conf".parse().unwrap();
    let mut creds = MapSource::new();
    creds.insert(
        &id,
        names::SSH_KEY,
        Secret::new(server.client_key().display().to_string()),
    );
    runtime().block_on(conformance("sftp", opener(server.url("store"), creds)));
}
