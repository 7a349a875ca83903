//! A node's store, used over the wire like any other kind: `PeerStore` implements the store
//! traits by sending one `annex-swarm/1` request per call on the pooled connection of a
//! [`Link`]. It adds what a remote store cannot be trusted with: a shard read is hashed
//! (BLAKE3) as its frames arrive, and bytes that do not hash to the shard's name are never
//! returned (`StoreError::Corrupt`, and the node is counted as having lied). Errors map onto
//! the store layer's as the spec's failure table says, so the decorators (retry, circuit
//! breaker, limits) treat a peer like any store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use iroh::Endpoint;
use swarm_core::ids::{StoreId, SwarmId};
use swarm_store::{
    BoxFut, Class, Listed, Listing, Object, ObjectMeta, StoreAdmin, StoreError, StoreRead,
    Unavailable,
};
use swarm_wire::codes::close;
use swarm_wire::{
    Class as WireClass, Entry, Hello, ObjectName, PageLimit, Request, Response, Role as WireRole,
    StoreName,
};

use crate::convert::{from_wire, meta_from_wire, store_error, to_wire};
use crate::identity::NodeId;
use crate::link::{Link, LinkError, PeerAddr};
use crate::stream::StreamError;
use crate::traffic::Traffic;

/// Most pages a listing may take (a node that hands out cursors forever is cut off).
const MAX_PAGES: usize = 1_000_000;

/// A node's store, reached over iroh.
#[derive(Debug)]
pub struct PeerStore {
    id: StoreId,
    link: Link,
    /// Shards the node sent that did not hash to their names.
    lies: AtomicU64,
    /// In a node: where the bytes its rounds move are counted.
    traffic: Option<Arc<Traffic>>,
}

impl PeerStore {
    /// The store `id` that node `peer` serves, as a member of the swarm `hello` names. Nothing
    /// is dialled until the first request.
    pub fn new(endpoint: Endpoint, peer: PeerAddr, id: StoreId, hello: Hello) -> Self {
        PeerStore {
            id,
            link: Link::new(endpoint, peer, hello),
            lies: AtomicU64::new(0),
            traffic: None,
        }
    }

    /// Counts the bytes read and written through this store in `traffic`.
    pub fn with_traffic(mut self, traffic: Option<Arc<Traffic>>) -> Self {
        self.traffic = traffic;
        self
    }

    /// A client of swarm `swarm` that holds no definition yet (version 0).
    pub fn client(endpoint: Endpoint, peer: PeerAddr, id: StoreId, swarm: SwarmId) -> Self {
        PeerStore::new(
            endpoint,
            peer,
            id,
            Hello::new(swarm.0, 0, [0; 32], WireRole::Client),
        )
    }

