//! Memory allocation settings for training on the CPU.
//!
//! A training step allocates and frees many tensors of a few MB each. glibc's malloc maps
//! each allocation above its (adaptive) threshold with `mmap` and unmaps it when freed, and
//! gives memory at the heap's top back to the system, so every step pays page faults and
//! page zeroing for memory it just had. Raising the mmap threshold to its ceiling (32 MiB)
//! and the trim threshold out of reach keeps that memory in the heap for the next step.
//! Measured with `benches/training.rs` (BENCHMARKS.md): SCAE +12 %, CPC +25 % patches per
//! second, the classifier unchanged. The cost: the process keeps its peak heap until it
//! exits, which suits a training run. `trainer` sets it for every command, `predict`
//! included: classifier inference over batches of 32 gained 15-20 % from it
//! (`benches/throughput.rs`, which sets it too).

/// Applies the settings above (glibc on Linux; elsewhere nothing). Returns whether glibc
/// took both.
pub fn tune_for_training() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes malloc's parameters; called before the threads that
        // allocate exist, as glibc asks.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}
