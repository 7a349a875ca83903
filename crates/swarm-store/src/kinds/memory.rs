//! A store in memory, for tests only: it passes the same conformance suite as the real kinds,
//! so engine tests can run on it (with [`crate::decorate::Faults`] for misbehaviour). Its
//! objects live as long as the value; clones share them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::Bytes;
use swarm_core::ids::{StoreId, SwarmId};

use crate::error::StoreError;
use crate::marker;
use crate::object::{Class, Listed, Listing, Object, ObjectMeta};
use crate::store::{BoxFut, StoreAdmin, StoreRead};

#[derive(Debug, Clone)]
pub struct MemoryStore {
    id: StoreId,
    swarm: SwarmId,
    objects: Arc<Mutex<HashMap<Object, (Bytes, SystemTime)>>>,
}

impl MemoryStore {
    pub fn new(id: StoreId, swarm: SwarmId) -> Self {
        MemoryStore {
            id,
            swarm,
            objects: Arc::default(),
        }
    }

    /// The same objects, as seen by a store of another swarm (tests of foreign markers).
    pub fn seen_by(&self, swarm: SwarmId) -> Self {
        MemoryStore {
            id: self.id.clone(),
            swarm,
            objects: Arc::clone(&self.objects),
        }
    }

    fn objects(&self) -> MutexGuard<'_, HashMap<Object, (Bytes, SystemTime)>> {
        // A panicking test thread cannot leave the map half-changed: each use is one call.
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn not_found(&self, object: &Object) -> StoreError {
        StoreError::NotFound {
            store: self.id.clone(),
            object: object.clone(),
        }
    }

    /// Sets an object's modification time (tests of grace periods).
    pub fn set_modified(&self, object: &Object, when: SystemTime) {
        if let Some(entry) = self.objects().get_mut(object) {
            entry.1 = when;
        }
    }
}

fn ready<'a, T: Send + 'a>(v: T) -> BoxFut<'a, T> {
    Box::pin(async move { v })
}

impl StoreRead for MemoryStore {
    fn id(&self) -> &StoreId {
        &self.id
    }

    fn kind(&self) -> &'static str {
        "memory"
    }

    fn read<'a>(&'a self, object: &'a Object, max: u64) -> BoxFut<'a, Result<Bytes, StoreError>> {
        let found = self.objects().get(object).map(|(b, _)| b.clone());
        ready(match found {
            Some(b) if b.len() as u64 > max => Err(StoreError::TooLarge {
                store: self.id.clone(),
                object: object.clone(),
                max,
            }),
            Some(b) => Ok(b),
            None => Err(self.not_found(object)),
        })
    }

    fn read_range<'a>(
        &'a self,
        object: &'a Object,
        offset: u64,
        len: u64,
    ) -> BoxFut<'a, Result<Bytes, StoreError>> {
        let found = self.objects().get(object).map(|(b, _)| b.clone());
        ready(match found {
            Some(b) => {
                let start = offset.min(b.len() as u64) as usize;
                let end = offset.saturating_add(len).min(b.len() as u64) as usize;
                Ok(b.slice(start..end))
            }
            None => Err(self.not_found(object)),
        })
    }

    fn stat<'a>(
        &'a self,
        object: &'a Object,
    ) -> BoxFut<'a, Result<Option<ObjectMeta>, StoreError>> {
        let meta = self.objects().get(object).map(|(b, t)| ObjectMeta {
            size: b.len() as u64,
            modified: *t,
        });
        ready(Ok(meta))
    }
}

impl StoreAdmin for MemoryStore {
    fn write<'a>(&'a self, object: &'a Object, data: Bytes) -> BoxFut<'a, Result<(), StoreError>> {
        self.objects()
            .insert(object.clone(), (data, SystemTime::now()));
        ready(Ok(()))
    }

    fn touch<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        let result = match self.objects().get_mut(object) {
            Some(entry) => {
                entry.1 = SystemTime::now();
                Ok(())
            }
            None => Err(self.not_found(object)),
        };
        ready(result)
    }

    fn delete<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        self.objects().remove(object);
        ready(Ok(()))
    }

    fn list(&self, class: Class) -> BoxFut<'_, Result<Listing, StoreError>> {
        let objects = self
            .objects()
            .iter()
            .filter(|(o, _)| o.class() == Some(class))
            .map(|(o, (b, t))| Listed {
                object: o.clone(),
                meta: ObjectMeta {
                    size: b.len() as u64,
                    modified: *t,
                },
            })
            .collect();
        ready(Ok(Listing {
            objects,
            strays: Vec::new(),
        }))
    }

    fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(async move { marker::create(self, &self.swarm, "memory").await })
    }

    fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(async move { marker::check(self, &self.swarm, "memory").await })
    }
}