    /// How long a dial may take before the node counts as unreachable (default
    /// [`crate::link::CONNECT_TIMEOUT`]).
    pub fn with_connect_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.link.set_connect_timeout(timeout);
        self
    }

    /// Dials now (and exchanges Hellos) rather than at the first request.
    pub async fn connect(&self) -> Result<(), StoreError> {
        self.link
            .connection()
            .await
            .map(drop)
            .map_err(|e| self.error("connect", &Object::Marker, e))
    }

    pub fn node(&self) -> NodeId {
        self.link.node()
    }

    /// How many shards this node has sent whose bytes were not the shard.
    pub fn lies(&self) -> u64 {
        self.lies.load(Ordering::Relaxed)
    }

    fn wire(&self, object: &Object) -> Result<ObjectName, StoreError> {
        to_wire(object).ok_or_else(|| StoreError::Io {
            store: self.id.clone(),
            op: "name",
            object: object.to_string(),
            source: std::io::Error::other("the object's name cannot be sent to a node"),
            transient: false,
        })
    }

    /// A request without data whose answer is one message.
    async fn ask(
        &self,
        op: &'static str,
        object: &Object,
        request: Request,
    ) -> Result<Response, StoreError> {
        let mut call = self
            .link
            .call(&request)
            .await
            .map_err(|e| self.error(op, object, e))?;
        call.finish_sending();
        let response = call
            .response()
            .await
            .map_err(|e| self.error(op, object, e))?;
        call.done();
        Ok(response)
    }

    async fn read_bytes(&self, object: &Object, request: Request) -> Result<Bytes, StoreError> {
        let error = |e| self.error("read", object, e);
        // In a node, a shard's bytes take their turn on its download link before they are
        // asked for (a shard read names its exact length); anything else once it arrived.
        let paced = match (&self.traffic, object, &request) {
            (Some(t), Object::Shard(_), Request::Read { max, .. }) => {
                t.pace_in(*max).await;
                true
            }
            (Some(t), _, Request::ReadRange { len, .. }) => {
                t.pace_in(*len).await;
                true
            }
            _ => false,
        };
        let mut call = self.link.call(&request).await.map_err(error)?;
        call.finish_sending();
        let Response::Data { len } = call.response().await.map_err(error)? else {
            // The response check allows nothing else.
            return Err(self.error(
                "read",
                object,
                LinkError::Failed(swarm_wire::Failure::internal("no data", false)),
            ));
        };
        let shard = match (object, &request) {
            (Object::Shard(h), Request::Read { .. }) => Some(h.0),
            _ => None,
        };
        let mut hasher = shard.map(|_| blake3::Hasher::new());
        let bytes = call
            .data(len, |d| {
                if let Some(h) = hasher.as_mut() {
                    h.update(d);
                }
            })
            .await
            .map_err(error)?;
        if let (Some(name), Some(h)) = (shard, hasher) {
            let got = h.finalize();
            if got.as_bytes() != &name {
                self.lies.fetch_add(1, Ordering::Relaxed);
                let detail = format!(
                    "node {} sent {} bytes that hash to {}",
                    self.link.node(),
                    bytes.len(),
                    got.to_hex()
                );
                tracing::warn!(store = %self.id, "{object}: {detail}");
                return Err(StoreError::Corrupt {
                    store: self.id.clone(),
                    object: object.clone(),
                    detail,
                });
            }
        }
        if let Some(t) = &self.traffic {
            t.fetched(bytes.len() as u64);
            if !paced {
                t.pace_in(bytes.len() as u64).await;
            }
        }
        Ok(bytes)
    }

    async fn write_bytes(&self, object: &Object, data: Bytes) -> Result<(), StoreError> {
        let error = |e| self.error("write", object, e);
        let request = Request::Write {
            object: self.wire(object)?,
            len: data.len() as u64,
        };
        let len = data.len() as u64;
        if let Some(t) = &self.traffic {
            t.pace_out(len).await;
        }
        let mut call = self.link.call(&request).await.map_err(error)?;
        match crate::stream::send_data(call.send_stream(), data, None).await {
            Ok(()) => call.finish_sending(),
            // The node answered before reading it all (a refusal): read why.
            Err(StreamError::Stopped(_)) => {}
            Err(e) => return Err(self.error("write", object, call.stream_error(e))),
        }
        call.response().await.map_err(error)?;
        call.done();
        if let Some(t) = &self.traffic {
            t.pushed(len);
        }
        Ok(())
    }

    async fn list_all(&self, class: Class) -> Result<Listing, StoreError> {
        let what = Object::Marker;
        let mut out = Listing::default();
        let mut after = None;
        for _ in 0..MAX_PAGES {
            let request = Request::List {
                class: wire_class(class),
                after: after.take(),
                limit: PageLimit::MAX,
            };
            let Response::Page(page) = self.ask("list", &what, request).await? else {
                return Err(self.odd("list"));
            };
            for entry in page.entries.into_vec() {
                match entry {
                    Entry::Object { object, meta } => match from_wire(&object) {
                        Some(object) => out.objects.push(Listed {
                            object,
                            meta: meta_from_wire(&meta),
                        }),
                        None => out.strays.push(format!("{object:?}")),
                    },
                    Entry::Stray(path) => out.strays.push(path.to_string()),
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(out),
            }
        }
        Err(StoreError::Io {
            store: self.id.clone(),
            op: "list",
            object: format!("{class:?}"),
            source: std::io::Error::other(format!("more than {MAX_PAGES} pages")),
            transient: false,
        })
    }

    fn odd(&self, op: &'static str) -> StoreError {
        StoreError::Io {
            store: self.id.clone(),
            op,
            object: String::new(),
            source: std::io::Error::other("unexpected answer"),
            transient: false,
        }
    }

    /// A link's failure as the store layer says it.
    fn error(&self, op: &'static str, object: &Object, e: LinkError) -> StoreError {
        let unavailable = |why| StoreError::Unavailable {
            store: self.id.clone(),
            why,
        };
        let io = |detail: String, transient| StoreError::Io {
            store: self.id.clone(),
            op,
            object: object.to_string(),
            source: std::io::Error::other(detail),
            transient,
        };
        match e {
            LinkError::Failed(f) => store_error(&self.id, op, object, f),
            // No connection at all: the node is not there (not started yet, or gone), as a
            // disk that is not mounted; back as soon as a check reaches it.
            LinkError::Unreachable { .. } => unavailable(Unavailable::Absent(e.to_string())),
            LinkError::Closed {
                node,
                code,
                ref reason,
            } => match code {
                close::NOT_MEMBER => unavailable(Unavailable::Refused(format!(
                    "node {node} does not take this key: {reason}"
                ))),
                close::SWARM => unavailable(Unavailable::Foreign(reason.clone())),
                close::VERSION => unavailable(Unavailable::Refused(reason.clone())),
                close::PROTOCOL => io(format!("node {node} saw a protocol error: {reason}"), false),
                // DONE or a code of a later version: the node went away; try again.
                _ => io(e.to_string(), true),
            },
            LinkError::Lost { .. } => io(e.to_string(), true),
            LinkError::Protocol { .. } => io(e.to_string(), false),
        }
    }
}

