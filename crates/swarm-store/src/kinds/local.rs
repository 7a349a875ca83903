//! A store in a local directory (a disk, a USB drive, a mounted share).
//!
//! The directory must carry the marker written by `init`: an empty mount point (a USB disk that
//! is not plugged in) is then "unavailable" rather than silently filled. Writes go to `tmp/` and
//! are renamed into place, so a reader never sees half an object. Blocking file I/O runs on
//! tokio's blocking pool, never on the reactor.

use std::io::{self, ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use swarm_core::buffers;
use swarm_core::ids::{StoreId, SwarmId};

use crate::error::{StoreError, Unavailable};
use crate::layout;
use crate::marker;
use crate::object::{Class, Listed, Listing, Object, ObjectMeta};
use crate::store::{BoxFut, StoreAdmin, StoreRead};

#[derive(Debug, Clone)]
pub struct LocalStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: StoreId,
    root: PathBuf,
    swarm: SwarmId,
    /// Makes staging names unique within this process.
    counter: AtomicU64,
}

impl LocalStore {
    pub fn new(id: StoreId, root: PathBuf, swarm: SwarmId) -> Self {
        LocalStore {
            inner: Arc::new(Inner {
                id,
                root,
                swarm,
                counter: AtomicU64::new(0),
            }),
        }
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }
}

impl Inner {
    fn full(&self, object: &Object) -> PathBuf {
        self.root.join(layout::path(object))
    }

    fn io(&self, op: &'static str, object: &Object, e: io::Error) -> StoreError {
        if e.kind() == ErrorKind::NotFound {
            if !self.root.is_dir() {
                return self.absent();
            }
            StoreError::NotFound {
                store: self.id.clone(),
                object: object.clone(),
            }
        } else {
            StoreError::Io {
                store: self.id.clone(),
                op,
                object: object.to_string(),
                source: e,
                transient: false,
            }
        }
    }

    fn absent(&self) -> StoreError {
        StoreError::Unavailable {
            store: self.id.clone(),
            why: Unavailable::Absent(format!("{} does not exist", self.root.display())),
        }
    }

    fn read_sync(&self, object: &Object, max: u64) -> Result<Bytes, StoreError> {
        let io = |e| self.io("read", object, e);
        let file = std::fs::File::open(self.full(object)).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > max {
            return Err(StoreError::TooLarge {
                store: self.id.clone(),
                object: object.clone(),
                max,
            });
        }
        // Shards are read by the thousand: pooled buffers, not fresh ones that fault in every
        // page. `take` bounds what a file that grows (or is not a file) can make us hold.
        let mut buf = buffers::SHARDS.take(len as usize);
        file.take(max + 1).read_to_end(&mut buf).map_err(io)?;
        if buf.len() as u64 > max {
            return Err(StoreError::TooLarge {
                store: self.id.clone(),
                object: object.clone(),
                max,
            });
        }
        Ok(buffers::SHARDS.freeze(buf))
    }

    fn read_range_sync(&self, object: &Object, offset: u64, len: u64) -> Result<Bytes, StoreError> {
        use std::io::{Seek, SeekFrom};
        let io = |e| self.io("read", object, e);
        let mut f = std::fs::File::open(self.full(object)).map_err(io)?;
        let size = f.metadata().map_err(io)?.len();
        let end = offset.saturating_add(len).min(size);
        let mut buf = vec![0; end.saturating_sub(offset) as usize];
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(io)?;
        Ok(Bytes::from(buf))
    }

