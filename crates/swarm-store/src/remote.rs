//! Stores on services reached through Apache OpenDAL: S3, WebDAV, SFTP, Google Drive, OneDrive,
//! Dropbox. One [`Store`] implementation over an [`opendal::Operator`]; [`build_operator`] is the
//! only place that knows the kinds apart.
//!
//! What each trait promise means here:
//! - **Atomic writes.** S3 PUT and multipart-complete, and the drives' uploads, publish an object
//!   whole. WebDAV PUT and SFTP writes may be seen half-done, so those kinds write to `tmp/` and
//!   then rename (WebDAV MOVE with `Overwrite: T`; SFTP posix-rename on OpenSSH servers).
//! - **Large objects** are written in parts of [`PART_SIZE`] where the service allows it (S3
//!   multipart, SFTP); a read is one request for the whole object (shards are at most 16 MiB) or
//!   for the range asked. So no request carries less than 4 MiB unless the object is smaller.
//! - **touch** cannot change an object's modification time on most services (S3 refuses a copy
//!   onto itself, WebDAV's `getlastmodified` is read-only). It writes an empty sidecar at
//!   `touched/<path>` instead; [`Store::list`] reports the later of the two times, and deleting an
//!   object deletes its sidecar. `gc` therefore sees a touched shard as young, as on a local disk.
//! - **Transient failures** (timeouts, 5xx, dropped connections) are retried with backoff by
//!   OpenDAL's RetryLayer. A store still failing after that is `Unavailable`, and stays so
//!   for [`DOWN_FOR`] without being asked again, so a put or get moves on at once.
//! - **Secrets** are handed to OpenDAL and never formatted: errors carry the store id, the
//!   operation and the object path, and OpenDAL's own context (no header, no credential).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::{ErrorKind, Operator, services};
use swarm_core::definition::{DriveService, StoreLocation};
use swarm_core::ids::{StoreId, SwarmId};

use crate::credentials::{CredentialSource, hint, names};
use crate::layout::{MARKER, TMP, check_object_path};
use crate::marker::Marker;
use crate::{BoxFut, Listed, ObjectMeta, RequestCounts, Store, StoreError};

/// Size of the parts large objects are written and read in (S3's minimum part is 5 MiB).
pub const PART_SIZE: usize = 8 << 20;
/// Parts of one object in flight at once.
const PART_CONCURRENCY: usize = 4;
/// After a store fails past its retries, how long it is treated as down without being asked.
pub const DOWN_FOR: Duration = Duration::from_secs(10);
/// Where `touch` leaves its sidecars.
pub const TOUCHED: &str = "touched";
/// Retries of a failed request (so up to 4 attempts), with exponential backoff and jitter.
const RETRIES: usize = 3;
/// Limit on a whole operation that moves no data (stat, delete, list page, rename).
const OP_TIMEOUT: Duration = Duration::from_secs(30);
/// Limit on one read or write of a part.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

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
    counts: Counts,
    down_until: Mutex<Option<(Instant, String)>>,
}

#[derive(Debug, Default)]
struct Counts {
    reads: AtomicU64,
    reads_done: AtomicU64,
    writes: AtomicU64,
    stats: AtomicU64,
    lists: AtomicU64,
    deletes: AtomicU64,
    other: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

/// Makes sure rustls has a crypto provider (ring) and OpenDAL has its HTTP transport before the
/// first request. We build the transport without a provider to keep aws-lc-sys (a C build) out.
pub fn ensure_tls_provider() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        // Err means another provider is installed already, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Without OpenDAL's auto-registration (which would pull default TLS), the HTTP services
        // need the reqwest transport installed by hand.
        opendal_http_transport_reqwest::install_default();
    });
}

