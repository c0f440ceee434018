//! Winograd F(2×2, 3×3) conv2d for f32: 3×3 kernels, stride 1, dilation 1, one group, any
//! padding, enough channels (`C_in ≥ 16`, `C_out ≥ 16`) for its 16 products to be worth it.
//!
//! Math: the output is cut into 2×2 tiles; tile `(th, tw)` reads the 4×4 input patch `d` at
//! rows `2·th − ph ..+ 4`, columns `2·tw − pw ..+ 4` (zero outside the image). With the
//! matrices of `winograd_transform.rs`, per output channel `co`:
//!
//! ```text
//!   U[co, ci] = G g[co, ci] Gᵀ        (4×4, per kernel)
//!   V[ci]     = Bᵀ d[ci] B            (4×4, per tile)
//!   Y[co]     = Aᵀ [Σ_ci U[co, ci] ⊙ V[ci]] A + b[co]     (2×2 output tile)
//! ```
//!
//! so for each of the 16 tile elements `k` the channel sum is a matrix product
//! `M_k [C_out, T] = U_k [C_out, C_in] · V_k [C_in, T]` over `T` tiles: 16 multiplies per tile
//! and channel pair instead of the 36 of the direct 2×2 outputs.
//!
//! Layouts: `U [16][C_out][C_in]`; per block of `T` tiles `V [16][C_in][T]` and
//! `M [16][C_out][T]` (scratch, `T` chosen so both fit in ~512 KiB of L2); the block's output
//! `[C_out][4][T]` (the 2×2 positions of each tile), scattered into the image afterwards.
//! Tiles of the last row and column may be partial (odd `H_out`, `W_out`): their patches read
//! zeros past the image and their outside outputs are dropped.
//!
//! The weight transform runs on every call for now: `16·C_out·C_in` values, a few percent of
//! the convolution's work (a cache of transformed weights would remove it).
//!
//! Threading: one task per (image, tile block) pair, so one image is split too; each task does
//! its 16 products on its own thread. The outputs are then placed one (image, channel) plane
//! per task, with relu and the epilogue ([`Post`]) applied to the plane as it is stored.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use rayon::prelude::*;

use super::winograd_transform::{self as tf, Lanes, L};
use super::Dims;
use crate::cpu::epilogue::Post;
use crate::cpu::gemm::{matmul, MatRef};
use crate::cpu::scalar::relu_slice;
use crate::cpu::with_scratch;
use crate::error::{Error, Result};

/// Bytes of `V` and `M` per tile block.
const BLOCK_BYTES: usize = 512 << 10;
/// Fewest tiles per block (so the products stay wide enough for the gemm's register tiles),
/// unless the image has fewer or more threads want work.
const MIN_TILES: usize = 32;

/// Whether `conv2d` takes this path at all: off by default, on with `TENSORPORT_WINOGRAD=1`
/// (or [`set_enabled`] in tests). Measured on a contended 2-core machine it was not yet faster
/// than im2col + gemm on any ResNet/VGG 3×3 layer (64→64 56×56 to 512→512 7×7, 1 and 2
/// threads): the per-call weight transform dominates late layers and the scalar transforms
/// and scatter cost more than the 2.25× fewer multiplies save on early ones.
pub(crate) fn enabled() -> bool {
    static ENV: OnceLock<bool> = OnceLock::new();
    match FORCE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => *ENV.get_or_init(|| std::env::var("TENSORPORT_WINOGRAD").is_ok_and(|v| v == "1")),
    }
}

/// 0: the environment decides; 1: off; 2: on.
static FORCE: AtomicU8 = AtomicU8::new(0);

/// Overrides [`enabled`] (`None`: back to the environment), for tests.
#[cfg(test)]
pub(crate) fn set_enabled(on: Option<bool>) {
    FORCE.store(on.map_or(0, |on| if on { 2 } else { 1 }), Ordering::Relaxed);
}

/// Whether this path can run `d` (f32 is the caller's check).
pub(crate) fn applies(d: &Dims) -> bool {
    let out = |i: usize, p: usize| p.checked_mul(2)?.checked_add(i)?.checked_sub(2);
    d.kh == 3
        && d.kw == 3
        && d.sh == 1
        && d.sw == 1
        && d.dh == 1
        && d.dw == 1
        && d.groups == 1
        && d.cg_in >= 16
        && d.c_out >= 16
        && d.h_out > 0
        && d.w_out > 0
        && out(d.h, d.ph) == Some(d.h_out)
        && out(d.w, d.pw) == Some(d.w_out)
}

/// How the tiles of one image are cut into blocks.
#[derive(Copy, Clone, Debug)]
struct Plan {
    tiles_w: usize,
    /// Tiles per image.
    tiles: usize,
    /// Tiles per block (the last block of an image may have fewer).
    block: usize,
    /// Blocks per image.
    blocks: usize,
}

