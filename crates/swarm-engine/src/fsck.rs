//! fsck and repair: how healthy each key is, and bringing it back to full health.
//!
//! Health is how many more stores may be lost before a key is lost: the least, over its chunks,
//! of good shards minus k, and of manifest copies minus one (each store holds at most one shard
//! of a chunk, so one lost store costs each chunk at most one shard).

use bytes::Bytes;
use futures::StreamExt;
use futures::future::join_all;
use serde::Serialize;
use swarm_core::erasure::Coding;
use swarm_core::ids::Hash32;
use swarm_core::key::{Key, Printable};
use swarm_core::manifest::{Body, ChunkRecord, Manifest};
use swarm_store::layout;

use crate::progress::Observer;
use crate::swarm::{FaultKind, ShardFault};
use crate::{EngineError, Swarm, cpu};

const KEYS_IN_FLIGHT: usize = 4;

#[derive(Debug, Clone, Serialize)]
pub struct KeyHealth {
    pub key: String,
    pub size: u64,
    pub chunks: usize,
    pub shards_expected: usize,
    pub shards_healthy: usize,
    pub manifest_copies: usize,
    pub restorable: bool,
    /// Stores that may still be lost without losing the key; negative when already lost.
    pub spare: i64,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepairReport {
    pub key: String,
    pub shards_rewritten: usize,
    pub manifests_rewritten: usize,
    pub before: KeyHealth,
    pub after: Option<KeyHealth>,
    pub error: Option<String>,
}

/// Where each shard of each chunk was found healthy (store index), and what was wrong.
struct Survey {
    manifest: Manifest,
    found: Vec<Vec<Option<usize>>>,
    /// (chunk, shard, store) of copies that exist but failed their hash.
    corrupt: Vec<(usize, usize, usize)>,
    manifest_at: Vec<usize>,
    problems: Vec<String>,
}

impl Swarm {
    /// Health of the given keys (every key in the swarm when `keys` is empty). With `verify`,
    /// shard contents are read and hashed, not just found.
    pub async fn fsck(
        &self,
        keys: &[Key],
        verify: bool,
        obs: &dyn Observer,
    ) -> Result<Vec<KeyHealth>, EngineError> {
        let (keys, unreadable) = self.keys_or_all(keys).await?;
        obs.start("fsck", keys.len() as u64);
        let mut out: Vec<KeyHealth> = futures::stream::iter(keys)
            .map(|key| async move {
                let h = match self.survey(&key, verify).await {
                    Ok(s) => self.health(&s),
                    Err(e) => missing(&key, e.to_string()),
                };
                obs.advance(1);
                h
            })
            .buffered(KEYS_IN_FLIGHT)
            .collect()
            .await;
        out.extend(
            unreadable
                .into_iter()
                .map(|(name, why)| missing(name.as_bytes(), why)),
        );
        obs.finish();
        Ok(out)
    }

    /// Re-creates missing or corrupt shards and manifest copies of the given keys (all when empty).
    pub async fn repair(
        &self,
        keys: &[Key],
        obs: &dyn Observer,
    ) -> Result<Vec<RepairReport>, EngineError> {
        let (keys, unreadable) = self.keys_or_all(keys).await?;
        obs.start("repair", keys.len() as u64);
        let mut out = Vec::new();
        for key in keys {
            out.push(self.repair_key(&key).await);
            obs.advance(1);
        }
        for (name, why) in unreadable {
            out.push(RepairReport {
                key: name.clone(),
                shards_rewritten: 0,
                manifests_rewritten: 0,
                before: missing(name.as_bytes(), why.clone()),
                after: None,
                error: Some(format!(
                    "cannot repair: no readable copy of its manifest ({why})"
                )),
            });
        }
        obs.finish();
        Ok(out)
    }

    /// The bytes of the keys asked for, or of every key with a readable manifest plus, for each
    /// manifest no store could give a valid copy of, a name ("unreadable manifest PATH") and why.
    async fn keys_or_all(
        &self,
        keys: &[Key],
    ) -> Result<(Vec<Vec<u8>>, Vec<(String, String)>), EngineError> {
        if !keys.is_empty() {
            return Ok((
                keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
                Vec::new(),
            ));
        }
        let (manifests, errors) = self.all_manifests().await?;
        let unreadable = errors
            .into_iter()
            .map(|(path, why)| (format!("unreadable manifest {path}"), why))
            .collect();
        Ok((manifests.into_keys().collect(), unreadable))
    }

