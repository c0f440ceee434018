//! torchvision's size rules for `Resize` and `CenterCrop` on PIL images
//! (torchvision/transforms/functional.py: `_compute_resized_output_size`, `center_crop`).

use super::RgbImage;
use crate::error::Result;

/// The `(width, height)` that `Resize(short)` gives a `width` x `height` image: the shorter
/// side becomes `short` and the longer `int(short * long / short_side)`, computed as Python
/// does (a float division, then truncation).
pub fn resized_size(width: usize, height: usize, short: usize) -> (usize, usize) {
    let (s, l) = if width <= height {
        (width, height)
    } else {
        (height, width)
    };
    let long = ((short * l) as f64 / s as f64) as usize;
    if width <= height {
        (short, long)
    } else {
        (long, short)
    }
}

/// Python's `int(round(x / 2.0))` for a non-negative integer `x`: round half to even, which
/// only matters for odd `x` (x / 2 ends in .5 and rounds to the even neighbour).
fn half_round_even(x: usize) -> usize {
    let q = x / 2;
    if x % 2 == 1 && q % 2 == 1 {
        q + 1
    } else {
        q
    }
}

/// `CenterCrop((height, width))`: where the crop is larger than the image on a side, the image
/// is first padded with black on that side (`(c - s) // 2` before, `(c - s + 1) // 2` after),
/// then the centred window is cut with `crop_top = int(round((h - ch) / 2.0))`.
pub fn center_crop(src: &RgbImage, width: usize, height: usize) -> Result<RgbImage> {
    super::check_pixels("image::center_crop", width, height)?;
    let pad_left = width.saturating_sub(src.width) / 2;
    let pad_top = height.saturating_sub(src.height) / 2;
    let padded_w = src.width.max(width);
    let padded_h = src.height.max(height);
    let left = half_round_even(padded_w - width);
    let top = half_round_even(padded_h - height);
    let mut data = vec![0u8; width * height * 3];
    // Output pixel (x, y) is padded pixel (x + left, y + top), which is source pixel
    // (x + left - pad_left, y + top - pad_top) when that lies inside the source.
    for y in 0..height {
        let Some(sy) = (y + top).checked_sub(pad_top).filter(|&v| v < src.height) else {
            continue;
        };
        let x0 = pad_left.saturating_sub(left);
        let sx0 = (left + x0) - pad_left;
        let n = (width - x0).min(src.width - sx0.min(src.width));
        let from = &src.data[(sy * src.width + sx0) * 3..][..n * 3];
        data[(y * width + x0) * 3..][..n * 3].copy_from_slice(from);
    }
    Ok(RgbImage {
        width,
        height,
        data,
        name: src.name.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_rule_is_torchvisions() {
        assert_eq!(resized_size(300, 200, 256), (384, 256));
        assert_eq!(resized_size(180, 260, 256), (256, 369)); // 369.77 truncates
        assert_eq!(resized_size(100, 100, 256), (256, 256));
    }

    #[test]
    fn crop_offsets_round_half_to_even() {
        assert_eq!(half_round_even(1), 0); // round(0.5) == 0
        assert_eq!(half_round_even(3), 2); // round(1.5) == 2
        assert_eq!(half_round_even(5), 2); // round(2.5) == 2
        assert_eq!(half_round_even(4), 2);
    }

    #[test]
    fn crop_pads_with_black_where_the_image_is_smaller() {
        // 3 wide, 1 high, pixels 1,2,3 (grey); crop 5 wide x 2 high pads 1 left, 1 right,
        // 0 above and 1 below.
        let src = RgbImage::new(3, 1, vec![1, 1, 1, 2, 2, 2, 3, 3, 3]).expect("image");
        let c = center_crop(&src, 5, 2).expect("crop");
        let first: Vec<u8> = c.data.iter().step_by(3).copied().collect();
        assert_eq!(first, [0, 1, 2, 3, 0, 0, 0, 0, 0, 0]);
        // Narrower than the image on one side, wider on the other: 3x1 -> 1x3 keeps pixel 1.
        let c = center_crop(&src, 1, 3).expect("crop");
        assert_eq!(c.data, [0, 0, 0, 2, 2, 2, 0, 0, 0]);
    }
}
