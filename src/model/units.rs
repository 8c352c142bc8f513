//! The unit conversions every layer shares, defined once: binary byte
//! multiples (Kubernetes' `Mi`, `Gi`, and the GiB the cost columns are in)
//! and the millicore, the precision CPU requests are written in.

/// Bytes per MiB.
pub const MIB: f64 = 1024.0 * 1024.0;

/// Bytes per GiB.
pub const GIB: f64 = 1024.0 * MIB;

/// `cores` to the nearest millicore.
pub fn millicores(cores: f64) -> i64 {
    (cores * 1000.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_cores_to_the_nearest_millicore() {
        assert_eq!(millicores(0.2504), 250);
        assert_eq!(millicores(0.2505), 251);
        assert_eq!(GIB, f64::from(1_u32 << 30));
    }
}