    fn write_sync(&self, object: &Object, data: &[u8]) -> Result<(), StoreError> {
        if !self.root.is_dir() {
            return Err(self.absent());
        }
        let dest = self.full(object);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let staged = Object::Staging(layout::staging_name(object, n));
        let tmp = self.full(&staged);
        let io = |e| self.io("write", object, e);
        // A write that fails part-way (a full disk) must not leave its staged file behind.
        let write = |p: &Path| {
            std::fs::write(p, data).inspect_err(|_| {
                let _ = std::fs::remove_file(p);
            })
        };
        if let Err(e) = write(&tmp) {
            if e.kind() != ErrorKind::NotFound {
                return Err(io(e));
            }
            std::fs::create_dir_all(self.root.join(layout::TMP)).map_err(io)?;
            write(&tmp).map_err(io)?;
        }
        let rename = || std::fs::rename(&tmp, &dest);
        let result = match rename() {
            Err(e) if e.kind() == ErrorKind::NotFound => match dest.parent() {
                Some(parent) => std::fs::create_dir_all(parent).and_then(|()| rename()),
                None => Err(e),
            },
            other => other,
        };
        result.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }

    fn stat_sync(&self, object: &Object) -> Result<Option<ObjectMeta>, StoreError> {
        match std::fs::metadata(self.full(object)) {
            Ok(m) => Ok(Some(to_meta(&m))),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if self.root.is_dir() {
                    Ok(None)
                } else {
                    Err(self.absent())
                }
            }
            Err(e) => Err(self.io("stat", object, e)),
        }
    }

    fn touch_sync(&self, object: &Object) -> Result<(), StoreError> {
        std::fs::File::options()
            .append(true)
            .open(self.full(object))
            .and_then(|f| f.set_modified(SystemTime::now()))
            .map_err(|e| self.io("touch", object, e))
    }

    fn delete_sync(&self, object: &Object) -> Result<(), StoreError> {
        match std::fs::remove_file(self.full(object)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io("delete", object, e)),
        }
    }

    fn list_sync(&self, class: Class) -> Result<Listing, StoreError> {
        if !self.root.is_dir() {
            return Err(self.absent());
        }
        let dir = layout::dir(class);
        let list_err = |e: io::Error, rel: &str| StoreError::Io {
            store: self.id.clone(),
            op: "list",
            object: rel.to_owned(),
            source: e,
            transient: false,
        };
        let mut out = Listing::default();
        let mut stack = vec![(self.root.join(dir), dir.to_owned())];
        while let Some((abs, rel)) = stack.pop() {
            let entries = match std::fs::read_dir(&abs) {
                Ok(e) => e,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(list_err(e, &rel)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| list_err(e, &rel))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = format!("{rel}/{name}");
                let meta = entry.metadata().map_err(|e| list_err(e, &child))?;
                if meta.is_dir() {
                    stack.push((entry.path(), child));
                } else {
                    match layout::parse(class, &child) {
                        Some(object) => out.objects.push(Listed {
                            object,
                            meta: to_meta(&meta),
                        }),
                        None => out.strays.push(child),
                    }
                }
            }
        }
        Ok(out)
    }

    fn prepare_sync(&self) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.root).map_err(|e| StoreError::Io {
            store: self.id.clone(),
            op: "create",
            object: self.root.display().to_string(),
            source: e,
            transient: false,
        })
    }

    fn free_space_sync(&self) -> Result<Option<u64>, StoreError> {
        match rustix::fs::statvfs(&self.root) {
            Ok(v) => Ok(Some(v.f_bavail.saturating_mul(v.f_frsize))),
            Err(e) => Err(StoreError::Io {
                store: self.id.clone(),
                op: "statvfs",
                object: self.root.display().to_string(),
                source: e.into(),
                transient: false,
            }),
        }
    }
}

fn to_meta(m: &std::fs::Metadata) -> ObjectMeta {
    ObjectMeta {
        size: m.len(),
        modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    }
}

/// Runs blocking file work on tokio's blocking pool (I/O, not the engine's CPU pool).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

macro_rules! on_pool {
    ($self:ident, |$s:ident| $body:expr) => {{
        let $s = Arc::clone(&$self.inner);
        Box::pin(blocking(move || $body))
    }};
}

impl StoreRead for LocalStore {
    fn id(&self) -> &StoreId {
        &self.inner.id
    }

