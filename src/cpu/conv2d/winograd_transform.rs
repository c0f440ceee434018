//! The three transforms of Winograd F(2×2, 3×3) (see `winograd.rs` for the math and layouts):
//!
//! ```text
//!       [ 1    0    0  ]         [ 1  0 -1  0 ]         [ 1  1  1  0 ]
//!   G = [ 1/2  1/2  1/2]   Bᵀ =  [ 0  1  1  0 ]   Aᵀ =  [ 0  1 -1 -1 ]
//!       [ 1/2 -1/2  1/2]         [ 0 -1  1  0 ]
//!       [ 0    0    1  ]         [ 0  1  0 -1 ]
//! ```
//!
//! The input and output transforms run on [`L`] tiles at once: every value is a `[f32; L]` of
//! the same element of `L` neighbouring tiles, so each step is a plain loop over lanes that
//! the compiler turns into vector adds.

/// Tiles transformed together (one AVX2 vector of f32; two SSE vectors).
pub(super) const L: usize = 8;

/// `L` lanes of one element.
pub(super) type Lanes = [f32; L];

/// `U = G g Gᵀ` of one 3×3 kernel `g` (row-major), as 16 values row-major over the 4×4 tile.
pub(super) fn weight(g: &[f32; 9]) -> [f32; 16] {
    // Gg: 4×3.
    let mut gg = [[0.0f32; 3]; 4];
    for c in 0..3 {
        let (a, b, e) = (g[c], g[3 + c], g[6 + c]);
        gg[0][c] = a;
        gg[1][c] = (a + b + e) * 0.5;
        gg[2][c] = (a - b + e) * 0.5;
        gg[3][c] = e;
    }
    // (Gg)Gᵀ: 4×4.
    let mut u = [0.0f32; 16];
    for (r, row) in gg.iter().enumerate() {
        let [a, b, e] = *row;
        u[r * 4] = a;
        u[r * 4 + 1] = (a + b + e) * 0.5;
        u[r * 4 + 2] = (a - b + e) * 0.5;
        u[r * 4 + 3] = e;
    }
    u
}

#[inline(always)]
fn lanes(f: impl Fn(usize) -> f32) -> Lanes {
    std::array::from_fn(f)
}

/// `Bᵀ` applied to four lane values `[d0, d1, d2, d3]`.
#[inline(always)]
fn bt(d: [&Lanes; 4]) -> [Lanes; 4] {
    [
        lanes(|l| d[0][l] - d[2][l]),
        lanes(|l| d[1][l] + d[2][l]),
        lanes(|l| d[2][l] - d[1][l]),
        lanes(|l| d[1][l] - d[3][l]),
    ]
}

/// `V = Bᵀ d B` of `L` 4×4 input patches, `d[r][c]` the lanes of patch element `(r, c)`;
/// returns `v[r·4 + c]`.
pub(super) fn input(d: &[[Lanes; 4]; 4]) -> [Lanes; 16] {
    // Bᵀ d: columns of d.
    let mut t = [[[0.0f32; L]; 4]; 4];
    for c in 0..4 {
        let col = bt([&d[0][c], &d[1][c], &d[2][c], &d[3][c]]);
        for (r, v) in col.into_iter().enumerate() {
            t[r][c] = v;
        }
    }
    // (Bᵀ d) B: rows of Bᵀ d.
    let mut v = [[0.0f32; L]; 16];
    for (r, row) in t.iter().enumerate() {
        let out = bt([&row[0], &row[1], &row[2], &row[3]]);
        v[r * 4..r * 4 + 4].copy_from_slice(&out);
    }
    v
}

/// `Aᵀ` applied to four lane values.
#[inline(always)]
fn at(m: [&Lanes; 4]) -> [Lanes; 2] {
    [
        lanes(|l| m[0][l] + m[1][l] + m[2][l]),
        lanes(|l| m[1][l] - m[2][l] - m[3][l]),
    ]
}

/// `Y = Aᵀ m A + bias` of `L` tiles, `m[r·4 + c]` the lanes of element `(r, c)`; returns
/// `y[r·2 + c]` over the 2×2 output tile.
pub(super) fn output(m: &[Lanes; 16], bias: f32) -> [Lanes; 4] {
    // Aᵀ m: columns of m.
    let mut s = [[[0.0f32; L]; 4]; 2];
    for c in 0..4 {
        let col = at([&m[c], &m[4 + c], &m[8 + c], &m[12 + c]]);
        s[0][c] = col[0];
        s[1][c] = col[1];
    }
    let mut y = [[0.0f32; L]; 4];
    for (r, row) in s.iter().enumerate() {
        let out = at([&row[0], &row[1], &row[2], &row[3]]);
        y[r * 2] = lanes(|l| out[0][l] + bias);
        y[r * 2 + 1] = lanes(|l| out[1][l] + bias);
    }
    y
}
