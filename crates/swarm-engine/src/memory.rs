//! Keeps the process's memory bounded by what is in flight.
//!
//! Shards and chunks are buffers of one to sixteen MiB, allocated on one thread and freed on
//! another. glibc raises its mmap threshold after the first such buffer is freed, after which
//! they come from per-thread arenas that keep the freed memory: peak RSS of a 1 GiB put or get
//! doubled (250-320 MB instead of 75-105 MB). A fixed threshold keeps big buffers in mmap, which
//! is returned to the system on free.

/// Buffers at least this large are mapped and unmapped directly.
const MMAP_THRESHOLD: libc::c_int = 256 * 1024;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn bound_allocator() {
    // SAFETY: mallopt only changes allocator tuning; it is called before any other thread
    // exists and takes plain integers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn bound_allocator() {}
