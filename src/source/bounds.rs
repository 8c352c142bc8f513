//! What usage and requests the collector believes: every plausibility rule
//! of API input in one place.
//!
//! A quantity that parses can still be garbage: negative (a metrics-server
//! bug), or a value no machine has (`1e12` cores, a corrupt object). Billing
//! it would put one absurd row into every total downstream, so an item
//! outside these bounds is skipped with a counted error instead. The bounds
//! are far above any real machine (the largest cloud instances have ~900
//! vCPUs and 32 TiB of memory) so they never refuse a real reading.

/// More CPU than this in one container, pod or node is not a reading.
pub const MAX_CPU_CORES: f64 = 100_000.0;
/// More memory than this (1 PiB) in one container, pod or node is not a reading.
pub const MAX_MEMORY_BYTES: i64 = 1 << 50;

/// Why a CPU figure (cores) is not believable, if it is not.
pub fn cpu_problem(what: &str, cores: f64) -> Option<String> {
    if !cores.is_finite() || cores < 0.0 {
        Some(format!(
            "{what} cpu {cores} cores is negative or not a number"
        ))
    } else if cores > MAX_CPU_CORES {
        Some(format!(
            "{what} cpu {cores} cores is beyond any machine (limit {MAX_CPU_CORES})"
        ))
    } else {
        None
    }
}

/// Why a memory figure (bytes) is not believable, if it is not.
pub fn memory_problem(what: &str, bytes: i64) -> Option<String> {
    if bytes < 0 {
        Some(format!("{what} memory {bytes} bytes is negative"))
    } else if bytes > MAX_MEMORY_BYTES {
        Some(format!(
            "{what} memory {bytes} bytes is beyond any machine (limit {MAX_MEMORY_BYTES})"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_readings_pass_and_garbage_is_named() {
        assert_eq!(cpu_problem("usage", 896.0), None);
        assert_eq!(memory_problem("usage", 32 << 40), None);
        assert_eq!(cpu_problem("usage", 0.0), None);
        for cores in [-1.0, f64::NAN, f64::INFINITY, 1e12] {
            assert!(cpu_problem("usage", cores).is_some(), "{cores}");
        }
        for bytes in [-1, i64::MAX] {
            assert!(memory_problem("usage", bytes).is_some(), "{bytes}");
        }
        assert_eq!(
            cpu_problem("request", 1e12).as_deref(),
            Some("request cpu 1000000000000 cores is beyond any machine (limit 100000)")
        );
    }
}
