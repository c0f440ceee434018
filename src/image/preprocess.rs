//! torchvision's classification transforms as one configurable pipeline:
//! `Resize` → `CenterCrop` → `ToTensor` → `Normalize`, and batching into NCHW.

use super::{center_crop, resize, resized_size, Interpolation, RgbImage};
use crate::error::{Error, ImageFault, Result};
use crate::tensor::Tensor;

/// The `Resize` step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resize {
    /// No resize.
    None,
    /// `Resize(n)`: the shorter side becomes `n`, the aspect ratio is kept.
    ShorterSide(usize),
    /// `Resize((height, width))`: exactly this size.
    Exact {
        /// Height in pixels.
        height: usize,
        /// Width in pixels.
        width: usize,
    },
}

/// The preprocessing of an image classifier. Every step can be left out; the fields are
/// torchvision's arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocess {
    /// The resize, first.
    pub resize: Resize,
    /// `CenterCrop((height, width))` after it, padding with black where the image is smaller.
    pub crop: Option<(usize, usize)>,
    /// How the resize interpolates.
    pub interpolation: Interpolation,
    /// `Normalize`'s per-channel mean (R, G, B), applied after `ToTensor`'s scaling to 0..=1.
    pub mean: [f32; 3],
    /// `Normalize`'s per-channel standard deviation.
    pub std: [f32; 3],
}

impl Default for Preprocess {
    fn default() -> Self {
        Preprocess::imagenet()
    }
}

