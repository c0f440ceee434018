//! PNG and JPEG to 8-bit RGB, as `PIL.Image.open(f).convert("RGB")` gives it, under limits
//! checked before any pixel buffer is allocated.

use std::io::{Cursor, Read};
use std::path::Path;

use image::{DynamicImage, ImageError, ImageFormat, ImageReader};

use super::RgbImage;
use crate::error::{Error, ImageFault, Result};

/// How large an image [`decode`] accepts. The pixel limit bounds the decoded buffer (at most
/// 8 bytes a pixel, for 16-bit RGBA), the file limit what [`decode_file`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The widest image accepted, in pixels.
    pub max_width: u32,
    /// The tallest image accepted, in pixels.
    pub max_height: u32,
    /// The most pixels (width times height) accepted.
    pub max_pixels: u64,
    /// The largest file [`decode_file`] reads, in bytes.
    pub max_file_bytes: u64,
}

impl Default for DecodeLimits {
    /// 16384 pixels a side and 64 megapixels (a 192 MB RGB buffer; a 24-megapixel camera
    /// photo is well inside), files up to 256 MiB.
    fn default() -> Self {
        DecodeLimits {
            max_width: 16384,
            max_height: 16384,
            max_pixels: 64 << 20,
            max_file_bytes: 256 << 20,
        }
    }
}

/// The image format of `bytes`, by their magic bytes (never a file name): PNG's 8-byte
/// signature, or JPEG's start-of-image marker followed by another marker.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else {
        None
    }
}

/// Whether `bytes` start like a PNG or JPEG file.
pub fn is_image(bytes: &[u8]) -> bool {
    sniff(bytes).is_some()
}

fn fault(name: &str, fault: ImageFault, reason: String) -> Error {
    Error::Image {
        image: name.to_string(),
        fault,
        reason,
    }
}

fn decode_error(name: &str, format: ImageFormat, e: ImageError) -> Error {
    match e {
        ImageError::Limits(l) => fault(name, ImageFault::TooLarge, l.to_string()),
        other => {
            let kind = if format == ImageFormat::Png {
                "PNG"
            } else {
                "JPEG"
            };
            fault(
                name,
                ImageFault::Corrupt,
                format!("corrupt or truncated {kind}: {other}"),
            )
        }
    }
}

/// Decodes a PNG or JPEG held in memory to RGB8. `name` labels errors (and the image).
pub fn decode(bytes: &[u8], name: &str, limits: &DecodeLimits) -> Result<RgbImage> {
    let format = sniff(bytes).ok_or_else(|| {
        fault(
            name,
            ImageFault::NotAnImage,
            "not a PNG or JPEG file (by its first bytes)".into(),
        )
    })?;
    let reader = |l: image::Limits| {
        let mut r = ImageReader::with_format(Cursor::new(bytes), format);
        r.limits(l);
        r
    };
    // The header alone gives the size: refuse before the decoder allocates anything. Reading
    // it allocates no pixels, so it runs without the crate's limits, and our message can say
    // which size was claimed.
    let (w, h) = reader(image::Limits::no_limits())
        .into_dimensions()
        .map_err(|e| decode_error(name, format, e))?;
    let pixels = u64::from(w) * u64::from(h);
    if w > limits.max_width || h > limits.max_height || pixels > limits.max_pixels {
        return Err(fault(
            name,
            ImageFault::TooLarge,
            format!(
                "{w}x{h} pixels is over the limit ({}x{}, {} pixels)",
                limits.max_width, limits.max_height, limits.max_pixels
            ),
        ));
    }
    // zune-jpeg fills a truncated scan with grey and reports success; Pillow refuses such a
    // file ("image file is truncated"), and so do we.
    if format == ImageFormat::Jpeg && !jpeg_has_end(bytes) {
        return Err(fault(
            name,
            ImageFault::Corrupt,
            "truncated JPEG: no end-of-image marker after the scan data".into(),
        ));
    }
    // The crate's limits stay as a second guard on what the decoder itself allocates.
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_width);
    l.max_image_height = Some(limits.max_height);
    l.max_alloc = Some(limits.max_pixels.saturating_mul(8));
    let img = reader(l)
        .decode()
        .map_err(|e| decode_error(name, format, e))?;
    let mut rgb = to_rgb8(img);
    rgb.name = name.to_string();
    Ok(rgb)
}

/// Whether a JPEG's scan data is followed by its end-of-image marker (`FF D9`). The segments
/// before the first scan are skipped by their lengths, since an EXIF thumbnail inside one is a
/// whole JPEG with its own markers; inside scan data a literal `FF` is always stuffed as
/// `FF 00`, so the first `FF D9` after the scan header is the real end.
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let mut at = 2; // past SOI
    loop {
        // Markers may be preceded by any number of FF fill bytes.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
            return false;
        };
        let Some(len) = bytes.get(at + 2..at + 4) else {
            return false;
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let Some(next) = (at + 2).checked_add(len) else {
            return false;
        };
        if marker == 0xDA {
            let scan = bytes.get(next..).unwrap_or(&[]);
            return scan.windows(2).any(|w| w == [0xFF, 0xD9]);
        }
        at = next;
    }
}

/// Reads and decodes the PNG or JPEG file at `path` (named by its path in errors).
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<RgbImage> {
    let name = path.display().to_string();
    let io = |op, source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|e| io("opening", e))?;
    // One byte past the limit tells "at the limit" from "over it" without trusting metadata
    // (a pipe or /proc file reports no length).
    let mut bytes = Vec::new();
    file.take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io("reading", e))?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(fault(
            &name,
            ImageFault::TooLarge,
            format!("the file is over {} bytes", limits.max_file_bytes),
        ));
    }
    decode(&bytes, &name, limits)
}

/// `convert("RGB")` as Pillow does it for each mode PIL opens these files in: gray is
/// replicated, alpha dropped (not composited), palettes were expanded by the decoder. 16-bit
/// PNGs follow PIL, not the `image` crate's rescaling: PIL reads 16-bit RGB(A) and gray+alpha
/// by their high bytes, and plain 16-bit gray opens as mode `I;16`, whose conversion to RGB
/// clips at 255.
fn to_rgb8(img: DynamicImage) -> RgbImage {
    let (width, height) = (img.width() as usize, img.height() as usize);
    let data = match img {
        DynamicImage::ImageRgb8(b) => b.into_raw(),
        DynamicImage::ImageLuma16(b) => b
            .into_raw()
            .iter()
            .flat_map(|&v| [v.min(255) as u8; 3])
            .collect(),
        DynamicImage::ImageLumaA16(b) => b
            .into_raw()
            .chunks_exact(2)
            .flat_map(|p| [(p[0] >> 8) as u8; 3])
            .collect(),
        DynamicImage::ImageRgb16(b) => b.into_raw().iter().map(|&v| (v >> 8) as u8).collect(),
        DynamicImage::ImageRgba16(b) => b
            .into_raw()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]].map(|v| (v >> 8) as u8))
            .collect(),
        other => other.to_rgb8().into_raw(),
    };
    RgbImage {
        width,
        height,
        data,
        name: String::new(),
    }
}
