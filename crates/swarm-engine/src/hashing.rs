//! The key's hash (SHA-256 for SHA256E, or whichever backend the key names) of a whole object,
//! computed beside everything else: pieces are fed in content order and hashed one at a time on
//! the CPU pool, so the hash overlaps reading, coding and writing instead of adding to them.

use bytes::Bytes;
use swarm_core::key::KeyHasher;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::EngineError;
use crate::pool::cpu;

/// Pieces waiting to be hashed; they are shared with the rest of the pipeline, so this bounds
/// how far hashing may lag behind.
const QUEUE: usize = 2;

pub(crate) struct KeyHashing {
    tx: Option<mpsc::Sender<Bytes>>,
    task: Option<JoinHandle<String>>,
}

impl KeyHashing {
    /// `None` (a backend without a content hash) makes every call a no-op.
    pub(crate) fn spawn(hasher: Option<KeyHasher>) -> Self {
        let Some(hasher) = hasher else {
            return KeyHashing {
                tx: None,
                task: None,
            };
        };
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
        let task = tokio::spawn(async move {
            let mut hasher = hasher;
            while let Some(piece) = rx.recv().await {
                hasher = cpu(move || {
                    hasher.update(&piece);
                    hasher
                })
                .await;
            }
            hasher.finalize()
        });
        KeyHashing {
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
    pub(crate) async fn finish(mut self) -> Result<Option<String>, EngineError> {
        drop(self.tx.take());
        match self.task.take() {
            None => Ok(None),
            Some(task) => task
                .await
                .map(Some)
                .map_err(|e| EngineError::Internal(format!("key hashing stopped: {e}"))),
        }
    }
}

impl Drop for KeyHashing {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
