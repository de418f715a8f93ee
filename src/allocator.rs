//! glibc's allocator controls behind [`raincast::memory`]'s hooks. This file
//! belongs to the binary (and the benchmark example), not the library: the
//! calls are `unsafe` FFI, which the library keeps out.

/// The hooks to install with [`raincast::memory::install`].
pub fn hooks() -> raincast::memory::Hooks {
    raincast::memory::Hooks {
        lean_allocator,
        release,
    }
}

/// Serve large allocations (training matrices, histograms, row buffers:
/// anything over 128 KiB) straight from `mmap`, so they go back to the
/// operating system the moment they are freed. glibc otherwise raises this
/// threshold after the first large free and keeps later big buffers in its
/// per-thread heaps, where they fragment and inflate the peak. Idempotent.
fn lean_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Hand freed memory back to the operating system: glibc keeps freed heap
/// pages in its arenas (one per thread that allocated).
fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
