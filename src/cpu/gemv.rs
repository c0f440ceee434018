//! Matrix-vector products for linear layers with few rows (batch ≤ [`MAX_ROWS`]):
//! `out[i, o] = act(bias[o] + Σ_k x[i, k] · w[o, k])`, `x` `[M, K]`, `w` `[N, K]`, both
//! row-major and contiguous.
//!
//! With so few rows every weight is used M times, so the product is bound by how fast `w`
//! streams from memory, not by arithmetic: the kernel reads each weight row exactly once, `R`
//! rows side by side (R independent streams in flight for the prefetchers), and keeps
//! `M × R` vector accumulators of `L` lanes; a row's lanes are summed once at the end. The
//! output features are split into contiguous blocks, one per task, so every core streams its
//! own part of `w` and no weight is read twice.
//!
//! The body is written once over fixed-size lane arrays (which LLVM turns into vector
//! registers) and compiled per [`CpuCapability`]: AVX-512 (16 lanes, FMA), AVX2 (8 lanes,
//! FMA), and the portable baseline (8 lanes, separate multiply and add).

use rayon::prelude::*;

use super::isa::{active, CpuCapability};
use crate::error::{Error, Result};

/// The most rows this path takes; more rows reuse each weight often enough for a blocked GEMM.
/// Up to 8 the product is still bound by streaming the weights (8 rows of x stay in L2, and 8
/// vector accumulators fit every instruction set), while the gemm crate repacks the whole
/// weight matrix on every call: AlexNet's fc1 at batch 8 took 57 ms there against ~13 ms here.
pub(crate) const MAX_ROWS: usize = 8;

/// Weight bytes below which one thread streams them all: splitting a few hundred KiB costs
/// more in the hand-off than it saves.
const PAR_MIN_BYTES: usize = 512 << 10;

/// Output features per task: a multiple of every `R`, large enough (with K ≥ 256, ≥ 256 KiB
/// of weights) that the task hand-off is noise, small enough that cores finish together.
const TASK_ROWS: usize = 64;

/// `out` `[M, N]` (fully overwritten) for `M = x.len() / k ≤ MAX_ROWS`, f32. `threads` is the
/// most tasks that run at once.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemv(
    m: usize,
    k: usize,
    n: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
    threads: usize,
) -> Result<()> {
    let bad = |what: &str, len: usize| Error::Shape {
        op: "linear",
        expected: format!("{what} for m={m} k={k} n={n}"),
        got: format!("{len} elements"),
    };
    if !(1..=MAX_ROWS).contains(&m) {
        return Err(bad(&format!("1 to {MAX_ROWS} rows"), m));
    }
    if Some(x.len()) != m.checked_mul(k) {
        return Err(bad("input", x.len()));
    }
    if Some(w.len()) != n.checked_mul(k) {
        return Err(bad("weight", w.len()));
    }
    if Some(out.len()) != m.checked_mul(n) {
        return Err(bad("output", out.len()));
    }
    if bias.is_some_and(|b| b.len() != n) {
        return Err(bad("bias", bias.map_or(0, <[f32]>::len)));
    }
    let cap = active();
    let bytes = w.len().saturating_mul(4);
    let one_thread = threads < 2 || bytes < PAR_MIN_BYTES || n <= TASK_ROWS;
    if m == 1 {
        // One row: the output is contiguous per block of features.
        let task = |(t, o): (usize, &mut [f32])| {
            let n0 = t * TASK_ROWS;
            block(cap, 1, k, x, &w[n0 * k..][..o.len() * k], o, o.len());
        };
        if one_thread {
            block(cap, 1, k, x, w, out, n);
        } else {
            out.par_chunks_mut(TASK_ROWS).enumerate().for_each(task);
        }
    } else if one_thread {
        let mut t = vec![0.0f32; m * n];
        block(cap, m, k, x, w, &mut t, n);
        scatter(&t, m, n, 0, n, out);
    } else {
        // Several rows: each task fills a [M, block] piece, then the pieces are placed.
        let pieces: Vec<(usize, Vec<f32>)> = (0..n.div_ceil(TASK_ROWS))
            .into_par_iter()
            .map(|t| {
                let n0 = t * TASK_ROWS;
                let nb = TASK_ROWS.min(n - n0);
                let mut p = vec![0.0f32; m * nb];
                block(cap, m, k, x, &w[n0 * k..][..nb * k], &mut p, nb);
                (n0, p)
            })
            .collect();
        for (n0, p) in pieces {
            let nb = p.len() / m;
            scatter(&p, m, nb, n0, n, out);
        }
    }
    epilogue(m, n, bias, relu, out);
    Ok(())
}

