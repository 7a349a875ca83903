//! One conformance suite, the same body for every store kind: a local directory, S3 (SeaweedFS),
//! WebDAV (nginx) and SFTP (openssh), each a real server on loopback started by the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use swarm_core::definition::StoreEntry;
use swarm_core::ids::{Hash32, SwarmId};
use swarm_store::credentials::{MapSource, Secret, names};
use swarm_store::{Store, StoreError, layout, open_store_with};
use swarm_testservers as servers;

/// Sizes that take different paths: one byte; a typical shard; just over S3's 5 MiB part
/// minimum; over two of our 8 MiB parts (multipart with a short last part).
const SIZES: [usize; 4] = [1, 1 << 20, (5 << 20) + 3, (17 << 20) + 5];

fn data(len: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
            .collect::<Vec<u8>>(),
    )
}

fn open(url: &str, swarm: SwarmId, creds: &MapSource) -> Arc<dyn Store> {
    let entry = StoreEntry::new("conf".parse().unwrap(), url);
    open_store_with(&entry, swarm, creds).unwrap()
}

async fn listed_time(store: &dyn Store, path: &str) -> SystemTime {
    store
        .list(layout::SHARDS)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.path == path)
        .unwrap_or_else(|| panic!("{path} not listed"))
        .meta
        .modified
}

/// The suite. `url` names an empty place; `creds` holds what the kind needs.
async fn conformance(url: &str, creds: &MapSource) {
    let swarm = SwarmId([7; 16]);
    let store = open(url, swarm, creds);

    // Not a store until created; a store of another swarm is refused.
    let err = store.check().await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("marker"), "{err}");
    store.create().await.unwrap();
    store.check().await.unwrap();
    store.create().await.unwrap();
    let stranger = open(url, SwarmId([8; 16]), creds);
    let err = stranger.check().await.unwrap_err().to_string();
    assert!(err.contains("belongs to swarm"), "{err}");
    assert!(
        stranger.create().await.is_err(),
        "adopted another swarm's store"
    );

    // Missing objects.
    let missing = layout::shard_path(&Hash32::of(b"missing"));
    assert!(store.read(&missing).await.unwrap_err().is_not_found());
    assert_eq!(store.stat(&missing).await.unwrap(), None);
    assert!(store.list("shards/zz").await.unwrap().is_empty());

    // Round trips, ranged reads.
    let mut paths = Vec::new();
    for (i, &len) in SIZES.iter().enumerate() {
        let bytes = data(len, i as u8);
        let path = layout::shard_path(&Hash32::of(&bytes));
        store.write(&path, bytes.clone()).await.unwrap();
        let back = store.read(&path).await.unwrap();
        assert!(back == bytes, "{url}: {len} bytes came back different");
        assert_eq!(store.stat(&path).await.unwrap().unwrap().size, len as u64);
        let (off, n) = (len as u64 / 3, (len as u64 / 2).max(1));
        let part = store.read_range(&path, off, n).await.unwrap();
        let end = (off + n).min(len as u64) as usize;
        assert!(
            part[..] == bytes[off as usize..end],
            "{url}: range {off}+{n} of {len}"
        );
        paths.push((path, len));
    }

    // Overwrite replaces whole.
    let (p0, _) = &paths[0];
    store.write(p0, Bytes::from_static(b"new")).await.unwrap();
    assert_eq!(&store.read(p0).await.unwrap()[..], b"new");
    paths[0].1 = 3;

    // Listing: exactly what was written, with sizes.
    let mut listed: Vec<(String, u64)> = store
        .list(layout::SHARDS)
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.path, l.meta.size))
        .collect();
    listed.sort();
    let mut want: Vec<(String, u64)> = paths.iter().map(|(p, l)| (p.clone(), *l as u64)).collect();
    want.sort();
    assert_eq!(listed, want, "{url}: listing");

    // touch makes an object young again for gc (services keep times to the second).
    let (p1, _) = &paths[1];
    let before = listed_time(&*store, p1).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    store.touch(p1).await.unwrap();
    let after = listed_time(&*store, p1).await;
    assert!(after > before, "{url}: touch did not refresh {p1}");
    assert_eq!(
        store.read(p1).await.unwrap().len(),
        SIZES[1],
        "touch changed the object"
    );

    // Concurrent writes all land.
    let batch: Vec<Bytes> = (0..12).map(|i| data(200_000 + i, 100 + i as u8)).collect();
    let writes = batch.iter().map(|b| {
        let store = &store;
        async move {
            let p = layout::shard_path(&Hash32::of(b));
            store.write(&p, b.clone()).await.map(|()| p)
        }
    });
    let written: Vec<String> = futures::future::try_join_all(writes).await.unwrap();
    for (p, b) in written.iter().zip(&batch) {
        assert!(store.read(p).await.unwrap() == *b);
    }

    // Delete, twice; the touch sidecar goes too; nothing is left staged.
    for (p, _) in &paths {
        store.delete(p).await.unwrap();
        store.delete(p).await.unwrap();
        assert_eq!(store.stat(p).await.unwrap(), None);
    }
    for p in &written {
        store.delete(p).await.unwrap();
    }
    assert!(store.list(layout::SHARDS).await.unwrap().is_empty());
    assert!(
        store.list("touched").await.unwrap().is_empty(),
        "{url}: sidecars left"
    );
    assert!(
        store.list(layout::TMP).await.unwrap().is_empty(),
        "{url}: staged writes left"
    );
    assert!(
        matches!(
            store.read("../escape").await,
            Err(StoreError::Config { .. })
        ),
        "paths leaving the root are refused"
    );
    store.check().await.unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn local_directory() {
    let t = tempfile::tempdir().unwrap();
    // An empty directory, as an empty bucket or share is for the other kinds.
    std::fs::create_dir(t.path().join("store")).unwrap();
    let url = t.path().join("store").display().to_string();
    runtime().block_on(conformance(&url, &MapSource::new()));
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
    runtime().block_on(conformance(&server.url("conformance/a"), &creds));
}

#[test]
fn webdav_nginx() {
    let server = servers::WebDavServer::start();
    let id = "conf".parse().unwrap();
    let mut creds = MapSource::new();
    creds.insert(&id, names::PASSWORD, Secret::new(servers::DAV_PASSWORD));
    runtime().block_on(conformance(&server.url("dav/store"), &creds));
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
    runtime().block_on(conformance(&server.url("store"), &creds));
}