    async fn survey(&self, key: &[u8], verify: bool) -> Result<Survey, EngineError> {
        let path = layout::manifest_path(key);
        let mut problems = Vec::new();
        let copies = join_all((0..self.slots().len()).filter(|&i| self.up(i)).map(|i| {
            let path = &path;
            async move {
                match self.store(i).read(path).await {
                    Ok(b) => match Manifest::decode(&b) {
                        Ok(m) if m.key == key => Ok((i, m)),
                        Ok(_) => Err(format!("manifest on {}: for another key", self.name(i))),
                        Err(e) => Err(format!("manifest on {}: {e}", self.name(i))),
                    },
                    Err(e) if e.is_not_found() => Err(String::new()),
                    Err(e) => Err(format!("manifest on {}: {e}", self.name(i))),
                }
            }
        }))
        .await;
        let mut manifest_at = Vec::new();
        let mut manifest = None;
        for c in copies {
            match c {
                Ok((i, m)) => {
                    manifest_at.push(i);
                    manifest.get_or_insert(m);
                }
                Err(p) if p.is_empty() => {}
                Err(p) => problems.push(p),
            }
        }
        let manifest = match manifest {
            Some(m) => m,
            // No valid copy: let read_manifest say where it looked and what it found.
            None => self.read_manifest(key).await?,
        };
        let mut found = Vec::new();
        let mut corrupt = Vec::new();
        if let Body::Chunked { coding, chunks, .. } = &manifest.body {
            for (n, record) in chunks.iter().enumerate() {
                let (f, c, p) = self.survey_chunk(*coding, n, record, verify).await;
                found.push(f);
                corrupt.extend(c.into_iter().map(|(i, s)| (n, i, s)));
                problems.extend(p);
            }
        }
        Ok(Survey {
            manifest,
            found,
            corrupt,
            manifest_at,
            problems,
        })
    }

    async fn survey_chunk(
        &self,
        coding: Coding,
        n: usize,
        record: &ChunkRecord,
        verify: bool,
    ) -> (Vec<Option<usize>>, Vec<(usize, usize)>, Vec<String>) {
        let total = coding.total();
        let places = self.chunk_places(&record.id, total);
        let shard_len = coding.shard_len(record.len as usize) as u64;
        let probe = |store: usize, hash: Hash32| async move {
            let fault = |kind| ShardFault {
                store: self.name(store),
                kind,
            };
            if let Some(why) = &self.slots()[store].down {
                return Err(fault(FaultKind::Unavailable(why.clone())));
            }
            if verify {
                return self.read_shard(store, hash).await.map(|_| ());
            }
            match self.store(store).stat(&layout::shard_path(&hash)).await {
                Ok(Some(m)) if m.size == shard_len => Ok(()),
                Ok(Some(_)) => Err(fault(FaultKind::Corrupt)),
                Ok(None) => Err(fault(FaultKind::Missing)),
                Err(e) => Err(fault(FaultKind::Io(e.to_string()))),
            }
        };
        let primary = join_all(places.preferred.iter().zip(&record.shards).map(
            |(&store, &hash)| async move {
                match store {
                    Some(s) => probe(s, hash).await.map(|()| s),
                    None => Err(ShardFault {
                        store: "(no store)".into(),
                        kind: FaultKind::Missing,
                    }),
                }
            },
        ))
        .await;
        let mut found: Vec<Option<usize>> =
            primary.iter().map(|r| r.as_ref().ok().copied()).collect();
        let mut corrupt = Vec::new();
        let mut problems = Vec::new();
        for (i, r) in primary.into_iter().enumerate() {
            let Err(why) = r else { continue };
            if let (FaultKind::Corrupt, Some(store)) = (&why.kind, places.preferred[i]) {
                corrupt.push((i, store));
            }
            // Look for a copy spilled onto a spare store, or left where an older store list
            // placed it; a store counts once per chunk (losing it loses one shard).
            for other in places.elsewhere(i) {
                if self.up(other)
                    && !found.contains(&Some(other))
                    && probe(other, record.shards[i]).await.is_ok()
                {
                    found[i] = Some(other);
                    break;
                }
            }
            if found[i].is_none() {
                problems.push(format!("chunk {n} shard {i}: {why}"));
            }
        }
        (found, corrupt, problems)
    }

    fn health(&self, s: &Survey) -> KeyHealth {
        let k = i64::from(self.coding_of(&s.manifest).k());
        let copies = s.manifest_at.len();
        let mut spare = copies as i64 - 1;
        let mut healthy = 0;
        let mut expected = 0;
        for chunk in &s.found {
            let good = chunk.iter().flatten().count();
            healthy += good;
            expected += chunk.len();
            spare = spare.min(good as i64 - k);
        }
        KeyHealth {
            key: Printable(&s.manifest.key).to_string(),
            size: s.manifest.size,
            chunks: s.found.len(),
            shards_expected: expected,
            shards_healthy: healthy,
            manifest_copies: copies,
            restorable: spare >= 0,
            spare,
            problems: s.problems.clone(),
        }
    }

    fn coding_of(&self, m: &Manifest) -> Coding {
        match &m.body {
            Body::Chunked { coding, .. } => *coding,
            Body::Inline(_) => self.coding(),
        }
    }

