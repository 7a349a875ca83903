//! Every public future of the engine is `Send`, so a daemon can spawn operations on any worker
//! thread (the special remote runs its jobs with `tokio::spawn`). This file only has to compile.

#![allow(clippy::unwrap_used, dead_code)]

use std::path::Path;

use swarm_core::definition::SwarmDefinition;
use swarm_core::key::Key;
use swarm_engine::progress::Quiet;
use swarm_engine::{ObjectReader, Swarm};

fn send<T: Send>(_: T) {}

fn spawnable<T: Send + 'static>(_: T) {}

fn every_public_future_is_send(
    swarm: Swarm,
    def: SwarmDefinition,
    key: Key,
    keys: Vec<Key>,
    path: &Path,
    reader: ObjectReader,
) {
    send(Swarm::open(def.clone()));
    send(swarm.put(path, Some(key.clone()), &Quiet));
    send(swarm.put_stream(tokio::io::empty(), None, "x.bin", &Quiet));
    send(swarm.get(&key, path, &Quiet));
    send(swarm.get_to(&key, tokio::io::sink(), &Quiet));
    send(swarm.object(&key));
    send(reader.read(0, 10));
    send(swarm.fsck(&keys, true, &Quiet));
    send(swarm.repair(&keys, &Quiet));
    send(swarm.ls());
    send(swarm.rm(&key));
    send(swarm.status());
    send(swarm.gc(std::time::Duration::ZERO, false));
    send(swarm.reload(def.clone()));
    send(swarm.presence(&key));
    send(swarm.shard(swarm_core::ids::Hash32([0; 32]), 1));
    send(swarm.prepare_store("a"));
    let kinds = swarm_engine::Kinds::builtin();
    send(swarm_engine::admin::create_stores(
        &def,
        swarm_store::credentials::default_source(),
        &kinds,
    ));
    // What a daemon spawns: an operation on a clone of the swarm, owning its inputs.
    let s = swarm.clone();
    spawnable(async move {
        let _ = s.put(Path::new("f"), None, &Quiet).await;
        let _ = s.get(&key, Path::new("g"), &Quiet).await;
        let _ = s.repair(&keys, &Quiet).await;
        let _ = s.fsck(&keys, false, &Quiet).await;
    });
}
