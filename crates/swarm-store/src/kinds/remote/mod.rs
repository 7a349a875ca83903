//! Stores on services reached through Apache OpenDAL: S3, WebDAV, SFTP, Google Drive, OneDrive,
//! Dropbox. One store implementation over an [`opendal::Operator`]; [`operator::build_operator`]
//! is the only place that knows the services apart.
//!
//! What each trait promise means here:
//! - **Atomic writes.** S3 PUT and multipart-complete, and the drives' uploads, publish an object
//!   whole. WebDAV PUT and SFTP writes may be seen half-done, so those kinds write to `tmp/` and
//!   then rename (WebDAV MOVE with `Overwrite: T`; SFTP posix-rename on OpenSSH servers).
//! - **Large objects** are written in parts of [`PART_SIZE`] where the service allows it (S3
//!   multipart, SFTP); a read is one request for the whole object (shards are at most 16 MiB) or
//!   for the range asked. So no request carries less than 4 MiB unless the object is smaller.
//!   A read stops (and fails) once the service sends more than the caller expects.
//! - **touch** cannot change an object's modification time on most services (S3 refuses a copy
//!   onto itself, WebDAV's `getlastmodified` is read-only). It writes an empty sidecar at
//!   `touched/<path>` instead; a listing reports the later of the two times, and deleting an
//!   object deletes its sidecar. `gc` therefore sees a touched shard as young, as on a local disk.
//! - **Failures**: each HTTP request is retried by OpenDAL's RetryLayer (see `operator.rs`); what
//!   still fails is classified here: a timeout, a 5xx or a dropped connection is transient, a
//!   refused login makes the store unavailable. The circuit breaker acts on that.
//! - **Secrets** are handed to OpenDAL and never formatted: errors carry the store id, the
//!   operation and the object path, and OpenDAL's own context (no header, no credential).

pub mod operator;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use futures::StreamExt;
use opendal::{ErrorKind, Operator};
use swarm_core::buffers;
use swarm_core::ids::{StoreId, SwarmId};

use crate::error::{StoreError, Unavailable};
use crate::layout::{self, TOUCHED};
use crate::marker;
use crate::object::{Class, Listed, Listing, Object, ObjectMeta};
use crate::store::{BoxFut, StoreAdmin, StoreRead};
use operator::describe;

pub use operator::{build_operator, ensure_tls_provider, scrub_queries};

/// Size of the parts large objects are written in (S3's minimum part is 5 MiB).
pub const PART_SIZE: usize = 8 << 20;
/// Parts of one object in flight at once.
const PART_CONCURRENCY: usize = 4;

#[derive(Debug, Clone)]
pub struct RemoteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: StoreId,
    swarm: SwarmId,
    kind: &'static str,
    op: Operator,
    /// Writes go to `tmp/` and are renamed into place (the service's PUT is not atomic).
    staged: bool,
    /// Several parts per large write.
    multipart: bool,
    counter: AtomicU64,
}

impl RemoteStore {
    pub fn new(id: StoreId, swarm: SwarmId, kind: &'static str, op: Operator) -> Self {
        let cap = op.info().capability();
        // S3 and the drives publish an upload whole; WebDAV and SFTP write in place.
        let staged = matches!(kind, "webdav" | "sftp");
        RemoteStore {
            inner: Arc::new(Inner {
                id,
                swarm,
                kind,
                staged,
                multipart: cap.write_can_multi,
                op,
                counter: AtomicU64::new(0),
            }),
        }
    }
}

impl Inner {
    /// Maps an OpenDAL error on `what` (an object's path) to a store error.
    fn err(&self, op: &'static str, what: &str, e: opendal::Error) -> StoreError {
        let text = describe(&e);
        // Some services report a refused login as an unexpected HTTP status.
        let denied = matches!(
            e.kind(),
            ErrorKind::PermissionDenied | ErrorKind::ConfigInvalid
        ) || text.contains("status: 401")
            || text.contains("status: 403");
        if denied {
            return StoreError::Unavailable {
                store: self.id.clone(),
                why: Unavailable::Refused(format!(
                    "{} refused {op} {what} (wrong credentials or no access?): {text}",
                    self.kind
                )),
            };
        }
        let transient =
            e.is_temporary() || matches!(e.kind(), ErrorKind::Unexpected | ErrorKind::RateLimited);
        StoreError::Io {
            store: self.id.clone(),
            op,
            object: what.to_owned(),
            source: std::io::Error::other(text),
            transient,
        }
    }

