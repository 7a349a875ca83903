//! Progress as a stream of events: the engine reports, front ends draw (bars, PROGRESS lines,
//! a node's status), or nothing. [`channel`] turns the events into a stream.

use swarm_core::ids::StoreId;
use tokio::sync::mpsc;

/// What an operation reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The operation will process `total` units (bytes for put/get, keys for fsck/repair).
    Started {
        op: &'static str,
        total: u64,
    },
    /// `n` more units are done.
    Advanced(u64),
    /// A read received `bytes` more from `store`.
    StoreBytes {
        store: StoreId,
        bytes: u64,
    },
    /// A read stopped using `store` for the rest of the operation.
    StoreDropped {
        store: StoreId,
        why: String,
    },
    Finished,
}

/// Receives the events of one operation. Called from the operation's tasks: keep it quick.
pub trait Observer: Send + Sync {
    fn event(&self, event: Event);
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _: Event) {}
}

/// An observer that forwards every event to a stream.
pub struct Sender(mpsc::UnboundedSender<Event>);

impl Observer for Sender {
    fn event(&self, event: Event) {
        // The receiver gone means nobody is watching: not an error of the operation.
        let _ = self.0.send(event);
    }
}

/// An observer and the stream of its events.
pub fn channel() -> (Sender, mpsc::UnboundedReceiver<Event>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Sender(tx), rx)
}
