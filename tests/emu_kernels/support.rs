//! Shared helpers of the emulator tests: a seeded RNG, the LaunchShape bridge, and comparisons
//! that report the first mismatch and the max abs/rel error (llm.c `validate_result` style).

use tensorport::ops::launch::LaunchShape;
use tensorport_emu::Launch;

/// splitmix64: seeded, reproducible, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
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
    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.unit()).collect()
    }
    /// Random values with about one in `one_in` replaced by a special (NaN, ±inf, ±0, subnormal).
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

pub fn launch(s: LaunchShape) -> Launch {
    Launch {
        grid: s.grid,
        block: s.block,
        shared_bytes: s.shared_bytes,
    }
}

/// Bit-for-bit equality (NaN payloads and the sign of zero included).
pub fn assert_bits_eq(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let bad: Vec<usize> = (0..got.len())
        .filter(|&i| got[i].to_bits() != want[i].to_bits())
        .collect();
    if let Some(&i) = bad.first() {
        panic!(
            "{what}: {} of {} elements differ; first at [{i}]: kernel {:?} ({:#010x}), reference {:?} ({:#010x})",
            bad.len(),
            got.len(),
            got[i],
            got[i].to_bits(),
            want[i],
            want[i].to_bits()
        );
    }
}

/// `|got - want| <= tol[i]` everywhere; on failure prints the count, the first mismatch and the
/// max abs/rel errors and how much of the tolerance they used.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let (mut max_abs, mut max_rel, mut max_used) = (0f64, 0f64, 0f64);
    let mut first = None;
    let mut bad = 0usize;
    for i in 0..got.len() {
        let (g, w) = (f64::from(got[i]), f64::from(want[i]));
        let err = (g - w).abs();
        let ok = err <= tol[i] && g.is_finite() == w.is_finite();
        max_abs = max_abs.max(err);
        max_rel = max_rel.max(err / w.abs().max(f64::MIN_POSITIVE));
        max_used = max_used.max(err / tol[i]);
        if !ok {
            bad += 1;
            first.get_or_insert(i);
        }
    }
    if let Some(i) = first {
        panic!(
            "{what}: {bad} of {} elements outside tolerance; first at [{i}]: kernel {}, reference {}, tol {:.3e}; max abs err {max_abs:.3e}, max rel err {max_rel:.3e}, max err/tol {max_used:.3}",
            got.len(),
            got[i],
            want[i],
            tol[i]
        );
    }
}