    async fn repair_key(&self, key: &[u8]) -> RepairReport {
        let survey = match self.survey(key, true).await {
            Ok(s) => s,
            Err(e) => {
                let before = missing(key, e.to_string());
                return RepairReport {
                    key: Printable(key).to_string(),
                    shards_rewritten: 0,
                    manifests_rewritten: 0,
                    before,
                    after: None,
                    error: Some(e.to_string()),
                };
            }
        };
        let before = self.health(&survey);
        let mut report = RepairReport {
            key: Printable(key).to_string(),
            shards_rewritten: 0,
            manifests_rewritten: 0,
            before,
            after: None,
            error: None,
        };
        let mut errors = Vec::new();
        if let Body::Chunked { coding, chunks, .. } = &survey.manifest.body {
            for (n, record) in chunks.iter().enumerate() {
                let corrupt: Vec<(usize, usize)> = survey
                    .corrupt
                    .iter()
                    .filter(|c| c.0 == n)
                    .map(|c| (c.1, c.2))
                    .collect();
                match self
                    .repair_chunk(*coding, record, &survey.found[n], &corrupt)
                    .await
                {
                    Ok(w) => report.shards_rewritten += w,
                    Err(e) => errors.push(format!("chunk {n}: {e}")),
                }
            }
        }
        match self.repair_manifest(&survey).await {
            Ok(w) => report.manifests_rewritten = w,
            Err(e) => errors.push(e),
        }
        if !errors.is_empty() {
            report.error = Some(errors.join("; "));
        }
        report.after = Some(match self.survey(key, false).await {
            Ok(s) => self.health(&s),
            Err(e) => missing(key, e.to_string()),
        });
        report
    }

    async fn repair_chunk(
        &self,
        coding: Coding,
        record: &ChunkRecord,
        found: &[Option<usize>],
        corrupt: &[(usize, usize)],
    ) -> Result<usize, String> {
        let missing: Vec<usize> = (0..found.len()).filter(|&i| found[i].is_none()).collect();
        if missing.is_empty() {
            return Ok(0);
        }
        let k = usize::from(coding.k());
        let good: Vec<(usize, usize)> = found
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .collect();
        if good.len() < k {
            return Err(format!("only {} good shards of the {k} needed", good.len()));
        }
        let reads = join_all(
            good.iter()
                .take(k)
                .map(|&(i, s)| async move { (i, self.read_shard(s, record.shards[i]).await) }),
        )
        .await;
        let mut shards: Vec<Option<Bytes>> = vec![None; found.len()];
        for (i, r) in reads {
            shards[i] = Some(r.map_err(|e| e.to_string())?);
        }
        let len = record.len as usize;
        let id = record.id;
        let expected = record.shards.clone();
        let to_check = missing.clone();
        let all = cpu(move || -> Result<Vec<Bytes>, String> {
            let chunk = coding.decode(len, &shards).map_err(|e| e.to_string())?;
            if Hash32::of(&chunk) != id {
                return Err("restored chunk does not match its id".into());
            }
            let all = coding.encode(&chunk).map_err(|e| e.to_string())?;
            if let Some(i) = to_check
                .into_iter()
                .find(|&i| Hash32::of(&all[i]) != expected[i])
            {
                return Err(format!("re-encoded shard {i} does not match the manifest"));
            }
            Ok(all)
        })
        .await?;
        let places = self.chunk_places(&record.id, coding.total());
        let mut holders: Vec<usize> = found.iter().flatten().copied().collect();
        let mut written = 0;
        for i in missing {
            let path = layout::shard_path(&record.shards[i]);
            let targets = places.preferred[i]
                .into_iter()
                .chain(places.spares.iter().copied());
            let mut done = false;
            for t in targets {
                if !self.up(t) || holders.contains(&t) {
                    continue;
                }
                if self
                    .write_within_quota(t, &path, all[i].clone())
                    .await
                    .is_ok()
                {
                    holders.push(t);
                    written += 1;
                    done = true;
                    break;
                }
            }
            if !done {
                return Err(format!("no store could take shard {i}"));
            }
            // A corrupt copy left on a store that did not get the new one is garbage now.
            for &(ci, cs) in corrupt {
                if ci == i && !holders.contains(&cs) {
                    let _ = self.store(cs).delete(&path).await;
                }
            }
        }
        Ok(written)
    }

    async fn repair_manifest(&self, survey: &Survey) -> Result<usize, String> {
        let want = self.manifest_copies();
        if survey.manifest_at.len() >= want {
            return Ok(0);
        }
        let bytes = Bytes::from(survey.manifest.encode().map_err(|e| e.to_string())?);
        let path = layout::manifest_path(&survey.manifest.key);
        let mut have = survey.manifest_at.len();
        let mut written = 0;
        for i in self.manifest_ranking(&survey.manifest.key) {
            if have >= want {
                break;
            }
            if !self.up(i) || survey.manifest_at.contains(&i) {
                continue;
            }
            if self
                .write_within_quota(i, &path, bytes.clone())
                .await
                .is_ok()
            {
                have += 1;
                written += 1;
            }
        }
        if have < want {
            return Err(format!(
                "manifest: {have} of {want} copies; not enough stores up"
            ));
        }
        Ok(written)
    }
}

fn missing(key: &[u8], why: String) -> KeyHealth {
    KeyHealth {
        key: Printable(key).to_string(),
        size: 0,
        chunks: 0,
        shards_expected: 0,
        shards_healthy: 0,
        manifest_copies: 0,
        restorable: false,
        spare: -1,
        problems: vec![why],
    }
}
