//! Fault injection, for tests: a store that hangs, fails, lies or is slow on command. The test
//! keeps the [`FaultHandle`] and changes the fault while the store is in use.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use swarm_core::ids::StoreId;

use crate::error::{StoreError, Unavailable};
use crate::object::{Class, Listing, Object, ObjectMeta};
use crate::store::{BoxFut, Health, RequestCounts, Store, StoreAdmin, StoreRead};

/// What the store does now. `Down` and `Hang` take the marker check too (an unplugged disk, a
/// hung mount); the others leave it alone (a store whose objects fail, lie or hang while its
/// marker reads fine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: every request reaches the store.
    None,
    /// No request ever answers, the marker check included (a hung mount).
    Hang,
    /// Requests for objects never answer; the marker check does.
    HangObjects,
    /// Requests after the first `n` (counted from when this was set) fail.
    FailAfter(u64),
    /// Every `n`-th read (counted from when this was set) returns a flipped byte.
    CorruptEvery(u64),
    /// The next `n` requests fail transiently (a dropped connection), later ones go through.
    TransientFor(u64),
    /// Every request, the marker check included, says the store is unavailable.
    Down,
    /// Every request waits this long first.
    Delay(Duration),
}

#[derive(Debug)]
struct State {
    fault: Fault,
    /// Requests since the fault was set.
    since: u64,
}

/// Changes the fault of a [`Faults`] store.
#[derive(Debug, Clone)]
pub struct FaultHandle {
    state: Arc<Mutex<State>>,
    calls: Arc<AtomicU64>,
}

impl FaultHandle {
    pub fn set(&self, fault: Fault) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.fault = fault;
        s.since = 0;
    }

    /// Requests that reached this decorator, in all.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
pub struct Faults {
    inner: Arc<dyn Store>,
    handle: FaultHandle,
}

/// What to do with one request.
enum Act {
    Pass,
    Hang,
    Fail,
    Transient,
    Down,
    Corrupt,
    Delay(Duration),
}

impl Faults {
    pub fn wrap(inner: Arc<dyn Store>) -> (Arc<dyn Store>, FaultHandle) {
        let handle = FaultHandle {
            state: Arc::new(Mutex::new(State {
                fault: Fault::None,
                since: 0,
            })),
            calls: Arc::default(),
        };
        (
            Arc::new(Faults {
                inner,
                handle: handle.clone(),
            }),
            handle,
        )
    }

    fn act(&self, op: &str, read: bool) -> Act {
        self.handle.calls.fetch_add(1, Ordering::SeqCst);
        let mut s = self.handle.state.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(op, "check" | "create") && !matches!(s.fault, Fault::Down | Fault::Hang) {
            return Act::Pass;
        }
        s.since += 1;
        let n = s.since;
        match s.fault {
            Fault::None => Act::Pass,
            Fault::Hang | Fault::HangObjects => Act::Hang,
            Fault::FailAfter(ok) if n > ok => Act::Fail,
            Fault::FailAfter(_) => Act::Pass,
            Fault::CorruptEvery(e) if read && e > 0 && n.is_multiple_of(e) => Act::Corrupt,
            Fault::CorruptEvery(_) => Act::Pass,
            Fault::TransientFor(t) if n <= t => Act::Transient,
            Fault::TransientFor(_) => Act::Pass,
            Fault::Down => Act::Down,
            Fault::Delay(d) => Act::Delay(d),
        }
    }

    fn error(&self, act: &Act, op: &'static str) -> Option<StoreError> {
        let store = self.inner.id().clone();
        match act {
            Act::Fail | Act::Transient => Some(StoreError::Io {
                store,
                op,
                object: "(scripted)".into(),
                source: std::io::Error::other("scripted failure"),
                transient: matches!(act, Act::Transient),
            }),
            Act::Down => Some(StoreError::Unavailable {
                store,
                why: Unavailable::Silent("scripted: down".into()),
            }),
            _ => None,
        }
    }

    /// Applies the fault to a request, then runs it.
    async fn apply<T>(
        &self,
        op: &'static str,
        read: bool,
        request: BoxFut<'_, Result<T, StoreError>>,
    ) -> Result<(T, bool), StoreError> {
        let act = self.act(op, read);
        match act {
            Act::Hang => futures::future::pending().await,
            Act::Delay(d) => tokio::time::sleep(d).await,
            _ => {}
        }
        if let Some(e) = self.error(&act, op) {
            return Err(e);
        }
        Ok((request.await?, matches!(act, Act::Corrupt)))
    }
}

fn flip(bytes: Bytes) -> Bytes {
    if bytes.is_empty() {
        return bytes;
    }
    let mut v = bytes.to_vec();
    v[0] ^= 1;
    Bytes::from(v)
}

impl StoreRead for Faults {
    fn id(&self) -> &StoreId {
        self.inner.id()
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn read<'a>(&'a self, object: &'a Object, max: u64) -> BoxFut<'a, Result<Bytes, StoreError>> {
        Box::pin(async move {
            let (b, corrupt) = self
                .apply("read", true, self.inner.read(object, max))
                .await?;
            Ok(if corrupt { flip(b) } else { b })
        })
    }

    fn read_range<'a>(
        &'a self,
        object: &'a Object,
        offset: u64,
        len: u64,
    ) -> BoxFut<'a, Result<Bytes, StoreError>> {
        Box::pin(async move {
            let request = self.inner.read_range(object, offset, len);
            let (b, corrupt) = self.apply("read", true, request).await?;
            Ok(if corrupt { flip(b) } else { b })
        })
    }

    fn stat<'a>(
        &'a self,
        object: &'a Object,
    ) -> BoxFut<'a, Result<Option<ObjectMeta>, StoreError>> {
        Box::pin(async move {
            self.apply("stat", false, self.inner.stat(object))
                .await
                .map(|(v, _)| v)
        })
    }

    fn health(&self) -> Health {
        self.inner.health()
    }

    fn retries_requests(&self) -> bool {
        self.inner.retries_requests()
    }

    fn mark_down(&self, why: Unavailable) {
        self.inner.mark_down(why)
    }

    fn requests(&self) -> Option<RequestCounts> {
        self.inner.requests()
    }
}

impl StoreAdmin for Faults {
    fn write<'a>(&'a self, object: &'a Object, data: Bytes) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.apply("write", false, self.inner.write(object, data))
                .await
                .map(|(v, _)| v)
        })
    }

    fn touch<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.apply("touch", false, self.inner.touch(object))
                .await
                .map(|(v, _)| v)
        })
    }

    fn delete<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.apply("delete", false, self.inner.delete(object))
                .await
                .map(|(v, _)| v)
        })
    }

    fn list(&self, class: Class) -> BoxFut<'_, Result<Listing, StoreError>> {
        Box::pin(async move {
            self.apply("list", false, self.inner.list(class))
                .await
                .map(|(v, _)| v)
        })
    }

    fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.apply("create", false, self.inner.create())
                .await
                .map(|(v, _)| v)
        })
    }

    fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.apply("check", false, self.inner.check())
                .await
                .map(|(v, _)| v)
        })
    }

    fn free_space(&self) -> BoxFut<'_, Result<Option<u64>, StoreError>> {
        self.inner.free_space()
    }
}