    fn object_err(&self, op: &'static str, object: &Object, e: opendal::Error) -> StoreError {
        if e.kind() == ErrorKind::NotFound {
            return StoreError::NotFound {
                store: self.id.clone(),
                object: object.clone(),
            };
        }
        self.err(op, &layout::path(object), e)
    }

    /// An error met while streaming a read: OpenDAL's own error inside an `io::Error`.
    fn stream_err(&self, object: &Object, e: std::io::Error) -> StoreError {
        let inner = match e.into_inner().map(|b| b.downcast::<opendal::Error>()) {
            Some(Ok(dal)) => return self.object_err("read", object, *dal),
            Some(Err(other)) => std::io::Error::other(other),
            None => std::io::Error::other("read failed"),
        };
        StoreError::Io {
            store: self.id.clone(),
            op: "read",
            object: layout::path(object),
            source: inner,
            transient: true,
        }
    }

    async fn read(&self, object: &Object, max: u64) -> Result<Bytes, StoreError> {
        let path = layout::path(object);
        let fail = |e| self.object_err("read", object, e);
        let reader = self.op.reader(&path).await.map_err(fail)?;
        let mut stream = reader.into_bytes_stream(..).await.map_err(fail)?;
        // `max` is a shard's exact length, or a bound; untouched capacity costs no memory.
        let mut buf = buffers::SHARDS.take(max.min(16 << 20) as usize);
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|e| self.stream_err(object, e))?;
            if (buf.len() + piece.len()) as u64 > max {
                return Err(StoreError::TooLarge {
                    store: self.id.clone(),
                    object: object.clone(),
                    max,
                });
            }
            buf.extend_from_slice(&piece);
        }
        Ok(buffers::SHARDS.freeze(buf))
    }

    async fn read_range(&self, object: &Object, off: u64, len: u64) -> Result<Bytes, StoreError> {
        let path = layout::path(object);
        let buf = self
            .op
            .read_with(&path)
            .range(off..off.saturating_add(len))
            .await
            .map_err(|e| self.object_err("read", object, e))?;
        Ok(buf.to_bytes())
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        let mut req = self.op.write_with(path, data);
        if self.multipart {
            req = req.chunk(PART_SIZE).concurrent(PART_CONCURRENCY);
        }
        req.await.map_err(|e| self.err("write", path, e))?;
        Ok(())
    }

    async fn write(&self, object: &Object, data: Bytes) -> Result<(), StoreError> {
        let path = layout::path(object);
        if !self.staged {
            return self.put(&path, data).await;
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = layout::path(&Object::Staging(layout::staging_name(object, n)));
        self.put(&tmp, data).await?;
        if let Err(e) = self.op.rename(&tmp, &path).await {
            let _ = self.op.delete(&tmp).await;
            return Err(self.err("write", &path, e));
        }
        Ok(())
    }

    async fn stat(&self, object: &Object) -> Result<Option<ObjectMeta>, StoreError> {
        match self.op.stat(&layout::path(object)).await {
            Ok(m) if m.is_dir() => Ok(None),
            Ok(m) => Ok(Some(ObjectMeta {
                size: m.content_length(),
                modified: m
                    .last_modified()
                    .map(SystemTime::from)
                    .unwrap_or_else(SystemTime::now),
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.object_err("stat", object, e)),
        }
    }

    async fn delete_path(&self, path: &str) -> Result<(), StoreError> {
        match self.op.delete(path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err("delete", path, e)),
        }
    }

    async fn delete(&self, object: &Object) -> Result<(), StoreError> {
        let path = layout::path(object);
        self.delete_path(&path).await?;
        if matches!(object, Object::Shard(_) | Object::Manifest(_)) {
            self.delete_path(&format!("{TOUCHED}/{path}")).await?;
        }
        Ok(())
    }

    async fn touch(&self, object: &Object) -> Result<(), StoreError> {
        // Writing the sidecar is itself atomic enough: it is empty.
        self.put(&format!("{TOUCHED}/{}", layout::path(object)), Bytes::new())
            .await
    }

    /// Files under `dir`, recursively, with sizes and times (no sidecar merging).
    async fn list_raw(&self, dir: &str) -> Result<Vec<(String, ObjectMeta)>, StoreError> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        let entries = match self.op.list_with(&prefix).recursive(true).await {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err("list", dir, e)),
        };
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let meta = entry.metadata();
            if meta.is_dir() || entry.path().ends_with('/') {
                continue;
            }
            let path = entry.path().trim_start_matches('/').to_owned();
            let modified = match meta.last_modified() {
                Some(t) => SystemTime::from(t),
                // Without a time an object would look ancient to gc: ask for it.
                None => match self.op.stat(&path).await {
                    Ok(m) => m
                        .last_modified()
                        .map(SystemTime::from)
                        .unwrap_or_else(SystemTime::now),
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(self.err("stat", &path, e)),
                },
            };
            out.push((
                path,
                ObjectMeta {
                    size: meta.content_length(),
                    modified,
                },
            ));
        }
        Ok(out)
    }

    async fn list(&self, class: Class) -> Result<Listing, StoreError> {
        let dir = layout::dir(class);
        let listed = self.list_raw(dir).await?;
        let touched = match class {
            Class::Staging | Class::Locks => Vec::new(),
            _ => self.list_raw(&format!("{TOUCHED}/{dir}")).await?,
        };
        let times: std::collections::HashMap<&str, SystemTime> = touched
            .iter()
            .filter_map(|(p, m)| {
                p.strip_prefix(TOUCHED)
                    .and_then(|p| p.strip_prefix('/'))
                    .map(|p| (p, m.modified))
            })
            .collect();
        let mut out = Listing::default();
        for (path, mut meta) in listed {
            if let Some(&t) = times.get(path.as_str()) {
                meta.modified = meta.modified.max(t);
            }
            match layout::parse(class, &path) {
                Some(object) => out.objects.push(Listed { object, meta }),
                None => out.strays.push(path),
            }
        }
        Ok(out)
    }

    fn place(&self) -> String {
        format!("the {} store", self.kind)
    }
}

