//! Progress events: the engine reports, front ends draw (bars, PROGRESS lines, nothing).

/// Receives progress of one operation. All methods default to doing nothing.
pub trait Observer: Send + Sync {
    /// The operation will process `total` units (bytes for put/get, keys for fsck/repair).
    fn start(&self, _what: &str, _total: u64) {}
    /// `n` more units are done.
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
    /// A get received `n` more bytes from `store`.
    fn store_advance(&self, _store: &str, _n: u64) {}
    /// A get stopped using `store` for the rest of the transfer.
    fn store_dropped(&self, _store: &str, _why: &str) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}
