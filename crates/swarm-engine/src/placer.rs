//! The one shard placer, for puts and repairs: shard i of a chunk goes to the i-th store of the
//! chunk's ranking; when that store is down, full or refuses, to a *spare* (the next store of
//! the ranking past the first k + m) that holds no shard of the chunk, so one lost store never
//! costs a chunk two shards. Readers look in the same order (`ChunkPlaces::elsewhere`).

use bytes::Bytes;
use futures::future::join_all;
use swarm_core::ids::Hash32;
use swarm_store::Object;

use crate::EngineError;
use crate::swarm::Members;

/// A shard to place: its index in the chunk, bytes and hash.
pub(crate) struct ShardToPlace {
    pub index: usize,
    pub data: Bytes,
    pub hash: Hash32,
}

/// What placing did.
#[derive(Debug, Default)]
pub(crate) struct Placed {
    /// (shard index, store) of every shard written or found.
    pub at: Vec<(usize, usize)>,
    pub written: usize,
    /// Shards already there (only touched, so `gc` spares them).
    pub reused: usize,
    pub bytes: u64,
    /// Shards a put left for the nodes to make (super-seeding).
    pub left: usize,
}

enum Outcome {
    Written,
    Reused,
}

impl Members {
    /// Places `shards` of chunk `id` (of `len` bytes, `total` shards). `holders` already hold a
    /// shard of the chunk and are not used. With `dedupe`, a shard already on its store with
    /// the right size is only touched (this is how an edited file uploads only what changed).
    pub(crate) async fn place(
        &self,
        id: &Hash32,
        len: usize,
        total: usize,
        shards: &[ShardToPlace],
        holders: &[usize],
        dedupe: bool,
    ) -> Result<Placed, EngineError> {
        let places = self.chunk_places(id, total);
        let usable = |s: usize| self.up(s) && !holders.contains(&s);
        let places_ref = &places;
        let first = join_all((0..shards.len()).map(|n| {
            let shard = &shards[n];
            let store = places_ref.preferred.get(shard.index).copied().flatten();
            async move {
                match store {
                    Some(s) if usable(s) => self.place_one(s, shard, dedupe).await,
                    Some(s) if !self.up(s) => Err(format!("{}: unavailable", self.name(s))),
                    Some(s) => Err(format!(
                        "{}: holds another shard of the chunk",
                        self.name(s)
                    )),
                    None => Err(format!("no store for shard {}", shard.index)),
                }
            }
        }))
        .await;
        let first: Vec<(Option<usize>, Result<Outcome, String>)> = shards
            .iter()
            .zip(first)
            .map(|(shard, r)| (places.preferred.get(shard.index).copied().flatten(), r))
            .collect();
        let mut spares = places.spares.iter().copied().filter(|&s| usable(s));
        let mut placed = Placed::default();
        let mut errors = Vec::new();
        for (shard, (store, outcome)) in shards.iter().zip(first) {
            let (mut store, mut outcome) = (store, outcome);
            loop {
                match outcome {
                    Ok(Outcome::Written) => {
                        placed.written += 1;
                        placed.bytes += shard.data.len() as u64;
                        placed.at.extend(store.map(|s| (shard.index, s)));
                        break;
                    }
                    Ok(Outcome::Reused) => {
                        placed.reused += 1;
                        placed.at.extend(store.map(|s| (shard.index, s)));
                        break;
                    }
                    Err(e) => {
                        errors.push(e);
                        let Some(spare) = spares.next() else {
                            return Err(EngineError::NotEnoughStores {
                                what: format!(
                                    "shard {} of chunk {} ({len} bytes)",
                                    shard.index,
                                    id.to_hex().get(..16).unwrap_or_default()
                                ),
                                detail: format!(
                                    "k + m = {total} distinct stores are needed; {}",
                                    self.down_summary(&errors)
                                ),
                            });
                        };
                        store = Some(spare);
                        outcome = self.place_one(spare, shard, dedupe).await;
                    }
                }
            }
        }
        Ok(placed)
    }

    async fn place_one(
        &self,
        store: usize,
        shard: &ShardToPlace,
        dedupe: bool,
    ) -> Result<Outcome, String> {
        let object = Object::Shard(shard.hash);
        let s = self.store(store);
        if dedupe
            && let Ok(Some(meta)) = s.stat(&object).await
            && meta.size == shard.data.len() as u64
        {
            // A fresh mtime tells a concurrent gc that a new manifest is about to need it.
            s.touch(&object).await.map_err(|e| e.to_string())?;
            return Ok(Outcome::Reused);
        }
        s.write(&object, shard.data.clone())
            .await
            .map_err(|e| e.to_string())?;
        Ok(Outcome::Written)
    }
}
