//! Key hashing on a thread of its own, so the SHA-256 (or other backend) of a whole file
//! overlaps reading, chunking, coding and writing instead of adding to them.

use bytes::Bytes;
use swarm_core::key::KeyHasher;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Buffers waiting to be hashed; they are shared with the rest of the pipeline, so this bounds
/// how far hashing may lag behind.
const QUEUE: usize = 2;

pub(crate) struct BackgroundHasher {
    tx: Option<mpsc::Sender<Bytes>>,
    task: Option<JoinHandle<String>>,
}

impl BackgroundHasher {
    /// `None` (a backend without a content hash) makes every call a no-op.
    pub(crate) fn spawn(hasher: Option<KeyHasher>) -> Self {
        let Some(mut hasher) = hasher else {
            return BackgroundHasher {
                tx: None,
                task: None,
            };
        };
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
        let task = tokio::task::spawn_blocking(move || {
            while let Some(b) = rx.blocking_recv() {
                hasher.update(&b);
            }
            hasher.finalize()
        });
        BackgroundHasher {
            tx: Some(tx),
            task: Some(task),
        }
    }

    /// Hashes the next piece of the content (pieces must come in content order).
    pub(crate) async fn feed(&self, piece: Bytes) {
        if let Some(tx) = &self.tx {
            // The receiver only stops when dropped by `finish`.
            let _ = tx.send(piece).await;
        }
    }

    /// The hex digest of everything fed, or `None` without a hasher.
    pub(crate) async fn finish(mut self) -> Option<String> {
        drop(self.tx.take());
        match self.task.take()?.await {
            Ok(digest) => Some(digest),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}