fn wire_class(class: Class) -> WireClass {
    match class {
        Class::Manifests => WireClass::Manifests,
        Class::Shards => WireClass::Shards,
        Class::Staging => WireClass::Staging,
        Class::Locks => WireClass::Locks,
    }
}

impl StoreRead for PeerStore {
    fn id(&self) -> &StoreId {
        &self.id
    }

    fn kind(&self) -> &'static str {
        "peer"
    }

    fn read<'a>(&'a self, object: &'a Object, max: u64) -> BoxFut<'a, Result<Bytes, StoreError>> {
        Box::pin(async move {
            let request = Request::Read {
                object: self.wire(object)?,
                max,
            };
            self.read_bytes(object, request).await
        })
    }

    fn read_range<'a>(
        &'a self,
        object: &'a Object,
        offset: u64,
        len: u64,
    ) -> BoxFut<'a, Result<Bytes, StoreError>> {
        Box::pin(async move {
            if len == 0 {
                return Ok(Bytes::new());
            }
            let request = Request::ReadRange {
                object: self.wire(object)?,
                offset,
                len,
            };
            self.read_bytes(object, request).await
        })
    }

    fn stat<'a>(
        &'a self,
        object: &'a Object,
    ) -> BoxFut<'a, Result<Option<ObjectMeta>, StoreError>> {
        Box::pin(async move {
            let request = Request::Stat {
                object: self.wire(object)?,
            };
            match self.ask("stat", object, request).await? {
                Response::Meta(meta) => Ok(meta.as_ref().map(meta_from_wire)),
                _ => Err(self.odd("stat")),
            }
        })
    }
}

impl StoreAdmin for PeerStore {
    fn write<'a>(&'a self, object: &'a Object, data: Bytes) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(self.write_bytes(object, data))
    }

    fn touch<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let request = Request::Touch {
                object: self.wire(object)?,
            };
            self.ask("touch", object, request).await.map(drop)
        })
    }

    fn delete<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let request = Request::Delete {
                object: self.wire(object)?,
            };
            self.ask("delete", object, request).await.map(drop)
        })
    }

    fn list(&self, class: Class) -> BoxFut<'_, Result<Listing, StoreError>> {
        Box::pin(self.list_all(class))
    }

    fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let request = Request::Create {
                store: self.store_name()?,
            };
            self.ask("create", &Object::Marker, request).await.map(drop)
        })
    }

    fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let request = Request::Check {
                store: self.store_name()?,
            };
            self.ask("check", &Object::Marker, request).await.map(drop)
        })
    }

    fn free_space(&self) -> BoxFut<'_, Result<Option<u64>, StoreError>> {
        Box::pin(async move {
            match self
                .ask("free space", &Object::Marker, Request::FreeSpace)
                .await?
            {
                Response::FreeSpace(free) => Ok(free),
                _ => Err(self.odd("free space")),
            }
        })
    }
}

impl PeerStore {
    fn store_name(&self) -> Result<StoreName, StoreError> {
        StoreName::new(self.id.as_str()).map_err(|e| StoreError::Config {
            store: self.id.clone(),
            reason: e.to_string(),
        })
    }
}
