//! One conformance suite, the same body for every store kind (this crate's tests run it on a
//! local directory, S3, WebDAV, SFTP and memory; `swarm-node` on a peer store). Built only with
//! the `test-support` feature: it is test code, and panics on any deviation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use swarm_core::ids::{Hash32, SwarmId};

use crate::{Class, Object, Store, StoreError};

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

async fn listed_time(store: &dyn Store, object: &Object) -> SystemTime {
    store
        .list(Class::Shards)
        .await
        .unwrap()
        .objects
        .into_iter()
        .find(|l| &l.object == object)
        .unwrap_or_else(|| panic!("{object} not listed"))
        .meta
        .modified
}

/// The suite. `open(swarm)` opens the same empty place as a store of `swarm`, through the
/// standard decorators (the suite checks the circuit breaker and the request counts).
pub async fn run(name: &str, open: impl Fn(SwarmId) -> Arc<dyn Store>) {
    let swarm = SwarmId([7; 16]);
    let store = open(swarm);

    // Not a store until created; a store of another swarm is refused.
    let err = store.check().await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("marker"), "{err}");
    assert!(
        !store.health().is_up(),
        "{name}: a failed check leaves it up"
    );
    store.create().await.unwrap();
    store.check().await.unwrap();
    assert!(
        store.health().is_up(),
        "{name}: a good check leaves it down"
    );
    store.create().await.unwrap();
    let stranger = open(SwarmId([8; 16]));
    let err = stranger.check().await.unwrap_err().to_string();
    assert!(err.contains("belongs to swarm"), "{err}");
    assert!(
        stranger.create().await.is_err(),
        "adopted another swarm's store"
    );

    // Missing objects.
    let missing = Object::Shard(Hash32::of(b"missing"));
    assert!(
        store
            .read(&missing, 1 << 20)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(store.stat(&missing).await.unwrap(), None);
    assert!(store.list(Class::Shards).await.unwrap().objects.is_empty());

    // Round trips, ranged reads, reads capped at what is expected.
    let mut objects = Vec::new();
    for (i, &len) in SIZES.iter().enumerate() {
        let bytes = data(len, i as u8);
        let object = Object::Shard(Hash32::of(&bytes));
        store.write(&object, bytes.clone()).await.unwrap();
        let back = store.read(&object, len as u64).await.unwrap();
        assert!(back == bytes, "{name}: {len} bytes came back different");
        assert_eq!(store.stat(&object).await.unwrap().unwrap().size, len as u64);
        let (off, n) = (len as u64 / 3, (len as u64 / 2).max(1));
        let part = store.read_range(&object, off, n).await.unwrap();
        let end = (off + n).min(len as u64) as usize;
        assert!(
            part[..] == bytes[off as usize..end],
            "{name}: range {off}+{n} of {len}"
        );
        let err = store.read(&object, len as u64 - 1).await.unwrap_err();
        assert!(
            matches!(err, StoreError::TooLarge { .. }),
            "{name}: {len} bytes read under a cap of {}: {err}",
            len - 1
        );
        objects.push((object, len));
    }

    // Listing: exactly what was written, with sizes, and nothing else.
    let listing = store.list(Class::Shards).await.unwrap();
    assert!(listing.strays.is_empty(), "{name}: {:?}", listing.strays);
    let mut listed: Vec<(String, u64)> = listing
        .objects
        .into_iter()
        .map(|l| (l.object.to_string(), l.meta.size))
        .collect();
    listed.sort();
    let mut want: Vec<(String, u64)> = objects
        .iter()
        .map(|(o, l)| (o.to_string(), *l as u64))
        .collect();
    want.sort();
    assert_eq!(listed, want, "{name}: listing");
    assert!(
        store
            .list(Class::Manifests)
            .await
            .unwrap()
            .objects
            .is_empty()
    );

    // touch makes an object young again for gc (services keep times to the second).
    let (o1, _) = objects[1].clone();
    let before = listed_time(&*store, &o1).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    store.touch(&o1).await.unwrap();
    let after = listed_time(&*store, &o1).await;
    assert!(after > before, "{name}: touch did not refresh {o1}");
    assert_eq!(
        store.read(&o1, 1 << 30).await.unwrap().len(),
        SIZES[1],
        "touch changed the object"
    );

    // Manifests are their own class. Overwrite replaces whole (checked on a manifest: a shard
    // is named by its bytes, and a node refuses a shard whose bytes are not its name).
    let manifest = Object::manifest_of(b"SHA256E-s1--00.bin");
    store.write(&manifest, data(1000, 9)).await.unwrap();
    store
        .write(&manifest, Bytes::from_static(b"m"))
        .await
        .unwrap();
    assert_eq!(&store.read(&manifest, 100).await.unwrap()[..], b"m");
    let manifests = store.list(Class::Manifests).await.unwrap().objects;
    assert_eq!(manifests.len(), 1, "{name}");
    assert_eq!(manifests[0].object, manifest);

    // Concurrent writes all land.
    let batch: Vec<Bytes> = (0..12).map(|i| data(200_000 + i, 100 + i as u8)).collect();
    let writes = batch.iter().map(|b| {
        let store = &store;
        async move {
            let o = Object::Shard(Hash32::of(b));
            store.write(&o, b.clone()).await.map(|()| o)
        }
    });
    let written: Vec<Object> = futures::future::try_join_all(writes).await.unwrap();
    for (o, b) in written.iter().zip(&batch) {
        assert!(store.read(o, b.len() as u64).await.unwrap() == *b);
    }

    // Delete, twice; the touch sidecar goes too; nothing is left staged.
    for (o, _) in &objects {
        store.delete(o).await.unwrap();
        store.delete(o).await.unwrap();
        assert_eq!(store.stat(o).await.unwrap(), None);
    }
    for o in written.iter().chain([&manifest]) {
        store.delete(o).await.unwrap();
    }
    for class in [Class::Shards, Class::Manifests, Class::Staging] {
        let l = store.list(class).await.unwrap();
        assert!(
            l.objects.is_empty() && l.strays.is_empty(),
            "{name}: {class:?} left: {l:?}"
        );
    }
    store.check().await.unwrap();
    let counts = store
        .requests()
        .expect("the standard stack counts requests");
    assert!(counts.writes >= 17 && counts.reads_done >= 12, "{counts:?}");
}