/// Builds the OpenDAL operator for a location, with retry and timeout layers, taking
/// credentials from `creds`. Missing credentials are an error naming where to put them.
pub fn build_operator(
    id: &StoreId,
    location: &StoreLocation,
    creds: &dyn CredentialSource,
) -> Result<Operator, StoreError> {
    ensure_tls_provider();
    let kind = location.kind();
    let config = |reason: String| StoreError::Config {
        store: id.to_string(),
        reason,
    };
    let get = |name: &str| creds.get(id, kind, name).map_err(|e| config(e.to_string()));
    let need = |name: &str| {
        get(name)?.ok_or_else(|| {
            config(format!(
                "no {kind} credential `{name}`: {}",
                hint(id, kind, name)
            ))
        })
    };
    let open = |r: opendal::Result<Operator>| {
        r.map_err(|e| config(format!("cannot set up the {kind} client: {}", describe(&e))))
    };
    let op = match location {
        StoreLocation::Local(_) => {
            return Err(config("a local directory is not a remote store".into()));
        }
        StoreLocation::S3 {
            bucket,
            prefix,
            endpoint,
            region,
            virtual_host,
        } => {
            let mut b = services::S3::default()
                .bucket(bucket)
                .root(&format!("/{prefix}"))
                .region(region)
                .access_key_id(need(names::ACCESS_KEY_ID)?.expose())
                .secret_access_key(need(names::SECRET_ACCESS_KEY)?.expose())
                .disable_config_load()
                .disable_ec2_metadata();
            if let Some(t) = get(names::SESSION_TOKEN)? {
                b = b.session_token(t.expose());
            }
            if let Some(e) = endpoint {
                b = b.endpoint(e);
            }
            if *virtual_host {
                b = b.enable_virtual_host_style();
            }
            open(Operator::new(b))?
        }
        StoreLocation::WebDav {
            endpoint,
            root,
            user,
        } => {
            let mut b = services::Webdav::default().endpoint(endpoint).root(root);
            let user = match user {
                Some(u) => Some(u.clone()),
                None => get(names::USERNAME)?.map(|s| s.expose().to_owned()),
            };
            if let Some(u) = &user {
                b = b.username(u).password(need(names::PASSWORD)?.expose());
            }
            open(Operator::new(b))?
        }
        StoreLocation::Sftp {
            user,
            host,
            port,
            root,
            known_hosts,
        } => {
            let endpoint = match (user, port) {
                (Some(u), Some(p)) => format!("ssh://{u}@{host}:{p}"),
                (Some(u), None) => format!("ssh://{u}@{host}"),
                (None, Some(p)) => format!("ssh://{host}:{p}"),
                (None, None) => host.clone(),
            };
            let mut b = services::Sftp::default()
                .endpoint(&endpoint)
                .root(root)
                .known_hosts_strategy(known_hosts.as_str());
            if let Some(key) = get(names::SSH_KEY)? {
                b = b.key(key.expose());
            }
            open(Operator::new(b))?
        }
        StoreLocation::Drive { service, root } => {
            let client_id = need(names::CLIENT_ID)?;
            let client_secret = get(names::CLIENT_SECRET)?;
            let refresh = get(names::REFRESH_TOKEN)?.ok_or_else(|| {
                config(format!(
                    "no {kind} refresh token: run `annex-swarm authorize {kind}` (or {})",
                    hint(id, kind, names::REFRESH_TOKEN)
                ))
            })?;
            let secret = client_secret.as_ref().map(|s| s.expose()).unwrap_or("");
            match service {
                DriveService::GDrive => open(Operator::new(
                    services::Gdrive::default()
                        .root(root)
                        .client_id(client_id.expose())
                        .client_secret(secret)
                        .refresh_token(refresh.expose()),
                ))?,
                DriveService::OneDrive => open(Operator::new(
                    services::Onedrive::default()
                        .root(root)
                        .client_id(client_id.expose())
                        .client_secret(secret)
                        .refresh_token(refresh.expose()),
                ))?,
                DriveService::Dropbox => open(Operator::new(
                    services::Dropbox::default()
                        .root(root)
                        .client_id(client_id.expose())
                        .client_secret(secret)
                        .refresh_token(refresh.expose()),
                ))?,
            }
        }
    };
    Ok(op
        .layer(
            TimeoutLayer::new()
                .with_timeout(OP_TIMEOUT)
                .with_io_timeout(IO_TIMEOUT),
        )
        .layer(
            RetryLayer::new()
                .with_max_times(RETRIES)
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(3))
                .with_factor(2.0)
                .with_jitter(),
        ))
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
                counts: Counts::default(),
                down_until: Mutex::new(None),
            }),
        }
    }

    pub fn kind(&self) -> &'static str {
        self.inner.kind
    }
}