/// Copies a `[M, nb]` piece into columns `n0 ..` of `out [M, n]`.
fn scatter(p: &[f32], m: usize, nb: usize, n0: usize, n: usize, out: &mut [f32]) {
    for i in 0..m {
        out[i * n + n0..][..nb].copy_from_slice(&p[i * nb..][..nb]);
    }
}

/// Bias and relu (`x < 0 ? 0 : x`: NaN and -0.0 pass through, as torch's).
fn epilogue(m: usize, n: usize, bias: Option<&[f32]>, relu: bool, out: &mut [f32]) {
    if bias.is_none() && !relu {
        return;
    }
    for row in out.chunks_exact_mut(n).take(m) {
        if let Some(b) = bias {
            for (o, b) in row.iter_mut().zip(b) {
                *o += b;
            }
        }
        if relu {
            for o in row.iter_mut() {
                if *o < 0.0 {
                    *o = 0.0;
                }
            }
        }
    }
}

/// `out [M, nb] = x [M, K] · w[nb, K]ᵀ` on the path `cap`.
fn block(cap: CpuCapability, m: usize, k: usize, x: &[f32], w: &[f32], out: &mut [f32], nb: usize) {
    match cap {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `active()` only returns a capability the CPU was detected to have.
        CpuCapability::Avx512 => unsafe { block_avx512(m, k, x, w, out, nb) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        CpuCapability::Avx2 => unsafe { block_avx2(m, k, x, w, out, nb) },
        _ => block_rows::<8, false>(m, k, x, w, out, nb),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn block_avx512(m: usize, k: usize, x: &[f32], w: &[f32], out: &mut [f32], nb: usize) {
    block_rows::<16, true>(m, k, x, w, out, nb)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_avx2(m: usize, k: usize, x: &[f32], w: &[f32], out: &mut [f32], nb: usize) {
    block_rows::<8, true>(m, k, x, w, out, nb)
}

/// Picks the register block for `m` rows: `M × R` accumulators stay within 8 vectors.
#[inline(always)]
fn block_rows<const L: usize, const FMA: bool>(
    m: usize,
    k: usize,
    x: &[f32],
    w: &[f32],
    out: &mut [f32],
    nb: usize,
) {
    match m {
        1 => rows::<1, 4, L, FMA>(k, x, w, out, nb),
        2 => rows::<2, 4, L, FMA>(k, x, w, out, nb),
        3 => rows::<3, 2, L, FMA>(k, x, w, out, nb),
        4 => rows::<4, 2, L, FMA>(k, x, w, out, nb),
        5 => rows::<5, 1, L, FMA>(k, x, w, out, nb),
        6 => rows::<6, 1, L, FMA>(k, x, w, out, nb),
        7 => rows::<7, 1, L, FMA>(k, x, w, out, nb),
        _ => rows::<8, 1, L, FMA>(k, x, w, out, nb),
    }
}

/// All `nb` output features, `R` at a time (the last `nb % R` one at a time).
#[inline(always)]
fn rows<const M: usize, const R: usize, const L: usize, const FMA: bool>(
    k: usize,
    x: &[f32],
    w: &[f32],
    out: &mut [f32],
    nb: usize,
) {
    let mut o = 0;
    while o + R <= nb {
        let sums = dots::<M, R, L, FMA>(k, x, &w[o * k..][..R * k]);
        for (i, s) in sums.iter().enumerate() {
            out[i * nb + o..][..R].copy_from_slice(s);
        }
        o += R;
    }
    while o < nb {
        let sums = dots::<M, 1, L, FMA>(k, x, &w[o * k..][..k]);
        for (i, s) in sums.iter().enumerate() {
            out[i * nb + o] = s[0];
        }
        o += 1;
    }
}

/// `sums[i][r] = Σ_k x[i, k] · w[r, k]` for `M` rows of `x` and `R` rows of `w`.
#[inline(always)]
fn dots<const M: usize, const R: usize, const L: usize, const FMA: bool>(
    k: usize,
    x: &[f32],
    w: &[f32],
) -> [[f32; R]; M] {
    let mut acc = [[[0.0f32; L]; R]; M];
    let full = k / L * L;
    let mut c = 0;
    while c < full {
        let mut wv = [[0.0f32; L]; R];
        for (r, v) in wv.iter_mut().enumerate() {
            v.copy_from_slice(&w[r * k + c..][..L]);
        }
        for (i, acc_i) in acc.iter_mut().enumerate() {
            let xv: &[f32; L] = x[i * k + c..][..L].try_into().unwrap_or(&[0.0; L]);
            for (a, wr) in acc_i.iter_mut().zip(&wv) {
                for l in 0..L {
                    a[l] = if FMA {
                        wr[l].mul_add(xv[l], a[l])
                    } else {
                        a[l] + wr[l] * xv[l]
                    };
                }
            }
        }
        c += L;
    }
    let mut sums = [[0.0f32; R]; M];
    for i in 0..M {
        for r in 0..R {
            let mut s = acc[i][r].iter().sum::<f32>();
            for j in full..k {
                s += x[i * k + j] * w[r * k + j];
            }
            sums[i][r] = s;
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product in f64, the reference the f32 paths are held to.
    fn reference(m: usize, k: usize, n: usize, x: &[f32], w: &[f32]) -> Vec<f64> {
        let mut r = vec![0.0; m * n];
        for i in 0..m {
            for o in 0..n {
                r[i * n + o] = (0..k)
                    .map(|j| f64::from(x[i * k + j]) * f64::from(w[o * k + j]))
                    .sum();
            }
        }
        r
    }

    fn filled(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn every_path_every_row_count_and_tail_matches_f64() {
        // k = 37: a lane tail on every width; n = 131: a feature tail on every R and a
        // partial task; 3 threads so blocks split.
        let _path = super::super::isa::capability_test_lock();
        for cap in CpuCapability::ALL.into_iter().filter(|c| c.supported()) {
            for m in 1..=MAX_ROWS {
                for (k, n) in [(37usize, 131usize), (4096, 300), (1, 5)] {
                    let x = filled(m * k, 1);
                    let w = filled(n * k, 2);
                    let want = reference(m, k, n, &x, &w);
                    for threads in [1, 3] {
                        let mut out = vec![f32::NAN; m * n];
                        super::super::isa::set_cpu_capability(Some(cap)).unwrap();
                        gemv(m, k, n, &x, &w, None, false, &mut out, threads).unwrap();
                        for (i, (&g, &r)) in out.iter().zip(&want).enumerate() {
                            // Higham's bound for a sum of k products in f32, in any order:
                            // |error| ≤ γ_k · Σ|x·w| with γ_k ≈ k·u, u = 2⁻²⁴ (plus the
                            // rounding of each product, inside γ_k for k ≥ 1).
                            let (row, col) = (i / n, i % n);
                            let abs: f64 = (0..k)
                                .map(|j| f64::from((x[row * k + j] * w[col * k + j]).abs()))
                                .sum();
                            let tol = (k as f64 + 1.0) * f64::from(f32::EPSILON) / 2.0 * abs;
                            assert!(
                                (f64::from(g) - r).abs() <= tol,
                                "{cap} m={m} k={k} n={n} threads={threads} at {i}: {g} vs {r}"
                            );
                        }
                    }
                }
            }
        }
        super::super::isa::set_cpu_capability(None).ok();
    }
}