fn plan(d: &Dims, threads: usize) -> Plan {
    let tiles_w = d.w_out.div_ceil(2);
    let tiles = d.h_out.div_ceil(2) * tiles_w;
    let per_tile = 16 * 4 * (d.c_in.saturating_add(d.c_out));
    let mut block = (BLOCK_BYTES / per_tile).max(MIN_TILES).min(tiles);
    // Enough tasks for every thread when there are fewer images than threads.
    let want = threads.div_ceil(d.n.max(1));
    if tiles.div_ceil(block) < want {
        block = tiles.div_ceil(want).max(L.min(tiles));
    }
    Plan {
        tiles_w,
        tiles,
        block,
        blocks: tiles.div_ceil(block),
    }
}

pub(crate) fn conv2d(
    d: &Dims,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    post: &Post<'_, f32>,
    out: &mut [f32],
    threads: usize,
) -> Result<()> {
    let p = plan(d, threads);
    let u = weights(d, w, threads);
    let task = |i: usize| block(d, &p, x, &u, bias, i / p.blocks, i % p.blocks);
    let pieces: Vec<Vec<f32>> = if threads > 1 {
        (0..d.n * p.blocks)
            .into_par_iter()
            .map(task)
            .collect::<Result<_>>()?
    } else {
        (0..d.n * p.blocks).map(task).collect::<Result<_>>()?
    };
    let hwo = d.hw_out();
    let place = |(r, row): (usize, &mut [f32])| {
        let (img, co) = (r / d.c_out, r % d.c_out);
        for (b, piece) in pieces[img * p.blocks..][..p.blocks].iter().enumerate() {
            let nt = piece.len() / (4 * d.c_out);
            let ys = &piece[co * 4 * nt..][..4 * nt];
            let t0 = b * p.block;
            let (mut oh, mut ow) = (2 * (t0 / p.tiles_w), 2 * (t0 % p.tiles_w));
            for j in 0..nt {
                let (h2, w2) = (oh + 1 < d.h_out, ow + 1 < d.w_out);
                row[oh * d.w_out + ow] = ys[j];
                if w2 {
                    row[oh * d.w_out + ow + 1] = ys[nt + j];
                }
                if h2 {
                    row[(oh + 1) * d.w_out + ow] = ys[2 * nt + j];
                    if w2 {
                        row[(oh + 1) * d.w_out + ow + 1] = ys[3 * nt + j];
                    }
                }
                ow += 2;
                if ow >= d.w_out {
                    (oh, ow) = (oh + 2, 0);
                }
            }
        }
        if d.relu {
            relu_slice(row);
        }
        post.piece(r * hwo, hwo).apply(row);
    };
    if threads > 1 {
        out.par_chunks_mut(hwo).enumerate().for_each(place);
    } else {
        out.chunks_mut(hwo).enumerate().for_each(place);
    }
    Ok(())
}

/// `U [16][C_out][C_in]`, split over output channels when threaded.
fn weights(d: &Dims, w: &[f32], threads: usize) -> Vec<f32> {
    let (ci_n, cc) = (d.c_in, d.c_out * d.c_in);
    let mut u = vec![0.0f32; 16 * cc];
    let rows = d.c_out.div_ceil(threads.max(1)).max(1);
    // Per block of output channels, its rows of each of the 16 planes.
    let mut parts: Vec<Vec<&mut [f32]>> = (0..d.c_out.div_ceil(rows)).map(|_| Vec::new()).collect();
    for plane in u.chunks_exact_mut(cc) {
        for (part, rows) in parts.iter_mut().zip(plane.chunks_mut(rows * ci_n)) {
            part.push(rows);
        }
    }
    let run = |(b, mut planes): (usize, Vec<&mut [f32]>)| {
        let n_rows = planes.first().map_or(0, |p| p.len() / ci_n);
        for r in 0..n_rows {
            let co = b * rows + r;
            for ci in 0..ci_n {
                let mut g = [0.0f32; 9];
                g.copy_from_slice(&w[(co * ci_n + ci) * 9..][..9]);
                let t = tf::weight(&g);
                for (plane, v) in planes.iter_mut().zip(t) {
                    plane[r * ci_n + ci] = v;
                }
            }
        }
    };
    if threads > 1 {
        parts.into_par_iter().enumerate().for_each(run);
    } else {
        parts.into_iter().enumerate().for_each(run);
    }
    u
}

