//! Pillow's resampling (`ImagingResample` in libImaging/Resample.c), reproduced operation for
//! operation so that a resize matches `PIL.Image.resize` bit for bit on 8-bit RGB.
//!
//! Two separable passes, horizontal first, each on 8-bit data: for every output column (row)
//! the filter is centred at `(i + 0.5) * scale` in input pixels, widened by `max(scale, 1)` so a
//! shrink averages every input pixel it covers (Pillow's built-in antialiasing), normalised to
//! sum 1 in f64, then rounded to fixed point with 22 fractional bits. Each output value is an
//! integer dot product that starts at one half and is clipped to 0..=255 after *each* pass, so
//! the intermediate image is quantised exactly where Pillow quantises it.

use super::RgbImage;
use crate::error::{Error, Result};

/// How to interpolate when resizing (torchvision's `InterpolationMode`, as Pillow's filters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Interpolation {
    /// A triangle filter of support 1 (`Image.BILINEAR`, torchvision's default).
    #[default]
    Bilinear,
    /// Keys' cubic with a = -0.5, support 2 (`Image.BICUBIC`).
    Bicubic,
}

impl Interpolation {
    fn support(self) -> f64 {
        match self {
            Interpolation::Bilinear => 1.0,
            Interpolation::Bicubic => 2.0,
        }
    }

    // Written as Resample.c writes them: the same operations in the same order give the same
    // doubles, which matters because the weights are rounded to fixed point afterwards.
    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Interpolation::Bilinear => {
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Interpolation::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

/// Fixed-point fraction bits: 8 bits of result and 2 of headroom in a 32-bit accumulator.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// The taps of one output pixel: the first input index and the fixed-point weights.
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

/// `precompute_coeffs` then `normalize_coeffs_8bpc`, for the whole input extent (the box
/// torchvision never sets).
fn coefficients(in_size: usize, out_size: usize, filter: Interpolation) -> Vec<Taps> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ss = 1.0 / filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // C's (int) casts truncate toward zero, as `as` does.
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64);
            let raw: Vec<f64> = (xmin..xmax)
                .map(|x| filter.weight((x as f64 - center + 0.5) * ss))
                .collect();
            let total: f64 = raw.iter().sum();
            let weights = raw
                .iter()
                .map(|&w| {
                    let w = if total != 0.0 { w / total } else { w };
                    let fixed = w * f64::from(1u32 << PRECISION_BITS);
                    if w < 0.0 {
                        (-0.5 + fixed) as i32
                    } else {
                        (0.5 + fixed) as i32
                    }
                })
                .collect();
            Taps {
                start: usize::try_from(xmin).unwrap_or(0),
                weights,
            }
        })
        .collect()
}

/// Rounds and clips one accumulated value as Pillow's `clip8` does. i64 holds every sum
/// exactly (Pillow's i32 does too, by its choice of precision), so the arithmetic shift and the
/// clamp are its lookup table.
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

const HALF: i64 = 1 << (PRECISION_BITS - 1);

fn horizontal(src: &RgbImage, width: usize, filter: Interpolation) -> RgbImage {
    let taps = coefficients(src.width, width, filter);
    let mut data = Vec::with_capacity(width * src.height * 3);
    for row in src.data.chunks_exact(src.width * 3) {
        for t in &taps {
            let mut acc = [HALF; 3];
            for (i, &w) in t.weights.iter().enumerate() {
                let p = (t.start + i) * 3;
                for c in 0..3 {
                    acc[c] += i64::from(row[p + c]) * i64::from(w);
                }
            }
            data.extend(acc.map(clip8));
        }
    }
    RgbImage {
        width,
        height: src.height,
        data,
        name: src.name.clone(),
    }
}

fn vertical(src: &RgbImage, height: usize, filter: Interpolation) -> RgbImage {
    let taps = coefficients(src.height, height, filter);
    let stride = src.width * 3;
    let mut data = Vec::with_capacity(stride * height);
    let mut acc = vec![0i64; stride];
    for t in &taps {
        acc.fill(HALF);
        for (i, &w) in t.weights.iter().enumerate() {
            let row = &src.data[(t.start + i) * stride..][..stride];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += i64::from(p) * i64::from(w);
            }
        }
        data.extend(acc.iter().map(|&a| clip8(a)));
    }
    RgbImage {
        width: src.width,
        height,
        data,
        name: src.name.clone(),
    }
}

/// `PIL.Image.resize((width, height), filter)` on an RGB image. A pass whose extent does not
/// change is skipped, as Pillow skips it (`need_horizontal`, `need_vertical`), and a resize to
/// the same size is a copy.
pub fn resize(
    src: &RgbImage,
    width: usize,
    height: usize,
    filter: Interpolation,
) -> Result<RgbImage> {
    if width == 0 || height == 0 || src.width == 0 || src.height == 0 {
        return Err(Error::InvalidArgument {
            op: "image::resize",
            name: "size",
            reason: format!(
                "cannot resize {}x{} to {width}x{height}: every side must be at least 1",
                src.width, src.height
            ),
        });
    }
    super::check_pixels("image::resize", width, height)?;
    let mut out = if width != src.width {
        horizontal(src, width, filter)
    } else {
        src.clone()
    };
    if height != src.height {
        out = vertical(&out, height, filter);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(width: usize, height: usize, data: Vec<u8>) -> RgbImage {
        RgbImage::new(width, height, data).expect("test image")
    }

    #[test]
    fn weights_are_fixed_point_and_sum_to_one() {
        // 4 -> 3 bilinear: scale 4/3, each output covers about 2.67 inputs.
        for t in coefficients(4, 3, Interpolation::Bilinear) {
            let sum: i64 = t.weights.iter().map(|&w| i64::from(w)).sum();
            assert!((sum - (1 << PRECISION_BITS)).abs() <= t.weights.len() as i64);
        }
        // An upscale by 2: output 1 is centred at 0.75, a quarter past pixel 0's centre, so
        // it weighs pixels 0 and 1 by 0.75 and 0.25.
        let t = &coefficients(2, 4, Interpolation::Bilinear)[1];
        assert_eq!(t.start, 0);
        assert_eq!(t.weights, [3 << 20, 1 << 20]);
    }

    #[test]
    fn same_size_is_a_copy_and_constant_stays_constant() {
        let src = img(3, 2, (0..18).map(|v| v * 13).collect());
        let same = resize(&src, 3, 2, Interpolation::Bicubic).expect("resize");
        assert_eq!(same.data, src.data);
        let flat = img(5, 3, vec![77; 45]);
        let r = resize(&flat, 2, 7, Interpolation::Bicubic).expect("resize");
        assert!(r.data.iter().all(|&v| v == 77), "{:?}", r.data);
        assert!(resize(&flat, 0, 7, Interpolation::Bilinear).is_err());
    }

    #[test]
    fn bicubic_overshoot_is_clipped() {
        // A step edge: bicubic rings below 0 and above 255; the clip keeps it in range.
        let mut data = vec![0u8; 8 * 3];
        data[12..].fill(255);
        let r = resize(&img(8, 1, data), 16, 1, Interpolation::Bicubic).expect("resize");
        assert_eq!(r.data[0], 0);
        assert_eq!(*r.data.last().expect("pixels"), 255);
    }
}
