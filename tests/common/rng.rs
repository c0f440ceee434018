//! The one random generator of every test (integration tests and the crate's own unit tests,
//! which include this file by path): splitmix64, seeded, reproducible, no dependency.

#![allow(dead_code)]

/// A seeded splitmix64 stream.
pub struct Rng(u64);

impl Rng {
    /// A stream from `seed`; the same seed gives the same values on every machine.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in [lo, hi].
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in [-1, 1), on a grid of 2^-23.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// `n` values uniform in [-1, 1).
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.unit()).collect()
    }

    /// `n` values uniform in [-scale, scale).
    pub fn vec_scaled(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.unit() * scale).collect()
    }

    /// Random values with about one in `one_in` replaced by a special (NaN, ±inf, ±0,
    /// subnormal, the most negative float).
    pub fn vec_with_specials(&mut self, n: usize, one_in: usize) -> Vec<f32> {
        const SPECIALS: [f32; 8] = [
            f32::NAN,
            f32::NEG_INFINITY,
            f32::INFINITY,
            0.0,
            -0.0,
            f32::MIN_POSITIVE / 4.0,
            -f32::MIN_POSITIVE / 4.0,
            f32::MIN,
        ];
        (0..n)
            .map(|_| {
                if self.below(one_in) == 0 {
                    SPECIALS[self.below(SPECIALS.len())]
                } else {
                    self.unit()
                }
            })
            .collect()
    }
}
