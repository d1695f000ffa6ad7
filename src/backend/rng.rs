//! A tiny seeded random generator (xorshift64*), so that a demo or simulator run is repeatable
//! from its seed without another dependency. Not for anything that needs real randomness.

#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed: nearby seeds give unrelated streams, and 0 is not a fixed point.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough integer in `0..n`; 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// An integer in `lo..=hi`; `lo` if the range is empty.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// A duration in `[min, max]` (millisecond steps); `min` if the range is empty.
    pub fn between(&mut self, min: std::time::Duration, max: std::time::Duration) -> std::time::Duration {
        let (lo, hi) = (min.as_millis() as u64, max.as_millis() as u64);
        if hi <= lo {
            return min;
        }
        std::time::Duration::from_millis(lo + self.next_u64() % (hi - lo + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = XorShift::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..5)
            .map({
                let mut r = XorShift::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..5)
            .map({
                let mut r = XorShift::new(8);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn ranges_are_respected() {
        let mut r = XorShift::new(0);
        for _ in 0..1000 {
            assert!(r.below(4) < 4);
            let d = r.between(Duration::from_secs(15), Duration::from_secs(25));
            assert!(d >= Duration::from_secs(15) && d <= Duration::from_secs(25));
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.between(Duration::from_secs(3), Duration::from_secs(1)), Duration::from_secs(3));
    }
}