    fn kind(&self) -> &'static str {
        "local"
    }

    fn read<'a>(&'a self, object: &'a Object, max: u64) -> BoxFut<'a, Result<Bytes, StoreError>> {
        let object = object.clone();
        on_pool!(self, |s| s.read_sync(&object, max))
    }

    fn read_range<'a>(
        &'a self,
        object: &'a Object,
        offset: u64,
        len: u64,
    ) -> BoxFut<'a, Result<Bytes, StoreError>> {
        let object = object.clone();
        on_pool!(self, |s| s.read_range_sync(&object, offset, len))
    }

    fn stat<'a>(
        &'a self,
        object: &'a Object,
    ) -> BoxFut<'a, Result<Option<ObjectMeta>, StoreError>> {
        let object = object.clone();
        on_pool!(self, |s| s.stat_sync(&object))
    }
}

impl StoreAdmin for LocalStore {
    fn write<'a>(&'a self, object: &'a Object, data: Bytes) -> BoxFut<'a, Result<(), StoreError>> {
        let object = object.clone();
        on_pool!(self, |s| s.write_sync(&object, &data))
    }

    fn touch<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        let object = object.clone();
        on_pool!(self, |s| s.touch_sync(&object))
    }

    fn delete<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        let object = object.clone();
        on_pool!(self, |s| s.delete_sync(&object))
    }

    fn list(&self, class: Class) -> BoxFut<'_, Result<Listing, StoreError>> {
        on_pool!(self, |s| s.list_sync(class))
    }

    fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let s = Arc::clone(&self.inner);
            blocking(move || s.prepare_sync()).await?;
            let place = self.inner.root.display().to_string();
            marker::create(self, &self.inner.swarm, &place).await
        })
    }

    fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let place = self.inner.root.display().to_string();
            marker::check(self, &self.inner.swarm, &place).await
        })
    }

    fn free_space(&self) -> BoxFut<'_, Result<Option<u64>, StoreError>> {
        on_pool!(self, |s| s.free_space_sync())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use swarm_core::ids::Hash32;

    fn store(dir: &Path) -> LocalStore {
        LocalStore::new("a".parse().unwrap(), dir.join("a"), SwarmId([1; 16]))
    }

    #[tokio::test]
    async fn uninitialised_or_foreign_store_is_unavailable() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        let err = s.check().await.unwrap_err();
        assert!(
            matches!(err.unavailable(), Some(Unavailable::Absent(_))),
            "{err:?}"
        );
        std::fs::create_dir(t.path().join("a")).unwrap();
        let err = s.check().await.unwrap_err();
        assert!(err.to_string().contains("no annex-swarm marker"), "{err}");
        s.create().await.unwrap();
        s.check().await.unwrap();
        let other = LocalStore::new("a".parse().unwrap(), t.path().join("a"), SwarmId([2; 16]));
        let err = other.check().await.unwrap_err();
        assert!(err.to_string().contains("belongs to swarm"), "{err}");
        assert!(
            other.create().await.is_err(),
            "must not adopt another swarm's store"
        );
    }

    #[tokio::test]
    async fn deleted_root_is_not_recreated_by_writes() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        s.create().await.unwrap();
        std::fs::remove_dir_all(t.path().join("a")).unwrap();
        let shard = Object::Shard(Hash32::of(b"1"));
        let err = s.write(&shard, Bytes::from_static(b"1")).await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(!t.path().join("a").exists());
        assert!(s.read(&shard, 10).await.unwrap_err().is_unavailable());
    }

    #[tokio::test]
    async fn reads_are_capped_at_what_is_expected() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        s.create().await.unwrap();
        let shard = Object::Shard(Hash32::of(b"x"));
        s.write(&shard, Bytes::from(vec![7u8; 1000])).await.unwrap();
        assert_eq!(s.read(&shard, 1000).await.unwrap().len(), 1000);
        let err = s.read(&shard, 999).await.unwrap_err();
        assert!(
            matches!(err, StoreError::TooLarge { max: 999, .. }),
            "{err}"
        );
    }
}