macro_rules! on_inner {
    ($self:ident, |$s:ident| $body:expr) => {{
        let $s = &$self.inner;
        Box::pin(async move { $body })
    }};
}

impl StoreRead for RemoteStore {
    fn id(&self) -> &StoreId {
        &self.inner.id
    }

    fn kind(&self) -> &'static str {
        self.inner.kind
    }

    fn read<'a>(&'a self, object: &'a Object, max: u64) -> BoxFut<'a, Result<Bytes, StoreError>> {
        on_inner!(self, |s| s.read(object, max).await)
    }

    fn read_range<'a>(
        &'a self,
        object: &'a Object,
        offset: u64,
        len: u64,
    ) -> BoxFut<'a, Result<Bytes, StoreError>> {
        on_inner!(self, |s| s.read_range(object, offset, len).await)
    }

    fn stat<'a>(
        &'a self,
        object: &'a Object,
    ) -> BoxFut<'a, Result<Option<ObjectMeta>, StoreError>> {
        on_inner!(self, |s| s.stat(object).await)
    }

    fn retries_requests(&self) -> bool {
        true
    }
}

impl StoreAdmin for RemoteStore {
    fn write<'a>(&'a self, object: &'a Object, data: Bytes) -> BoxFut<'a, Result<(), StoreError>> {
        on_inner!(self, |s| s.write(object, data).await)
    }

    fn touch<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        on_inner!(self, |s| s.touch(object).await)
    }

    fn delete<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        on_inner!(self, |s| s.delete(object).await)
    }

    fn list(&self, class: Class) -> BoxFut<'_, Result<Listing, StoreError>> {
        on_inner!(self, |s| s.list(class).await)
    }

    fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
        let place = self.inner.place();
        Box::pin(async move { marker::create(self, &self.inner.swarm, &place).await })
    }

    fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
        let place = self.inner.place();
        Box::pin(async move { marker::check(self, &self.inner.swarm, &place).await })
    }
}
