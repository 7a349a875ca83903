//! The one place manifests are read and written. A copy is judged the same way everywhere
//! (`Members::judge`): it must decode (the manifest carries its own BLAKE3), be the manifest of
//! the key its name says and, in a node, be signed by a member with write rights. A process
//! with a member key signs the manifests it writes (version 3). Copies go to the first m + 1 stores of the key's ranking that are up,
//! after every shard they name is stored.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::future::join_all;
use swarm_core::key::Printable;
use swarm_core::manifest::{self, Manifest};
use swarm_store::{Class, Listing, ManifestName, Object};

use crate::EngineError;
use crate::swarm::Members;

/// Every manifest of the swarm, as far as the stores that are up tell.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    /// One valid copy per key, by the key's bytes.
    pub manifests: BTreeMap<Vec<u8>, Manifest>,
    /// Manifest names no store could give a valid copy of, and why.
    pub unreadable: Vec<(String, String)>,
    /// Keys whose valid copies disagree (only looked for when every copy is read).
    pub conflicts: Vec<String>,
}

/// The largest manifest read: a 16 MiB inline object, or the records of some million chunks.
/// Anything bigger at a manifest's name is not one (and is not read whole).
pub(crate) const MAX_MANIFEST: u64 = 256 << 20;

/// Every copy of one key's manifest on the stores that are up.
#[derive(Debug, Default)]
pub(crate) struct Copies {
    /// The first valid copy, in the key's ranking order.
    pub manifest: Option<Manifest>,
    /// Stores holding a valid copy equal to `manifest`.
    pub at: Vec<usize>,
    /// Valid copies that say something else (a store lies, or two puts raced), and where.
    pub others: Vec<(Manifest, Vec<usize>)>,
    /// Copies that are there but bad, and stores that failed to answer.
    pub problems: Vec<String>,
}

impl Copies {
    /// Copies that disagree are a conflict, never a vote of one: what it is, for messages.
    pub fn conflict(&self, members: &Members) -> Option<String> {
        if self.others.is_empty() {
            return None;
        }
        let names = |at: &[usize]| {
            at.iter()
                .map(|&i| members.name(i))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = vec![format!("{} hold one", names(&self.at))];
        for (_, at) in &self.others {
            parts.push(format!("{} another", names(at)));
        }
        Some(format!(
            "its manifest copies disagree: {}",
            parts.join("; ")
        ))
    }

    fn add(&mut self, i: usize, m: Manifest) {
        match &self.manifest {
            None => {
                self.manifest = Some(m);
                self.at.push(i);
            }
            Some(first) if *first == m => self.at.push(i),
            Some(_) => match self.others.iter_mut().find(|(o, _)| *o == m) {
                Some((_, at)) => at.push(i),
                None => self.others.push((m, vec![i])),
            },
        }
    }

    /// Every distinct valid copy, the preferred first.
    pub fn candidates(&self) -> impl Iterator<Item = &Manifest> {
        self.manifest
            .iter()
            .chain(self.others.iter().map(|(m, _)| m))
    }
}

impl Members {
    /// A manifest's bytes as read from a store: the manifest, if it decodes and (for a process
    /// that takes only writers' manifests) a member with write rights signed it.
    pub(crate) fn trusted(&self, bytes: &[u8]) -> Result<Manifest, String> {
        let m = Manifest::decode(bytes).map_err(|e| e.to_string())?;
        if self.manifests.writers_only {
            manifest::check_writer(bytes, self.definition()).map_err(|e| e.to_string())?;
        }
        Ok(m)
    }

    /// A copy of the manifest of `key` read from a store: valid, or why not.
    fn judge(&self, bytes: &[u8], key: &[u8]) -> Result<Manifest, String> {
        match self.trusted(bytes) {
            Ok(m) if m.key == key => Ok(m),
            Ok(m) => Err(format!("it is the manifest of {}", Printable(&m.key))),
            Err(e) => Err(e),
        }
    }

    /// A manifest's bytes to store: signed by this process's member key when it has one
    /// (version 3), else versions 1 and 2.
    pub(crate) fn encode_manifest(&self, manifest: &Manifest) -> Result<Bytes, EngineError> {
        let bytes = match &self.manifests.writer {
            Some(w) => manifest.encode_signed(&self.definition().swarm, w),
            None => manifest.encode(),
        };
        bytes
            .map(Bytes::from)
            .map_err(|e| EngineError::Internal(format!("manifest encoding: {e}")))
    }