impl Preprocess {
    /// torchvision's ImageNet evaluation transform (`weights.transforms()` of the classic
    /// models): `Resize(256)`, `CenterCrop(224)`, `Normalize([0.485, 0.456, 0.406],
    /// [0.229, 0.224, 0.225])`, bilinear.
    pub fn imagenet() -> Preprocess {
        Preprocess {
            resize: Resize::ShorterSide(256),
            crop: Some((224, 224)),
            interpolation: Interpolation::Bilinear,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }

    /// For 32x32 CIFAR-10 models such as the PyTorch tutorial's Net: `Resize(32)`,
    /// `CenterCrop(32)` (a square image is only resized; a non-square one loses its edges, as
    /// the Net needs exactly 32x32) and the tutorial's `Normalize((0.5,) * 3, (0.5,) * 3)`.
    pub fn cifar10() -> Preprocess {
        Preprocess {
            resize: Resize::ShorterSide(32),
            crop: Some((32, 32)),
            interpolation: Interpolation::Bilinear,
            mean: [0.5; 3],
            std: [0.5; 3],
        }
    }

    /// The resize and crop, on 8-bit pixels (what the model sees, before scaling).
    pub fn geometry(&self, img: &RgbImage) -> Result<RgbImage> {
        let (w, h) = (img.width(), img.height());
        let target = match self.resize {
            Resize::None => None,
            Resize::ShorterSide(0)
            | Resize::Exact { height: 0, .. }
            | Resize::Exact { width: 0, .. } => {
                return Err(Error::InvalidArgument {
                    op: "image::Preprocess",
                    name: "resize",
                    reason: "a size of 0 pixels".into(),
                })
            }
            Resize::ShorterSide(n) if w > 0 && h > 0 => Some(resized_size(w, h, n)),
            Resize::ShorterSide(_) => None,
            Resize::Exact { height, width } => Some((width, height)),
        };
        // torchvision returns the image itself when the size already is the target.
        let resized = match target {
            Some((tw, th)) if (tw, th) != (w, h) => resize(img, tw, th, self.interpolation)?,
            _ => img.clone(),
        };
        match self.crop {
            Some((ch, cw)) => center_crop(&resized, cw, ch),
            None => Ok(resized),
        }
    }

    fn check_std(&self) -> Result<()> {
        if self.std.contains(&0.0) {
            return Err(Error::InvalidArgument {
                op: "image::Preprocess",
                name: "std",
                reason: format!(
                    "{:?} has a zero: normalizing would divide by zero",
                    self.std
                ),
            });
        }
        Ok(())
    }

    /// `ToTensor` then `Normalize` into `out` (`3 * h * w` values, channel-major): each value is
    /// `(v as f32 / 255.0 - mean) / std`, the same float32 operations in torch's order.
    fn write_chw(&self, img: &RgbImage, out: &mut [f32]) {
        let plane = img.width() * img.height();
        for (c, chan) in out.chunks_exact_mut(plane).enumerate() {
            let (m, s) = (self.mean[c], self.std[c]);
            for (o, px) in chan.iter_mut().zip(img.pixels().chunks_exact(3)) {
                *o = (f32::from(px[c]) / 255.0 - m) / s;
            }
        }
    }

    /// One image as a `[3, H, W]` float32 tensor.
    pub fn tensor(&self, img: &RgbImage) -> Result<Tensor> {
        self.check_std()?;
        let g = self.geometry(img)?;
        let mut out = vec![0f32; 3 * g.width() * g.height()];
        self.write_chw(&g, &mut out);
        Tensor::from_vec(out, &[3, g.height(), g.width()])
    }

    /// Several images as one `[N, 3, H, W]` float32 batch. After preprocessing every image must
    /// have the first one's size; the error names the first that differs.
    pub fn batch(&self, images: &[RgbImage]) -> Result<Tensor> {
        self.check_std()?;
        let label = |i: usize, img: &RgbImage| {
            if img.name().is_empty() {
                format!("#{i}")
            } else {
                format!("#{i} ({})", img.name())
            }
        };
        let mut out: Vec<f32> = Vec::new();
        let mut size = None;
        for (i, img) in images.iter().enumerate() {
            let g = self.geometry(img)?;
            let this = (g.height(), g.width());
            let (h, w) = *size.get_or_insert(this);
            if this != (h, w) {
                return Err(Error::Image {
                    image: label(i, img),
                    fault: ImageFault::SizeMismatch,
                    reason: format!(
                        "preprocessed to {}x{} (height x width), but image #0 to {h}x{w}; \
                         images of one batch need one size (set a crop, or an exact resize)",
                        this.0, this.1
                    ),
                });
            }
            let n = 3 * h * w;
            let at = out.len();
            out.try_reserve(n).map_err(|_| Error::OutOfMemory {
                what: "image batch".into(),
                bytes: n * 4,
            })?;
            out.resize(at + n, 0.0);
            self.write_chw(&g, &mut out[at..]);
        }
        let (h, w) = size.ok_or_else(|| Error::InvalidArgument {
            op: "image::Preprocess::batch",
            name: "images",
            reason: "no images".into(),
        })?;
        Tensor::from_vec(out, &[images.len(), 3, h, w])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_tensor_and_normalize_are_torchs_float32_ops() {
        let img = RgbImage::new(1, 1, vec![0, 128, 255]).expect("image");
        let p = Preprocess {
            resize: Resize::None,
            crop: None,
            ..Preprocess::imagenet()
        };
        let t = p
            .tensor(&img)
            .expect("tensor")
            .to_vec::<f32>()
            .expect("f32");
        // torch: ((torch.tensor([0,128,255]).float() / 255) - mean) / std, in float32.
        let want: Vec<f32> = [0u8, 128, 255]
            .iter()
            .zip(p.mean.iter().zip(&p.std))
            .map(|(&v, (&m, &s))| (f32::from(v) / 255.0 - m) / s)
            .collect();
        assert_eq!(t, want);
        assert!((t[0] - (-0.485 / 0.229)).abs() < 1e-6);
    }

    #[test]
    fn batch_refuses_mixed_sizes_and_names_the_image() {
        let p = Preprocess {
            resize: Resize::None,
            crop: None,
            ..Preprocess::imagenet()
        };
        let a = RgbImage::new(2, 2, vec![0; 12]).expect("image");
        let b = RgbImage::new(3, 2, vec![0; 18])
            .expect("image")
            .with_name("wide.png");
        let e = p.batch(&[a.clone(), b]).expect_err("sizes differ");
        assert!(
            matches!(&e, Error::Image { fault: ImageFault::SizeMismatch, image, .. } if image.contains("wide.png")),
            "{e}"
        );
        assert_eq!(
            p.batch(&[a.clone(), a]).expect("batch").shape(),
            [2, 3, 2, 2]
        );
        assert!(p.batch(&[]).is_err());
        let zero_std = Preprocess {
            std: [1.0, 0.0, 1.0],
            ..p
        };
        assert!(zero_std
            .batch(&[RgbImage::new(1, 1, vec![0; 3]).expect("image")])
            .is_err());
    }
}
