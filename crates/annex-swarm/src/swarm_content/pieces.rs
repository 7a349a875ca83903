//! Checked pieces kept for the blocks peers ask for next: a peer asks for a piece's 16 KiB
//! blocks in order, so a piece read whole for its first block serves the rest. Bounded by a
//! byte budget (pieces being read count too); only pieces whose bytes checked out are ever in
//! a filled slot.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::OnceCell;

/// A piece's place in the cache: filled once (by the first reader; the others wait for it),
/// and how many of its bytes were handed out since it came in.
#[derive(Clone, Default)]
pub struct Slot {
    pub bytes: Arc<OnceCell<Bytes>>,
    pub sent: Arc<AtomicU64>,
}

struct Entry {
    piece: usize,
    len: u64,
    slot: Slot,
}

pub struct PieceCache {
    budget: u64,
    /// Most recent first.
    entries: Mutex<VecDeque<Entry>>,
}

impl PieceCache {
    /// Keeps up to `budget` bytes of pieces, and two pieces whatever it is.
    pub fn new(budget: u64) -> PieceCache {
        PieceCache {
            budget,
            entries: Mutex::new(VecDeque::new()),
        }
    }

    /// The slot of piece `piece` (`len` bytes), made the most recent (made when missing).
    /// Beyond the budget, the least recent piece whose bytes were all sent since it came in
    /// goes first (a peer has it whole), else the least recent; never the two most recent. A
    /// reader still holding an evicted slot finishes with it.
    pub fn slot(&self, piece: usize, len: u64) -> Slot {
        let mut entries = match self.entries.lock() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        let entry = match entries.iter().position(|e| e.piece == piece) {
            Some(at) => entries.remove(at),
            None => None,
        }
        .unwrap_or_else(|| Entry {
            piece,
            len,
            slot: Slot::default(),
        });
        let slot = entry.slot.clone();
        entries.push_front(entry);
        let mut kept: u64 = entries.iter().map(|e| e.len).sum();
        while kept > self.budget && entries.len() > 2 {
            let done = |e: &Entry| e.slot.sent.load(Ordering::Relaxed) >= e.len;
            let victim = (2..entries.len())
                .rev()
                .find(|&at| done(&entries[at]))
                .unwrap_or(entries.len() - 1);
            if let Some(e) = entries.remove(victim) {
                kept -= e.len;
            }
        }
        slot
    }

    /// The pieces kept, most recent first (tests).
    #[cfg(test)]
    fn pieces(&self) -> Vec<usize> {
        self.entries
            .lock()
            .map(|e| e.iter().map(|x| x.piece).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_the_budget_pieces_sent_whole_go_first_then_the_least_recent() {
        let cache = PieceCache::new(4 * 10);
        for p in 0..4 {
            cache.slot(p, 10);
        }
        assert_eq!(cache.pieces(), [3, 2, 1, 0]);
        // Piece 2 was sent whole: it goes before the older 0 and 1.
        cache.slot(2, 10).sent.store(10, Ordering::Relaxed);
        cache.slot(3, 10);
        cache.slot(4, 10);
        assert_eq!(cache.pieces(), [4, 3, 1, 0]);
        // None sent whole: the least recent.
        cache.slot(5, 10);
        assert_eq!(cache.pieces(), [5, 4, 3, 1]);
        // Asking again makes a piece the most recent and keeps its slot.
        let again = cache.slot(1, 10);
        assert!(Arc::ptr_eq(&again.bytes, &cache.slot(1, 10).bytes));
        assert_eq!(cache.pieces(), [1, 5, 4, 3]);
    }

    #[test]
    fn two_pieces_are_kept_whatever_the_budget() {
        let cache = PieceCache::new(1);
        for p in 0..5 {
            let slot = cache.slot(p, 100);
            slot.sent.store(100, Ordering::Relaxed);
        }
        assert_eq!(cache.pieces(), [4, 3]);
    }
}