/// OpenDAL's error on one line: kind, message, and the root cause (the context names the
/// service, path and URL, never a credential). Long service replies are cut.
fn describe(e: &opendal::Error) -> String {
    let mut text = scrub_queries(&e.to_string());
    text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.len() > 400 {
        let mut cut = 400;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// Hides the query string (and user info) of every URL in `text`: some services (Google's
/// token endpoint as OpenDAL calls it) carry the refresh token and client secret there, and
/// OpenDAL puts the URL in its error context. Kept for callers; the rule is
/// [`swarm_core::redact::text`].
pub fn scrub_queries(text: &str) -> String {
    swarm_core::redact::text(text)
}

impl Inner {
    fn err(&self, op: &'static str, path: &str, e: opendal::Error) -> StoreError {
        let store = self.id.to_string();
        let text = describe(&e);
        // Some services report a refused login as an unexpected HTTP status.
        let denied = matches!(
            e.kind(),
            ErrorKind::PermissionDenied | ErrorKind::ConfigInvalid
        ) || text.contains("status: 401")
            || text.contains("status: 403");
        match e.kind() {
            ErrorKind::NotFound => StoreError::NotFound {
                store,
                path: path.to_owned(),
            },
            _ if denied => {
                let reason = format!(
                    "{} refused {op} {path} (wrong credentials or no access?): {text}",
                    self.kind
                );
                self.mark_down(&reason);
                StoreError::Unavailable { store, reason }
            }
            ErrorKind::Unexpected | ErrorKind::RateLimited => {
                let reason = format!(
                    "{} not answering ({op} {path} failed, retried up to {RETRIES} times): {text}",
                    self.kind
                );
                self.mark_down(&reason);
                StoreError::Unavailable { store, reason }
            }
            _ => StoreError::Io {
                store,
                op,
                path: path.to_owned(),
                source: std::io::Error::other(text),
            },
        }
    }

    fn mark_down(&self, reason: &str) {
        if let Ok(mut d) = self.down_until.lock() {
            *d = Some((Instant::now() + DOWN_FOR, reason.to_owned()));
        }
    }

    /// Fails fast while the store is marked down.
    fn gate(&self) -> Result<(), StoreError> {
        let Ok(mut d) = self.down_until.lock() else {
            return Ok(());
        };
        match d.as_ref() {
            Some((until, why)) if Instant::now() < *until => Err(StoreError::Unavailable {
                store: self.id.to_string(),
                reason: why.clone(),
            }),
            Some(_) => {
                *d = None;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn check_path(&self, path: &str) -> Result<(), StoreError> {
        check_object_path(&self.id, path)
    }

    fn count(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    async fn read(&self, path: &str, range: Option<(u64, u64)>) -> Result<Bytes, StoreError> {
        self.check_path(path)?;
        self.gate()?;
        self.count(&self.counts.reads);
        let mut req = self.op.read_with(path);
        if let Some((off, len)) = range {
            req = req.range(off..off + len);
        }
        let buf = req.await.map_err(|e| self.err("read", path, e))?;
        let bytes = buf.to_bytes();
        self.count(&self.counts.reads_done);
        self.counts
            .bytes_read
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        self.count(&self.counts.writes);
        self.counts
            .bytes_written
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        let mut req = self.op.write_with(path, data);
        if self.multipart {
            req = req.chunk(PART_SIZE).concurrent(PART_CONCURRENCY);
        }
        req.await.map_err(|e| self.err("write", path, e))?;
        Ok(())
    }

    async fn write(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        self.check_path(path)?;
        self.gate()?;
        if !self.staged {
            return self.put(path, data).await;
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = path.rsplit('/').next().unwrap_or("obj");
        let tmp = format!("{TMP}/{}.{n}.{name}", std::process::id());
        self.put(&tmp, data).await?;
        self.count(&self.counts.other);
        if let Err(e) = self.op.rename(&tmp, path).await {
            let _ = self.op.delete(&tmp).await;
            return Err(self.err("write", path, e));
        }
        Ok(())
    }

    async fn stat(&self, path: &str) -> Result<Option<ObjectMeta>, StoreError> {
        self.check_path(path)?;
        self.gate()?;
        self.count(&self.counts.stats);
        match self.op.stat(path).await {
            Ok(m) if m.is_dir() => Ok(None),
            Ok(m) => Ok(Some(ObjectMeta {
                size: m.content_length(),
                modified: m
                    .last_modified()
                    .map(SystemTime::from)
                    .unwrap_or_else(SystemTime::now),
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("stat", path, e)),
        }
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        self.check_path(path)?;
        self.gate()?;
        self.count(&self.counts.deletes);
        match self.op.delete(path).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(self.err("delete", path, e)),
        }
        if !path.starts_with(TOUCHED) && !path.starts_with(TMP) && path != MARKER {
            let sidecar = format!("{TOUCHED}/{path}");
            self.count(&self.counts.deletes);
            match self.op.delete(&sidecar).await {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(self.err("delete", &sidecar, e)),
            }
        }
        Ok(())
    }

    async fn touch(&self, path: &str) -> Result<(), StoreError> {
        self.check_path(path)?;
        self.gate()?;
        // Writing the sidecar is itself atomic enough: it is empty.
        self.put(&format!("{TOUCHED}/{path}"), Bytes::new()).await
    }

    /// Files under `dir`, recursively, with sizes and times (no sidecar merging).
    async fn list_raw(&self, dir: &str) -> Result<Vec<Listed>, StoreError> {
        self.count(&self.counts.lists);
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
                None => match self.stat(&path).await? {
                    Some(m) => m.modified,
                    None => continue,
                },
            };
            out.push(Listed {
                path,
                meta: ObjectMeta {
                    size: meta.content_length(),
                    modified,
                },
            });
        }
        Ok(out)
    }

    async fn list(&self, dir: &str) -> Result<Vec<Listed>, StoreError> {
        self.check_path(dir)?;
        self.gate()?;
        let mut listed = self.list_raw(dir).await?;
        if dir.starts_with(TOUCHED) || dir.starts_with(TMP) {
            return Ok(listed);
        }
        let touched = self.list_raw(&format!("{TOUCHED}/{dir}")).await?;
        if touched.is_empty() {
            return Ok(listed);
        }
        let times: std::collections::HashMap<&str, SystemTime> = touched
            .iter()
            .filter_map(|l| {
                l.path
                    .strip_prefix(TOUCHED)
                    .and_then(|p| p.strip_prefix('/'))
                    .map(|p| (p, l.meta.modified))
            })
            .collect();
        for l in &mut listed {
            if let Some(&t) = times.get(l.path.as_str()) {
                l.meta.modified = l.meta.modified.max(t);
            }
        }
        Ok(listed)
    }

    fn marker(&self) -> Marker {
        Marker::new(&self.swarm, &self.id)
    }

    async fn check(&self) -> Result<(), StoreError> {
        // A store found down earlier is asked again: `check` is how a swarm decides.
        if let Ok(mut d) = self.down_until.lock() {
            *d = None;
        }
        let text = match self.read(MARKER, None).await {
            Ok(b) => b,
            Err(StoreError::NotFound { .. }) => {
                return Err(StoreError::Unavailable {
                    store: self.id.to_string(),
                    reason: format!(
                        "{} store has no annex-swarm marker (not initialised: `annex-swarm store init {}`)",
                        self.kind, self.id
                    ),
                });
            }
            Err(e @ StoreError::Unavailable { .. }) => return Err(e),
            Err(e) => {
                return Err(StoreError::Unavailable {
                    store: self.id.to_string(),
                    reason: e.to_string(),
                });
            }
        };
        self.marker().check(&self.id, &text, self.kind)
    }

    async fn create(&self) -> Result<(), StoreError> {
        match self.check().await {
            Ok(()) => Ok(()),
            Err(StoreError::Unavailable { .. }) if matches!(self.stat(MARKER).await, Ok(None)) => {
                self.write(MARKER, Bytes::from(self.marker().encode()))
                    .await
            }
            Err(e) => Err(e),
        }
    }

    fn counts(&self) -> RequestCounts {
        let c = &self.counts;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RequestCounts {
            reads: g(&c.reads),
            reads_done: g(&c.reads_done),
            writes: g(&c.writes),
            stats: g(&c.stats),
            lists: g(&c.lists),
            deletes: g(&c.deletes),
            other: g(&c.other),
            bytes_read: g(&c.bytes_read),
            bytes_written: g(&c.bytes_written),
        }
    }
}

macro_rules! spawned {
    ($self:ident, |$s:ident| $body:expr) => {{
        let $s = Arc::clone(&$self.inner);
        Box::pin(async move { $body })
    }};
}

impl Store for RemoteStore {
    fn id(&self) -> &StoreId {
        &self.inner.id
    }

    fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
        spawned!(self, |s| s.create().await)
    }

    fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
        spawned!(self, |s| s.check().await)
    }

    fn read(&self, path: &str) -> BoxFut<'_, Result<Bytes, StoreError>> {
        let path = path.to_owned();
        spawned!(self, |s| s.read(&path, None).await)
    }

    fn read_range(
        &self,
        path: &str,
        offset: u64,
        len: u64,
    ) -> BoxFut<'_, Result<Bytes, StoreError>> {
        let path = path.to_owned();
        spawned!(self, |s| s.read(&path, Some((offset, len))).await)
    }

    fn write(&self, path: &str, data: Bytes) -> BoxFut<'_, Result<(), StoreError>> {
        let path = path.to_owned();
        spawned!(self, |s| s.write(&path, data).await)
    }

    fn stat(&self, path: &str) -> BoxFut<'_, Result<Option<ObjectMeta>, StoreError>> {
        let path = path.to_owned();
        spawned!(self, |s| s.stat(&path).await)
    }

    fn touch(&self, path: &str) -> BoxFut<'_, Result<(), StoreError>> {
        let path = path.to_owned();
        spawned!(self, |s| s.touch(&path).await)
    }

    fn delete(&self, path: &str) -> BoxFut<'_, Result<(), StoreError>> {
        let path = path.to_owned();
        spawned!(self, |s| s.delete(&path).await)
    }

    fn list(&self, dir: &str) -> BoxFut<'_, Result<Vec<Listed>, StoreError>> {
        let dir = dir.to_owned();
        spawned!(self, |s| s.list(&dir).await)
    }

    fn requests(&self) -> RequestCounts {
        self.inner.counts()
    }

    fn kind(&self) -> &'static str {
        self.inner.kind
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::credentials::MapSource;

    #[test]
    fn url_queries_are_hidden_in_errors() {
        let t = "context: { url: https://oauth2.googleapis.com/token?refresh_token=abc&client_secret=xyz, called: x } => http://h/p?q=1";
        let s = scrub_queries(t);
        assert!(
            !s.contains("abc") && !s.contains("xyz") && !s.contains("q=1"),
            "{s}"
        );
        assert!(
            s.contains("https://oauth2.googleapis.com/token?<hidden>, called"),
            "{s}"
        );
    }

    #[test]
    fn missing_credentials_name_where_they_go() {
        let id: StoreId = "s3-a".parse().unwrap();
        let loc =
            swarm_core::definition::parse_location("s3://bkt?endpoint=http://127.0.0.1:1").unwrap();
        let err = build_operator(&id, &loc, &MapSource::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("store s3-a"), "{err}");
        assert!(err.contains("ANNEX_SWARM_S3_A_ACCESS_KEY_ID"), "{err}");
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        for (url, want) in [
            ("gdrive://annex", "ANNEX_SWARM_S3_A_CLIENT_ID"),
            ("webdav+http://u@h/x", "ANNEX_SWARM_S3_A_PASSWORD"),
        ] {
            let loc = swarm_core::definition::parse_location(url).unwrap();
            let err = build_operator(&id, &loc, &MapSource::new())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{url}: {err}");
        }
        let loc = swarm_core::definition::parse_location("dropbox://annex").unwrap();
        let mut m = MapSource::new();
        m.insert(
            &id,
            names::CLIENT_ID,
            crate::credentials::Secret::new("cid"),
        );
        let err = build_operator(&id, &loc, &m).unwrap_err().to_string();
        assert!(err.contains("annex-swarm authorize dropbox"), "{err}");
    }
}