    /// Reads the first valid copy of `key`'s manifest, in ranking order.
    pub(crate) async fn read_manifest(&self, key: &[u8]) -> Result<Manifest, EngineError> {
        let object = Object::manifest_of(key);
        let mut looked = Vec::new();
        for i in self.manifest_ranking(key) {
            if let Some(why) = self.store(i).health().down() {
                looked.push(format!("{} (unavailable: {why})", self.name(i)));
                continue;
            }
            match self.store(i).read(&object, MAX_MANIFEST).await {
                Ok(bytes) => match self.judge(&bytes, key) {
                    Ok(m) => return Ok(m),
                    Err(e) => {
                        let key = Printable(key);
                        tracing::warn!(store = %self.name(i), %key, "bad manifest copy: {e}");
                        looked.push(format!("{} ({e})", self.name(i)));
                    }
                },
                Err(e) if e.is_not_found() => {
                    looked.push(format!("{} (no manifest)", self.name(i)))
                }
                Err(e) => looked.push(format!("{} ({e})", self.name(i))),
            }
        }
        Err(EngineError::NotPresent {
            key: Printable(key).to_string(),
            looked: looked.join(", "),
        })
    }

    /// Reads `key`'s manifest from every store that is up, at once.
    pub(crate) async fn manifest_copies(&self, key: &[u8]) -> Copies {
        self.some_copies(key, usize::MAX).await
    }

    /// Reads copies of `key`'s manifest down the key's ranking (stores that are up), in rounds,
    /// until `want` valid copies are found or every store was asked: a get wants the m + 1
    /// copies a put writes (and no more requests), fsck wants every copy there is.
    pub(crate) async fn some_copies(&self, key: &[u8], want: usize) -> Copies {
        let object = Object::manifest_of(key);
        let mut order = self
            .manifest_ranking(key)
            .into_iter()
            .filter(|&i| self.up(i))
            .peekable();
        let mut copies = Copies::default();
        let mut found = 0;
        while found < want && order.peek().is_some() {
            let batch: Vec<usize> = order.by_ref().take(want - found).collect();
            let (object, batch_ref) = (&object, &batch);
            let reads = join_all((0..batch.len()).map(|n| async move {
                let i = batch_ref[n];
                match self.store(i).read(object, MAX_MANIFEST).await {
                    Ok(b) => Some(
                        self.judge(&b, key)
                            .map_err(|e| format!("manifest on {}: {e}", self.name(i))),
                    ),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => Some(Err(format!("manifest on {}: {e}", self.name(i)))),
                }
            }))
            .await;
            for (&i, read) in batch.iter().zip(reads) {
                match read {
                    Some(Ok(m)) => {
                        found += 1;
                        copies.add(i, m);
                    }
                    Some(Err(p)) => copies.problems.push(p),
                    None => {}
                }
            }
        }
        copies
    }

    /// With `full_copies`, gives a copy of the manifest to each of the key's holders (the
    /// first `full_copies` nodes of its ranking) that the m + 1 copies missed: a node starts its
    /// round as soon as a manifest arrives, so the copies, and the parity a super-seeded put
    /// left to the nodes, begin at once. Best effort: a holder that misses it starts at its
    /// next round. The copies written.
    pub(crate) async fn tell_holders(&self, manifest: &Manifest) -> usize {
        let holders = self.holder_stores(&manifest.key);
        if holders.is_empty() {
            return 0;
        }
        let want = self.copies_wanted();
        let ranking = self.manifest_ranking(&manifest.key);
        let has_copy: Vec<usize> = ranking
            .iter()
            .copied()
            .filter(|&i| self.up(i))
            .take(want)
            .collect();
        let missed: Vec<usize> = holders
            .into_iter()
            .filter(|i| self.up(*i) && !has_copy.contains(i))
            .collect();
        if missed.is_empty() {
            return 0;
        }
        let Ok(bytes) = self.encode_manifest(manifest) else {
            return 0;
        };
        let object = Object::manifest_of(&manifest.key);
        let results = join_all(
            missed
                .iter()
                .map(|&i| self.store(i).write(&object, bytes.clone())),
        )
        .await;
        let mut told = 0;
        for (i, r) in missed.into_iter().zip(results) {
            match r {
                Ok(()) => told += 1,
                Err(e) => tracing::debug!(store = %self.name(i), "holder not told: {e}"),
            }
        }
        told
    }

