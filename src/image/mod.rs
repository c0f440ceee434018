//! Images in, tensors out: PNG/JPEG decoding and the preprocessing classifiers are trained
//! with, reproducing torchvision on PIL images bit for bit.
//!
//! [`Preprocess::imagenet`] is
//! `Compose([Resize(256), CenterCrop(224), ToTensor(), Normalize(mean, std)])` applied to
//! `PIL.Image.open(f).convert("RGB")`: the resize is Pillow's own fixed-point resampling
//! ([`resize`]), the size and crop rules are torchvision's, and `ToTensor`/`Normalize` are the
//! same float32 operations, so on a PNG the tensor equals torchvision's exactly. JPEG
//! decoders differ (the `image` crate's zune-jpeg against Pillow's libjpeg-turbo) by a few
//! levels on some pixels; from PIL's decoded pixels, the rest is exact again.
//!
//! ```
//! use tensorport::image::{decode, DecodeLimits, Preprocess};
//! # let mut png = Vec::new();
//! # {
//! #     use image::ImageEncoder;
//! #     let pixels: Vec<u8> = (0..300 * 200 * 3).map(|i| (i % 251) as u8).collect();
//! #     image::codecs::png::PngEncoder::new(&mut png)
//! #         .write_image(&pixels, 300, 200, image::ExtendedColorType::Rgb8)?;
//! # }
//! // `png` holds a 300x200 PNG file's bytes (decode_file reads one from a path).
//! let img = decode(&png, "photo.png", &DecodeLimits::default())?;
//! assert_eq!((img.width(), img.height()), (300, 200));
//! let batch = Preprocess::imagenet().batch(&[img])?; // [N, 3, 224, 224] float32
//! assert_eq!(batch.shape(), [1, 3, 224, 224]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decode;
mod geometry;
mod preprocess;
mod resample;

pub use decode::{decode, decode_file, is_image, DecodeLimits};
pub use geometry::{center_crop, resized_size};
pub use preprocess::{Preprocess, Resize};
pub use resample::{resize, Interpolation};

use crate::error::{Error, Result};

/// The most pixels a resize or crop may produce (64 Mi, a 192 MB image): a configuration such
/// as `Resize(100000)` is refused instead of allocating without bound.
pub const MAX_OUTPUT_PIXELS: usize = 64 << 20;

/// An 8-bit RGB image, rows top to bottom, pixels `[r, g, b]` left to right (PIL's `RGB` mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    width: usize,
    height: usize,
    data: Vec<u8>,
    name: String,
}

impl RgbImage {
    /// An image from its pixels (`width * height * 3` bytes).
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Result<RgbImage> {
        let want = width.checked_mul(height).and_then(|p| p.checked_mul(3));
        if want != Some(data.len()) {
            return Err(Error::Shape {
                op: "image::RgbImage::new",
                expected: format!("{width}x{height}x3 bytes"),
                got: format!("{} bytes", data.len()),
            });
        }
        Ok(RgbImage {
            width,
            height,
            data,
            name: String::new(),
        })
    }

    /// The same image, named `name` in errors (decoding names it by its path).
    pub fn with_name(mut self, name: impl Into<String>) -> RgbImage {
        self.name = name.into();
        self
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixels, `height * width * 3` bytes.
    pub fn pixels(&self) -> &[u8] {
        &self.data
    }

    /// Its name (empty unless given one).
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Refuses output sizes over [`MAX_OUTPUT_PIXELS`] (or zero) before they are allocated.
fn check_pixels(op: &'static str, width: usize, height: usize) -> Result<()> {
    match width.checked_mul(height) {
        Some(p) if p > 0 && p <= MAX_OUTPUT_PIXELS => Ok(()),
        _ => Err(Error::InvalidArgument {
            op,
            name: "size",
            reason: format!(
                "{width}x{height} pixels: sides must be at least 1 and the image at most \
                 {MAX_OUTPUT_PIXELS} pixels"
            ),
        }),
    }
}
