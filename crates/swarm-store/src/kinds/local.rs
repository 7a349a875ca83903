//! A store in a local directory (a disk, a USB drive, a mounted share).
//!
//! The directory must carry the marker written by `init`: an empty mount point (a USB disk that
//! is not plugged in) is then "unavailable" rather than silently filled. Writes go to `tmp/` and
//! are renamed into place, so a reader never sees half an object. Blocking file I/O runs on
//! tokio's blocking pool.

use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use swarm_core::buffers;
use swarm_core::ids::{StoreId, SwarmId};

use crate::layout::{MARKER, TMP, check_object_path};
use crate::marker::Marker;
use crate::{BoxFut, Listed, ObjectMeta, Store, StoreError};

#[derive(Debug, Clone)]
pub struct LocalStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: StoreId,
    root: PathBuf,
    swarm: SwarmId,
    /// Makes temp file names unique within this process.
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
}

impl Inner {
    fn full(&self, path: &str) -> Result<PathBuf, StoreError> {
        check_object_path(&self.id, path)?;
        Ok(self.root.join(path))
    }

    fn io(&self, op: &'static str, path: &str, e: io::Error) -> StoreError {
        if e.kind() == ErrorKind::NotFound {
            StoreError::NotFound {
                store: self.id.to_string(),
                path: path.to_owned(),
            }
        } else {
            StoreError::Io {
                store: self.id.to_string(),
                op,
                path: path.to_owned(),
                source: e,
            }
        }
    }

    fn unavailable(&self, reason: String) -> StoreError {
        StoreError::Unavailable {
            store: self.id.to_string(),
            reason,
        }
    }

    fn marker(&self) -> Marker {
        Marker::new(&self.swarm, &self.id)
    }

    fn check_sync(&self) -> Result<(), StoreError> {
        let path = self.root.join(MARKER);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let what = if self.root.is_dir() {
                    "has no annex-swarm marker (not initialised, or a mount point with the disk absent)"
                } else {
                    "does not exist"
                };
                return Err(self.unavailable(format!("{} {what}", self.root.display())));
            }
            Err(e) => return Err(self.unavailable(format!("cannot read {}: {e}", path.display()))),
        };
        self.marker()
            .check(&self.id, &text, &self.root.display().to_string())
    }

    fn create_sync(&self) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.root)
            .map_err(|e| self.io("create", &self.root.display().to_string(), e))?;
        match self.check_sync() {
            Ok(()) => Ok(()),
            Err(StoreError::Unavailable { .. }) if !self.root.join(MARKER).exists() => {
                self.write_sync(MARKER, &self.marker().encode())
            }
            Err(e) => Err(e),
        }
    }

    fn write_sync(&self, path: &str, data: &[u8]) -> Result<(), StoreError> {
        let dest = self.full(path)?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp_dir = self.root.join(TMP);
        let tmp = tmp_dir.join(format!(
            "{}.{}.{n}",
            std::process::id(),
            dest.file_name().and_then(|s| s.to_str()).unwrap_or("obj")
        ));
        if !self.root.is_dir() {
            return Err(self.unavailable(format!("{} does not exist", self.root.display())));
        }
        // A write that fails part-way (a full disk) must not leave its staged file behind.
        let write = |p: &Path| {
            std::fs::write(p, data).inspect_err(|_| {
                let _ = std::fs::remove_file(p);
            })
        };
        if let Err(e) = write(&tmp) {
            if e.kind() != ErrorKind::NotFound {
                return Err(self.io("write", path, e));
            }
            std::fs::create_dir_all(&tmp_dir).map_err(|e| self.io("create", TMP, e))?;
            write(&tmp).map_err(|e| self.io("write", path, e))?;
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
            self.io("write", path, e)
        })
    }

    fn list_sync(&self, dir: &str) -> Result<Vec<Listed>, StoreError> {
        let base = self.full(dir)?;
        let mut out = Vec::new();
        let mut stack = vec![(base, dir.to_owned())];
        while let Some((abs, rel)) = stack.pop() {
            let entries = match std::fs::read_dir(&abs) {
                Ok(e) => e,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io("list", &rel, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| self.io("list", &rel, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = format!("{rel}/{name}");
                let meta = entry.metadata().map_err(|e| self.io("stat", &child, e))?;
                if meta.is_dir() {
                    stack.push((entry.path(), child));
                } else {
                    out.push(Listed {
                        path: child,
                        meta: to_meta(&meta),
                    });
                }
            }
        }
        Ok(out)
    }
}

/// Reads a whole file into a pooled buffer (shards are read by the thousand; fresh buffers
/// would fault in every page).
fn read_pooled(path: &Path) -> io::Result<Bytes> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len() as usize;
    let mut buf = buffers::SHARDS.take(len);
    file.read_to_end(&mut buf)?;
    Ok(buffers::SHARDS.freeze(buf))
}

fn to_meta(m: &std::fs::Metadata) -> ObjectMeta {
    ObjectMeta {
        size: m.len(),
        modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    }
}

/// Runs blocking file work on tokio's blocking pool.
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

impl Store for LocalStore {
    fn id(&self) -> &StoreId {
        &self.inner.id
    }

    fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
        on_pool!(self, |s| s.create_sync())
    }

    fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
        on_pool!(self, |s| s.check_sync())
    }

    fn read(&self, path: &str) -> BoxFut<'_, Result<Bytes, StoreError>> {
        let path = path.to_owned();
        on_pool!(self, |s| {
            let full = s.full(&path)?;
            read_pooled(&full).map_err(|e| s.io("read", &path, e))
        })
    }

    fn write(&self, path: &str, data: Bytes) -> BoxFut<'_, Result<(), StoreError>> {
        let path = path.to_owned();
        on_pool!(self, |s| s.write_sync(&path, &data))
    }

    fn stat(&self, path: &str) -> BoxFut<'_, Result<Option<ObjectMeta>, StoreError>> {
        let path = path.to_owned();
        on_pool!(self, |s| match std::fs::metadata(s.full(&path)?) {
            Ok(m) => Ok(Some(to_meta(&m))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(s.io("stat", &path, e)),
        })
    }

    fn touch(&self, path: &str) -> BoxFut<'_, Result<(), StoreError>> {
        let path = path.to_owned();
        on_pool!(self, |s| {
            let full = s.full(&path)?;
            std::fs::File::options()
                .append(true)
                .open(full)
                .and_then(|f| f.set_modified(SystemTime::now()))
                .map_err(|e| s.io("touch", &path, e))
        })
    }

    fn delete(&self, path: &str) -> BoxFut<'_, Result<(), StoreError>> {
        let path = path.to_owned();
        on_pool!(self, |s| match std::fs::remove_file(s.full(&path)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(s.io("delete", &path, e)),
        })
    }

    fn list(&self, dir: &str) -> BoxFut<'_, Result<Vec<Listed>, StoreError>> {
        let dir = dir.to_owned();
        on_pool!(self, |s| s.list_sync(&dir))
    }

    fn read_range(
        &self,
        path: &str,
        offset: u64,
        len: u64,
    ) -> BoxFut<'_, Result<Bytes, StoreError>> {
        let path = path.to_owned();
        on_pool!(self, |s| {
            use std::io::{Read, Seek, SeekFrom};
            let full = s.full(&path)?;
            let mut f = std::fs::File::open(full).map_err(|e| s.io("read", &path, e))?;
            let size = f.metadata().map_err(|e| s.io("read", &path, e))?.len();
            let end = offset.saturating_add(len).min(size);
            let mut buf = vec![0; end.saturating_sub(offset) as usize];
            f.seek(SeekFrom::Start(offset))
                .and_then(|_| f.read_exact(&mut buf))
                .map_err(|e| s.io("read", &path, e))?;
            Ok(Bytes::from(buf))
        })
    }

    fn free_space(&self) -> BoxFut<'_, Result<Option<u64>, StoreError>> {
        on_pool!(self, |s| {
            match rustix::fs::statvfs(&s.root) {
                Ok(v) => Ok(Some(v.f_bavail.saturating_mul(v.f_frsize))),
                Err(e) => Err(s.io("statvfs", ".", e.into())),
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::layout;

    fn store(dir: &Path) -> LocalStore {
        LocalStore::new("a".parse().unwrap(), dir.join("a"), SwarmId([1; 16]))
    }

    #[tokio::test]
    async fn uninitialised_or_foreign_store_is_unavailable() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        assert!(s.check().await.unwrap_err().is_unavailable());
        std::fs::create_dir(t.path().join("a")).unwrap();
        let err = s.check().await.unwrap_err();
        assert!(err.to_string().contains("no annex-swarm marker"), "{err}");
        s.create().await.unwrap();
        s.check().await.unwrap();
        let other = LocalStore::new("a".parse().unwrap(), t.path().join("a"), SwarmId([2; 16]));
        assert!(
            other
                .check()
                .await
                .unwrap_err()
                .to_string()
                .contains("belongs to swarm")
        );
        assert!(
            other.create().await.is_err(),
            "must not adopt another swarm's store"
        );
    }

    #[tokio::test]
    async fn objects_round_trip_and_vanish() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        s.create().await.unwrap();
        let p = layout::shard_path(&swarm_core::ids::Hash32::of(b"x"));
        assert!(s.read(&p).await.unwrap_err().is_not_found());
        assert_eq!(s.stat(&p).await.unwrap(), None);
        s.write(&p, Bytes::from_static(b"hello")).await.unwrap();
        assert_eq!(&s.read(&p).await.unwrap()[..], b"hello");
        assert_eq!(s.stat(&p).await.unwrap().unwrap().size, 5);
        s.touch(&p).await.unwrap();
        let listed = s.list(layout::SHARDS).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].path, p);
        s.delete(&p).await.unwrap();
        s.delete(&p).await.unwrap();
        assert!(s.list(layout::SHARDS).await.unwrap().is_empty());
        assert!(
            s.list(layout::TMP).await.unwrap().is_empty(),
            "temp files left behind"
        );
    }

    #[tokio::test]
    async fn deleted_root_is_not_recreated_by_writes() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        s.create().await.unwrap();
        std::fs::remove_dir_all(t.path().join("a")).unwrap();
        assert!(
            s.write("shards/00/x", Bytes::from_static(b"1"))
                .await
                .is_err()
        );
        assert!(!t.path().join("a").exists());
        assert!(s.read("../../etc/passwd").await.is_err());
    }
}