    /// Writes copies of a manifest until m + 1 stores hold one (counting `have`, which already
    /// do), walking down the key's ranking past stores that are down, full or refuse. When a
    /// new manifest (`have` empty) cannot get m + 1 copies, the copies written are removed.
    pub(crate) async fn write_manifest(
        &self,
        manifest: &Manifest,
        have: &[usize],
    ) -> Result<usize, EngineError> {
        let bytes = self.encode_manifest(manifest)?;
        let object = Object::manifest_of(&manifest.key);
        let want = self.copies_wanted();
        let mut order = self
            .manifest_ranking(&manifest.key)
            .into_iter()
            .filter(|&i| self.up(i) && !have.contains(&i));
        let mut written = Vec::new();
        let mut failures = Vec::new();
        while have.len() + written.len() < want {
            let batch: Vec<usize> = order
                .by_ref()
                .take(want - have.len() - written.len())
                .collect();
            if batch.is_empty() {
                break;
            }
            let results = join_all(
                batch
                    .iter()
                    .copied()
                    .map(|i| self.store(i).write(&object, bytes.clone())),
            )
            .await;
            for (i, r) in batch.into_iter().zip(results) {
                match r {
                    Ok(()) => written.push(i),
                    Err(e) => failures.push(e.to_string()),
                }
            }
        }
        if have.len() + written.len() < want {
            if have.is_empty() {
                join_all(
                    written
                        .iter()
                        .copied()
                        .map(|i| self.store(i).delete(&object)),
                )
                .await;
            }
            return Err(EngineError::NotEnoughStores {
                what: format!("the manifest of {}", Printable(&manifest.key)),
                detail: format!(
                    "{} of the {want} copies written; {}",
                    have.len() + written.len(),
                    self.down_summary(&failures)
                ),
            });
        }
        Ok(written.len())
    }

    /// Lists a class on every store that is up (empty for stores that are down).
    pub(crate) async fn list_everywhere(&self, class: Class) -> Result<Vec<Listing>, EngineError> {
        let lists = join_all((0..self.len()).map(|i| async move {
            if self.up(i) {
                self.store(i).list(class).await.map_err(EngineError::from)
            } else {
                Ok(Listing::default())
            }
        }))
        .await;
        lists.into_iter().collect()
    }

    /// Every manifest on the stores that are up (see [`Catalog`]); with `every_copy`, all
    /// copies are read and compared (gc), else one valid copy each (ls).
    pub(crate) async fn catalog(&self, every_copy: bool) -> Result<Catalog, EngineError> {
        let listings = self.list_everywhere(Class::Manifests).await?;
        Ok(self.catalog_of(&listings, every_copy).await)
    }

    /// Reads the manifests the listings name: one valid copy each, or with `every_copy` all of
    /// them, compared.
    pub(crate) async fn catalog_of(&self, listings: &[Listing], every_copy: bool) -> Catalog {
        let mut holders: BTreeMap<ManifestName, Vec<usize>> = BTreeMap::new();
        for (i, list) in listings.iter().enumerate() {
            for l in &list.objects {
                if let Object::Manifest(name) = &l.object {
                    holders.entry(*name).or_default().push(i);
                }
            }
        }
        let mut catalog = Catalog::default();
        for (name, stores) in holders {
            let object = Object::Manifest(name);
            let mut last = String::new();
            let mut got: Option<(Manifest, usize)> = None;
            for i in stores {
                match self.store(i).read(&object, MAX_MANIFEST).await {
                    Ok(b) => match self.trusted(&b) {
                        Ok(m) if ManifestName::of_key(&m.key) == name => match &got {
                            None => {
                                got = Some((m, i));
                                if !every_copy {
                                    break;
                                }
                            }
                            Some((first, at)) if *first != m => {
                                catalog.conflicts.push(format!(
                                    "{}: the manifest copies on {} and {} disagree",
                                    Printable(&m.key),
                                    self.name(*at),
                                    self.name(i)
                                ));
                            }
                            Some(_) => {}
                        },
                        Ok(m) => {
                            last = format!(
                                "{} holds the manifest of {} under the wrong name",
                                self.name(i),
                                Printable(&m.key)
                            )
                        }
                        Err(e) => last = format!("{}: {e}", self.name(i)),
                    },
                    Err(e) => last = format!("{}: {e}", self.name(i)),
                }
            }
            match got {
                Some((m, _)) => {
                    catalog.manifests.insert(m.key.clone(), m);
                }
                None => catalog.unreadable.push((object.to_string(), last)),
            }
        }
        catalog
    }
}
