//! The C allocator's settings for this process's many large, short-lived tensors.
//!
//! glibc serves a block above its mmap threshold (128 KiB at first, rising up to 32 MiB as
//! such blocks are freed) with a fresh `mmap` and unmaps it on `free`, and returns free memory
//! at the top of its heap to the system past its trim threshold (128 KiB). A pass of the
//! network allocates and frees activations of tens of megabytes at every layer, so every
//! layer's output was new pages for the kernel to fault in and zero. With both thresholds at
//! 1 GiB the freed blocks are reused instead: `evaluate --split val` took 101 and 103 s with
//! this and the same day's ReLU6 change against 123 and 126 s without either, the same
//! figures and peak memory, with a fifth of the system time (docs/throughput.md). The browser
//! has its own allocator; this is native only.

/// Keep large freed blocks in the process for reuse rather than handing them back at once.
/// Call before the first allocation of note (first thing in `main`).
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const ONE_GIB: libc::c_int = 1 << 30;
        // SAFETY: `mallopt` only sets allocator parameters; both values are in its range. A
        // refusal (a return of 0) leaves glibc's defaults, which are correct, only slower.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, ONE_GIB);
            libc::mallopt(libc::M_TRIM_THRESHOLD, ONE_GIB);
        }
    }
}
