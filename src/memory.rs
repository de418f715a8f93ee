//! Handing freed memory back to the operating system. glibc keeps freed
//! heap pages in its per-thread arenas, so after a training (hundreds of MB
//! of matrices and histograms) or a burst of password hashes (19 MiB each,
//! on whichever blocking thread ran them) the process would stay that much
//! larger than it needs (issue #13: within 20 MB of idle after training).
//!
//! The calls that fix this (`mallopt`, `malloc_trim`) are `unsafe` FFI,
//! which the library keeps out: the binary (`src/main.rs`) installs them
//! here once at start-up as plain functions, and the library calls them at
//! the right moments. Without an installed hook (tests that embed the
//! library, other platforms) these are no-ops.

use std::sync::OnceLock;

/// The platform's allocator controls, installed by the binary.
#[derive(Debug, Clone, Copy)]
pub struct Hooks {
    /// Serve large allocations straight from `mmap`, so they go back to the
    /// system the moment they are freed (called before a training).
    pub lean_allocator: fn(),
    /// Return the allocator's free pages to the system.
    pub release: fn(),
}

static HOOKS: OnceLock<Hooks> = OnceLock::new();

/// Install the hooks; the first installation wins. Returns whether these
/// were installed.
pub fn install(hooks: Hooks) -> bool {
    HOOKS.set(hooks).is_ok()
}

/// Before a large, short-lived workload: keep big buffers out of the heap.
/// Idempotent.
pub fn lean_allocator() {
    if let Some(h) = HOOKS.get() {
        (h.lean_allocator)();
    }
}

/// After a large workload has dropped its memory: give it back.
pub fn release() {
    if let Some(h) = HOOKS.get() {
        (h.release)();
    }
}
