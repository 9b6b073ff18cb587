//! Marsaglia's xorshift64, the one deterministic generator of core's tests and benchmarks
//! (`benches/` include this file by path): fixed inputs that look random, reproducible from a
//! seed, with no dependency (statistical quality does not matter here).

/// A stream of pseudo-random words from a non-zero seed.
pub struct XorShift64(pub u64);

impl XorShift64 {
    /// The next word.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// The next value in [0, 1), from the word's top 53 bits.
    pub fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
