//! Winograd against the im2col path on odd sizes, within a derived error bound.

use super::super::group_gemm;
use super::*;

fn dims(n: usize, c_in: usize, h: usize, w: usize, c_out: usize, pad: usize) -> Dims {
    Dims {
        n,
        c_in,
        h,
        w,
        c_out,
        kh: 3,
        kw: 3,
        sh: 1,
        sw: 1,
        ph: pad,
        pw: pad,
        dh: 1,
        dw: 1,
        groups: 1,
        h_out: h + 2 * pad - 2,
        w_out: w + 2 * pad - 2,
        cg_in: c_in,
        cg_out: c_out,
        relu: false,
    }
}

/// Uniform in [-1, 1].
fn filled(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

/// The bound, for |x| ≤ X, |w| ≤ W, |b| ≤ Bv. With unit roundoff u and
/// γ(n) = n·u / (1 − n·u), a length-n dot product in any order (FMA or not) errs by at most
/// γ(n)·Σ|terms|; the im2col reference is one of length 9·C_in, so it errs by at most
/// γ(9·C_in)·9·C_in·X·W. Winograd rounds values larger than the taps: |Bᵀ d B| ≤ 4·X (two
/// ±1 entries per row of Bᵀ), |G g Gᵀ| ≤ 2.25·W (row sums of |G| are 1.5), and Aᵀ·A sums up
/// to 9 of the products, so every rounding acts on at most 81·C_in·X·W, 9 times the
/// direct sum's 9·C_in·X·W; the sums are shorter (C_in per product plus at most 8 additions
/// in the transforms), so its error is at most γ(C_in + 8)·81·C_in·X·W ≤
/// 9·γ(9·C_in + 8)·9·C_in·X·W. The factor is therefore 9 over the length-(9·C_in + 8) dot
/// product bound, plus 1 for the reference's own error: 10, and the bias adds 2·u·Bv.
fn bound(c_in: usize, x: f32, w: f32, b: f32) -> f32 {
    let u = f32::EPSILON / 2.0;
    let n = (9 * c_in + 8) as f32;
    let gamma = n * u / (1.0 - n * u);
    10.0 * gamma * 9.0 * c_in as f32 * x * w + 2.0 * u * b
}

#[test]
fn matches_im2col_within_the_winograd_error_bound() {
    let mut checked = 0;
    for (n, c_in, c_out) in [(1, 16, 16), (3, 19, 33), (1, 19, 16), (3, 16, 33)] {
        for (h, w) in [(5, 5), (7, 13), (13, 7), (13, 13), (5, 7)] {
            for pad in [0, 1] {
                let d = dims(n, c_in, h, w, c_out, pad);
                assert!(applies(&d), "{d:?}");
                let x = filled(n * c_in * h * w, (h * w + c_in) as u32);
                let wt = filled(c_out * c_in * 9, (c_out + pad) as u32);
                let b = filled(c_out, 5);
                let per = c_out * d.hw_out();
                let mut want = vec![0.0f32; n * per];
                for (i, o) in want.chunks_mut(per).enumerate() {
                    let xi = &x[i * c_in * h * w..][..c_in * h * w];
                    group_gemm(&d, xi, &wt, Some(&b), o, 1).unwrap();
                }
                let tol = bound(c_in, 1.0, 1.0, 1.0);
                for threads in [1, 3] {
                    let mut got = vec![f32::NAN; n * per];
                    conv2d(&d, &x, &wt, Some(&b), &Post::none(), &mut got, threads).unwrap();
                    for (e, (g, r)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (g - r).abs() <= tol,
                            "{d:?} threads {threads} element {e}: {g} vs {r} (bound {tol})"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 80);
}
