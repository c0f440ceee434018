//! Parameter initialisation: PyTorch's default distributions from a seeded generator, so a model
//! built without a checkpoint is deterministic (and needs no Python to reproduce).
//!
//! Layers built without an explicit [`Init`] draw from a process-wide stream that
//! [`manual_seed`] resets (PyTorch's `torch.manual_seed`): the same seed and the same order of
//! construction give the same weights.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// SplitMix64's increment: consecutive layers get well-separated streams.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

static NEXT_SEED: AtomicU64 = AtomicU64::new(0x7e45_0000_0000_0001);

/// Restarts the stream that layers built without an explicit [`Init`] draw from.
pub fn manual_seed(seed: u64) {
    NEXT_SEED.store(seed, Ordering::Relaxed);
}

/// A seeded generator for parameter init (SplitMix64).
#[derive(Clone, Debug)]
pub struct Init(u64);

impl Init {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Init {
        Init(seed)
    }

    /// The next generator of the process-wide stream (see [`manual_seed`]).
    pub fn next_global() -> Init {
        Init(NEXT_SEED.fetch_add(GOLDEN, Ordering::Relaxed))
    }

    fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(GOLDEN);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32
    }

    /// PyTorch's default for conv and linear layers: U(−1/√fan_in, 1/√fan_in) for the weight
    /// (kaiming_uniform with a = √5) and the bias; float32.
    pub fn uniform(&mut self, shape: &[usize], fan_in: usize) -> Result<Tensor> {
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| Error::Overflow {
                what: format!("parameter of shape {shape:?}"),
            })?;
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|_| Error::OutOfMemory {
            what: format!("parameter of shape {shape:?}"),
            bytes: n.saturating_mul(4),
        })?;
        v.extend((0..n).map(|_| (self.next_f32() * 2.0 - 1.0) * bound));
        Tensor::from_vec(v, shape)
    }
}
