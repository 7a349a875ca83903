//! A store in a local directory (a disk, a USB drive, a mounted share).
//!
//! The directory must carry the marker written by `init`: an empty mount point (a USB disk that
//! is not plugged in) is then "unavailable" rather than silently filled. Writes go to `tmp/` and
//! are renamed into place, so a reader never sees half an object. Every path is walked inside
//! the store without following links (`beneath.rs`): a link or a FIFO planted in the store is
//! reported as a stray, never followed, read or deleted. Blocking file I/O runs on tokio's
//! blocking pool, never on the reactor.

mod beneath;

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
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
use beneath::Fault;

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
    fn absent(&self) -> StoreError {
        StoreError::Unavailable {
            store: self.id.clone(),
            why: Unavailable::Absent(format!("{} does not exist", self.root.display())),
        }
    }

    fn io(&self, op: &'static str, what: &str, e: io::Error) -> StoreError {
        StoreError::Io {
            store: self.id.clone(),
            op,
            object: what.to_owned(),
            source: e,
            transient: false,
        }
    }

    /// A fault at `object`: missing (the object, or the whole store), a stray, or an error.
    fn fault(&self, op: &'static str, object: &Object, f: Fault) -> StoreError {
        match f {
            Fault::Missing if !self.root.is_dir() => self.absent(),
            Fault::Missing => StoreError::NotFound {
                store: self.id.clone(),
                object: object.clone(),
            },
            Fault::Stray(what) => StoreError::Stray {
                store: self.id.clone(),
                object: object.to_string(),
                what: what.to_owned(),
            },
            Fault::Io(e) => self.io(op, &object.to_string(), e),
        }
    }

    fn root_fd(&self) -> Result<OwnedFd, StoreError> {
        beneath::root(&self.root).map_err(|f| match f {
            Fault::Missing | Fault::Stray(_) => self.absent(),
            Fault::Io(e) => self.io("open", &self.root.display().to_string(), e),
        })
    }

    /// The directory holding `object` (created when `create`), and the object's file name.
    fn place(&self, object: &Object, create: bool) -> Result<(OwnedFd, String), Fault> {
        let path = layout::path(object);
        let mut parts: Vec<&str> = path.split('/').collect();
        let name = parts.pop().unwrap_or_default().to_owned();
        let root = beneath::root(&self.root)?;
        Ok((beneath::dir(&root, &parts, create)?, name))
    }

    fn read_sync(&self, object: &Object, max: u64) -> Result<Bytes, StoreError> {
        let fault = |f| self.fault("read", object, f);
        let (dir, name) = self.place(object, false).map_err(fault)?;
        let file = beneath::open_file(&dir, &name).map_err(fault)?;
        let io = |e| self.io("read", &object.to_string(), e);
        let len = file.metadata().map_err(io)?.len();
        let too_large = || StoreError::TooLarge {
            store: self.id.clone(),
            object: object.clone(),
            max,
        };
        if len > max {
            return Err(too_large());
        }
        // Shards are read by the thousand: pooled buffers, not fresh ones that fault in every
        // page. `take` bounds what a file that grows under us can make us hold.
        let mut buf = buffers::SHARDS.take(len as usize);
        file.take(max + 1).read_to_end(&mut buf).map_err(io)?;
        if buf.len() as u64 > max {
            return Err(too_large());
        }
        Ok(buffers::SHARDS.freeze(buf))
    }

    fn read_range_sync(&self, object: &Object, offset: u64, len: u64) -> Result<Bytes, StoreError> {
        use std::io::{Seek, SeekFrom};
        let fault = |f| self.fault("read", object, f);
        let (dir, name) = self.place(object, false).map_err(fault)?;
        let mut f = beneath::open_file(&dir, &name).map_err(fault)?;
        let io = |e| self.io("read", &object.to_string(), e);
        let size = f.metadata().map_err(io)?.len();
        let end = offset.saturating_add(len).min(size);
        let mut buf = vec![0; end.saturating_sub(offset) as usize];
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(io)?;
        Ok(Bytes::from(buf))
    }

    fn write_sync(&self, object: &Object, data: &[u8]) -> Result<(), StoreError> {
        let root = self.root_fd()?;
        let fault = |f| self.fault("write", object, f);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let staged = layout::staging_name(object, n);
        let tmp = beneath::dir(&root, &[layout::TMP], true).map_err(|f| match f {
            // The staging directory itself is at fault, not the object.
            Fault::Stray(what) => StoreError::Stray {
                store: self.id.clone(),
                object: format!("{}/", layout::TMP),
                what: what.to_owned(),
            },
            f => fault(f),
        })?;
        // Created exclusively, never through a link; removed if writing it fails (a full disk).
        let written = beneath::create_new(&tmp, staged.as_str())
            .and_then(|mut f| f.write_all(data).map_err(Fault::Io));
        if let Err(f) = written {
            let _ = beneath::unlink(&tmp, staged.as_str());
            return Err(fault(f));
        }
        let moved = self
            .place(object, true)
            .and_then(|(dir, name)| beneath::rename(&tmp, staged.as_str(), &dir, &name));
        moved.map_err(|f| {
            let _ = beneath::unlink(&tmp, staged.as_str());
            fault(f)
        })
    }

    fn stat_sync(&self, object: &Object) -> Result<Option<ObjectMeta>, StoreError> {
        let found = self
            .place(object, false)
            .and_then(|(dir, name)| beneath::stat(&dir, &name));
        match found {
            Ok(m) if m.is_file() => Ok(Some(to_meta(&m))),
            Ok(m) => Err(self.fault("stat", object, Fault::Stray(beneath::kind_of(&m)))),
            Err(Fault::Missing) if self.root.is_dir() => Ok(None),
            Err(f) => Err(self.fault("stat", object, f)),
        }
    }

    fn touch_sync(&self, object: &Object) -> Result<(), StoreError> {
        let fault = |f| self.fault("touch", object, f);
        let (dir, name) = self.place(object, false).map_err(fault)?;
        let file = beneath::open_file(&dir, &name).map_err(fault)?;
        file.set_modified(SystemTime::now())
            .map_err(|e| self.io("touch", &object.to_string(), e))
    }

    fn delete_sync(&self, object: &Object) -> Result<(), StoreError> {
        let gone = self
            .place(object, false)
            .and_then(|(dir, name)| beneath::unlink(&dir, &name));
        match gone {
            Ok(()) | Err(Fault::Missing) => Ok(()),
            Err(f) => Err(self.fault("delete", object, f)),
        }
    }

    fn list_sync(&self, class: Class) -> Result<Listing, StoreError> {
        let root = self.root_fd()?;
        let top = layout::dir(class);
        let mut out = Listing::default();
        let base = match beneath::dir(&root, &[top], false) {
            Ok(d) => d,
            Err(Fault::Missing) => return Ok(out),
            Err(Fault::Stray(what)) => {
                out.strays.push(format!("{top} ({what})"));
                return Ok(out);
            }
            Err(Fault::Io(e)) => return Err(self.io("list", top, e)),
        };
        // Manifests and shards sit one fan-out directory down; staged writes and locks at the top.
        let depth = match class {
            Class::Manifests | Class::Shards => 1,
            Class::Staging | Class::Locks => 0,
        };
        self.walk(class, &base, top, depth, &mut out)?;
        Ok(out)
    }

    fn walk(
        &self,
        class: Class,
        dir: &OwnedFd,
        rel: &str,
        depth: usize,
        out: &mut Listing,
    ) -> Result<(), StoreError> {
        let names = beneath::entries(dir).map_err(|f| match f {
            Fault::Io(e) => self.io("list", rel, e),
            _ => self.io("list", rel, io::Error::other("cannot read the directory")),
        })?;
        for name in names {
            let child = format!("{rel}/{name}");
            let meta = match beneath::stat(dir, &name) {
                Ok(m) => m,
                // Gone since the directory was read.
                Err(Fault::Missing) => continue,
                Err(Fault::Stray(what)) => {
                    out.strays.push(format!("{child} ({what})"));
                    continue;
                }
                Err(Fault::Io(e)) => return Err(self.io("stat", &child, e)),
            };
            if meta.is_dir() && depth > 0 {
                match beneath::dir(dir, &[name.as_str()], false) {
                    Ok(sub) => self.walk(class, &sub, &child, depth - 1, out)?,
                    Err(Fault::Missing) => {}
                    Err(Fault::Stray(what)) => out.strays.push(format!("{child} ({what})")),
                    Err(Fault::Io(e)) => return Err(self.io("list", &child, e)),
                }
            } else if meta.is_file() {
                match layout::parse(class, &child) {
                    Some(object) => out.objects.push(Listed {
                        object,
                        meta: to_meta(&meta),
                    }),
                    None => out.strays.push(child),
                }
            } else {
                out.strays
                    .push(format!("{child} ({})", beneath::kind_of(&meta)));
            }
        }
        Ok(())
    }

    fn prepare_sync(&self) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.root)
            .map_err(|e| self.io("create", &self.root.display().to_string(), e))
    }

    fn free_space_sync(&self) -> Result<Option<u64>, StoreError> {
        match rustix::fs::statvfs(&self.root) {
            Ok(v) => Ok(Some(v.f_bavail.saturating_mul(v.f_frsize))),
            Err(e) => Err(self.io("statvfs", &self.root.display().to_string(), e.into())),
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

    /// Issue 11, items 2 and 7: gc deleted, recursively, every old file under the target of a
    /// link that replaced `tmp/`; a shard that was a link to /dev/zero was read whole into
    /// memory, and one that was a FIFO hung the read. Nothing inside a store is followed out of
    /// it: such entries are strays, reported and left alone.
    #[tokio::test]
    async fn links_and_fifos_in_a_store_are_strays_never_followed() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        s.create().await.unwrap();
        let root = t.path().join("a");
        // tmp/ replaced by a link to a directory outside the store.
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("1.2.precious"), b"x").unwrap();
        let _ = std::fs::remove_dir(root.join("tmp"));
        std::os::unix::fs::symlink(&outside, root.join("tmp")).unwrap();
        let l = s.list(Class::Staging).await.unwrap();
        assert!(l.objects.is_empty(), "{l:?}");
        assert_eq!(l.strays, vec!["tmp (a symbolic link)".to_owned()]);
        let name = crate::object::StagingName::new("1.2.precious").unwrap();
        assert!(s.delete(&Object::Staging(name)).await.is_err());
        assert!(outside.join("1.2.precious").exists());
        // A write goes nowhere through it either.
        let shard = Object::Shard(Hash32::of(b"w"));
        assert!(s.write(&shard, Bytes::from_static(b"w")).await.is_err());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
        std::fs::remove_file(root.join("tmp")).unwrap();

        // A shard that is a link (to /dev/zero) and one that is a FIFO.
        let zero = Object::Shard(Hash32::of(b"zero"));
        let fifo = Object::Shard(Hash32::of(b"fifo"));
        for o in [&zero, &fifo] {
            let p = root.join(layout::path(o));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        }
        std::os::unix::fs::symlink("/dev/zero", root.join(layout::path(&zero))).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(root.join(layout::path(&fifo)))
            .status()
            .unwrap();
        assert!(made.success());
        for o in [&zero, &fifo] {
            let err = s.read(o, 1 << 20).await.unwrap_err();
            assert!(matches!(err, StoreError::Stray { .. }), "{o}: {err}");
            assert!(
                matches!(s.stat(o).await, Err(StoreError::Stray { .. })),
                "{o}"
            );
            assert!(s.touch(o).await.is_err(), "{o}");
        }
        let l = s.list(Class::Shards).await.unwrap();
        assert!(l.objects.is_empty(), "{l:?}");
        assert_eq!(l.strays.len(), 2, "{l:?}");
        // Deleting a link removes the link, never its target; a FIFO is left and reported.
        s.delete(&zero).await.unwrap();
        assert!(!root.join(layout::path(&zero)).exists());
        assert!(s.delete(&fifo).await.is_err());
        // A fan-out directory that is a link is not walked.
        let fan = root.join("shards").join("zz");
        std::os::unix::fs::symlink(&outside, &fan).unwrap();
        let l = s.list(Class::Shards).await.unwrap();
        assert!(l.strays.iter().any(|p| p.contains("shards/zz")), "{l:?}");
    }
}