/// Block `b` of image `img`: input transform, the 16 products, output transform. Returns the
/// block's output `[C_out][4][nt]`, bias added.
fn block(
    d: &Dims,
    p: &Plan,
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    img: usize,
    b: usize,
) -> Result<Vec<f32>> {
    let t0 = b * p.block;
    let nt = p.block.min(p.tiles - t0);
    let (ci_n, co_n) = (d.c_in, d.c_out);
    let plane = d.h * d.w;
    let x_img = &x[img * ci_n * plane..][..ci_n * plane];
    let mut y = vec![0.0f32; co_n * 4 * nt];
    let strip = Strip::new(d, p, t0, nt);
    with_scratch::<f32, _>(16 * (ci_n + co_n) * nt + strip.len(), |s| {
        let (v, rest) = s.split_at_mut(16 * ci_n * nt);
        let (m, sbuf) = rest.split_at_mut(16 * co_n * nt);
        // V [16][C_in][nt].
        for ci in 0..ci_n {
            strip.fill(d, &x_img[ci * plane..][..plane], sbuf);
            for j0 in (0..nt).step_by(L) {
                let lanes = L.min(nt - j0);
                let vt = tf::input(&strip.patches(p, sbuf, t0 + j0, lanes));
                for (k, vk) in vt.iter().enumerate() {
                    store(&mut v[(k * ci_n + ci) * nt + j0..], vk, lanes);
                }
            }
        }
        // M_k [C_out, nt] = U_k [C_out, C_in] · V_k [C_in, nt].
        for k in 0..16 {
            let a = MatRef {
                data: &u[k * co_n * ci_n..][..co_n * ci_n],
                rs: ci_n,
                cs: 1,
            };
            let bm = MatRef {
                data: &v[k * ci_n * nt..][..ci_n * nt],
                rs: nt,
                cs: 1,
            };
            let mk = &mut m[k * co_n * nt..][..co_n * nt];
            matmul(co_n, nt, ci_n, mk, nt, false, a, bm, 1)?;
        }
        // Y [C_out][4][nt].
        for co in 0..co_n {
            let bv = bias.map_or(0.0, |b| b[co]);
            let yc = &mut y[co * 4 * nt..][..4 * nt];
            for j0 in (0..nt).step_by(L) {
                let lanes = L.min(nt - j0);
                let mut mt = [[0.0f32; L]; 16];
                for (k, mk) in mt.iter_mut().enumerate() {
                    load(mk, &m[(k * co_n + co) * nt + j0..], lanes);
                }
                let yt = tf::output(&mt, bv);
                for (q, yq) in yt.iter().enumerate() {
                    store(&mut yc[q * nt + j0..], yq, lanes);
                }
            }
        }
        Ok::<(), Error>(())
    })?;
    Ok(y)
}

/// `src[..lanes]` into `dst[..lanes]`, a fixed-size copy when all lanes are used.
#[inline(always)]
fn store(dst: &mut [f32], src: &Lanes, lanes: usize) {
    if lanes == L {
        dst[..L].copy_from_slice(src);
    } else {
        dst[..lanes].copy_from_slice(&src[..lanes]);
    }
}

#[inline(always)]
fn load(dst: &mut Lanes, src: &[f32], lanes: usize) {
    if lanes == L {
        dst.copy_from_slice(&src[..L]);
    } else {
        dst[..lanes].copy_from_slice(&src[..lanes]);
    }
}

/// The input rows a block's tiles read, one channel at a time, zero-padded so every patch is
/// read without bounds tests: strip row `r` is input row `2·th0 + r − ph`, strip column `c`
/// is input column `c − pw` (zero where those lie outside the image).
struct Strip {
    /// First tile row of the block.
    th0: usize,
    rows: usize,
    cols: usize,
}

impl Strip {
    fn new(d: &Dims, p: &Plan, t0: usize, nt: usize) -> Strip {
        let th0 = t0 / p.tiles_w;
        let th1 = (t0 + nt.max(1) - 1) / p.tiles_w;
        Strip {
            th0,
            rows: 2 * (th1 - th0) + 4,
            // 2·tiles_w + 2 ≥ W_out + 2 = W + 2·pw: every column a patch reads.
            cols: (2 * p.tiles_w + 2).max(d.w + d.pw),
        }
    }

    fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Copies channel plane `xp` into the strip (every element written).
    fn fill(&self, d: &Dims, xp: &[f32], sbuf: &mut [f32]) {
        let lo = d.pw.min(self.cols);
        let hi = (d.pw + d.w).min(self.cols);
        for (r, dst) in sbuf[..self.len()].chunks_exact_mut(self.cols).enumerate() {
            match (2 * self.th0 + r).checked_sub(d.ph).filter(|&i| i < d.h) {
                None => dst.fill(0.0),
                Some(ih) => {
                    dst[..lo].fill(0.0);
                    dst[lo..hi].copy_from_slice(&xp[ih * d.w..][..hi - lo]);
                    dst[hi..].fill(0.0);
                }
            }
        }
    }

    /// The 4×4 patches of tiles `t .. t + lanes`, lane-major (`d[r][c][lane]`), zero in unused
    /// lanes.
    fn patches(&self, p: &Plan, sbuf: &[f32], t: usize, lanes: usize) -> [[Lanes; 4]; 4] {
        let mut patch = [[[0.0f32; L]; 4]; 4];
        let (mut th, mut tw) = (t / p.tiles_w, t % p.tiles_w);
        for lane in 0..lanes {
            let base = &sbuf[(2 * (th - self.th0)) * self.cols + 2 * tw..];
            for (r, prow) in patch.iter_mut().enumerate() {
                let src = &base[r * self.cols..][..4];
                for (pv, &sv) in prow.iter_mut().zip(src) {
                    pv[lane] = sv;
                }
            }
            tw += 1;
            if tw == p.tiles_w {
                (th, tw) = (th + 1, 0);
            }
        }
        patch
    }
}

#[cfg(test)]
#[path = "winograd_tests.rs"]
mod tests;
