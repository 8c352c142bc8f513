//! The heap a run needs, sampled: `VmHWM` also counts the file pages a
//! reader maps. Included by the analysis bench with `#[path]`; it calls the
//! benchmark's own `fail`.

use std::time::Duration;

use super::fail;
use super::measure::status_bytes;

/// The highest `RssAnon` of this process while it lives, read every 2 ms on
/// a thread of its own: the heap a run needs, without the file pages
/// `VmHWM` also counts (polars maps the Parquet files it reads; those pages
/// are the kernel's cache, dropped under pressure). A spike shorter than
/// the interval can be missed.
pub struct AnonPeak {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<u64>,
}

impl AnonPeak {
    pub fn start() -> AnonPeak {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        let sampler = std::thread::spawn(move || {
            let mut most = status_bytes("RssAnon");
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(status_bytes("RssAnon"));
                std::thread::sleep(Duration::from_millis(2));
            }
            most.max(status_bytes("RssAnon"))
        });
        AnonPeak { stop, sampler }
    }

    /// Stops sampling; the highest `RssAnon` seen, in bytes.
    pub fn finish(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.sampler
            .join()
            .unwrap_or_else(|_| fail("the RssAnon sampler panicked"))
    }
}
