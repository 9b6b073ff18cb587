//! The seeded random numbers of the batch-size optimizer and the simulator: xoshiro256++
//! seeded through SplitMix64 (the same stream as `rand_xoshiro::Xoshiro256PlusPlus::
//! seed_from_u64`, checked by a test), with the three draws Zeus needs built on its 64-bit
//! output.
//!
//! The generator is written here, not taken from `rand_xoshiro`, only so that its four state
//! words can be serialized: that crate's `serde` feature turns on serde's `std` and would
//! break the `no_std` build.
//!
//! The reference draws from numpy's PCG64 (ziggurat normals, its own bounded integers), which no
//! re-implementation reproduces bit for bit; what is kept is *when* and *how many* draws are
//! made, so that one seed gives one reproducible trajectory and the distribution over seeds
//! matches the reference's.

/// A seeded generator whose whole state serializes (feature `serde`), so an optimizer that
/// holds one can be persisted between recurrences and resumed on the same stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ZeusRng {
    state: [u64; 4],
}

impl ZeusRng {
    /// The generator for `seed`: the four state words are the first four outputs of
    /// SplitMix64 started at `seed` (never all zero).
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Self {
            state: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits (xoshiro256++).
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in [0, 1) from the top 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (`n > 0`; 0 for `n == 0`), by the multiply-shift map of one
    /// 64-bit draw (bias below 2⁻⁴⁰ for any n that fits a trace).
    pub fn below(&mut self, n: usize) -> usize {
        let x = self.next_u64();
        ((u128::from(x) * n as u128) >> 64) as usize
    }

    /// A standard normal draw by Box–Muller (two uniforms per draw; the second variate is
    /// dropped so that every draw consumes the same amount of the stream).
    pub fn standard_normal(&mut self) -> f64 {
        // 1 − u is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * core::f64::consts::PI * u2)
    }

    /// N(mean, std²); a zero standard deviation returns `mean` exactly but still consumes a
    /// draw, as numpy's `normal(mean, 0)` does.
    pub fn normal(&mut self, mean: f64, std: f64) -> f64 {
        let z = self.standard_normal();
        if std == 0.0 { mean } else { mean + std * z }
    }

    /// Shuffles `items` in place (Fisher–Yates, `len − 1` draws).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_rand_xoshiros_xoshiro256plusplus() {
        use rand_core::{Rng, SeedableRng};
        for seed in [0, 1, 7, u64::MAX] {
            let mut theirs = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
            let mut ours = ZeusRng::new(seed);
            for _ in 0..100 {
                assert_eq!(ours.next_u64(), theirs.next_u64());
            }
        }
    }

    #[test]
    fn draws_are_in_range_and_reproducible() {
        let mut a = ZeusRng::new(7);
        let mut b = ZeusRng::new(7);
        for _ in 0..1000 {
            let u = a.uniform();
            assert!((0.0..1.0).contains(&u));
            assert_eq!(u, b.uniform());
            assert!(a.below(5) < 5);
            b.below(5);
        }
        assert_eq!(a.normal(3.0, 0.0), 3.0);
    }

    #[test]
    fn normal_has_the_right_moments() {
        let mut r = ZeusRng::new(1);
        let n = 200_000;
        let xs: alloc::vec::Vec<f64> = (0..n).map(|_| r.normal(2.0, 3.0)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        // Standard errors: 3/sqrt(n) ≈ 0.0067 for the mean, ~0.03 for the variance.
        assert!((mean - 2.0).abs() < 0.03, "{mean}");
        assert!((var - 9.0).abs() < 0.15, "{var}");
    }
}
