//! Image inputs of `run`: which inputs are images (by their bytes), the preprocessing flags,
//! and the batch they make.

use std::io::Read;
use std::path::{Path, PathBuf};

use tensorport::image::{decode_file, is_image, DecodeLimits, Interpolation, Preprocess, Resize};
use tensorport::{Error, Result, Tensor};

/// Preprocessing of image inputs. Unset flags take the model's defaults: ImageNet's for a
/// program, CIFAR-10's for the recipe Net.
#[derive(clap::Args, Default)]
pub struct PreprocessArgs {
    /// Resize images first: N makes the shorter side N pixels (aspect kept), HxW (e.g. 32x32)
    /// makes them exactly H by W, 0 or none skips the resize. Default: 256 for a program,
    /// 32 for the Net.
    #[arg(long, value_name = "N|HxW|none")]
    resize: Option<String>,
    /// Then crop the centre: N for N x N, HxW, or 0/none for no crop (a crop larger than the
    /// image pads it with black, as torchvision does). Default: 224 for a program, 32 for the
    /// Net.
    #[arg(long, value_name = "N|HxW|none")]
    crop: Option<String>,
    /// Per-channel mean subtracted after scaling pixels to 0..1. Default:
    /// 0.485,0.456,0.406 (ImageNet) for a program, 0.5,0.5,0.5 for the Net.
    #[arg(long, value_name = "R,G,B")]
    mean: Option<String>,
    /// Per-channel standard deviation divided by. Default: 0.229,0.224,0.225 for a program,
    /// 0.5,0.5,0.5 for the Net.
    #[arg(long, value_name = "R,G,B")]
    std: Option<String>,
    /// Resize filter: bilinear (torchvision's default) or bicubic.
    #[arg(long, value_name = "FILTER", default_value = "bilinear")]
    interpolation: String,
}

fn bad(name: &'static str, reason: String) -> Error {
    Error::InvalidArgument {
        op: "run",
        name,
        reason,
    }
}

/// `N`, `HxW`, or `0`/`none`: `(height, width)`, or `None`.
fn size(flag: &'static str, text: &str) -> Result<Option<(usize, usize)>> {
    let t = text.trim();
    if t == "0" || t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let num = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| bad(flag, format!("'{text}' is not N, HxW or none")))
    };
    let (h, w) = match t.split_once(['x', 'X']) {
        Some((h, w)) => (num(h)?, num(w)?),
        None => {
            let n = num(t)?;
            (n, n)
        }
    };
    if h == 0 || w == 0 {
        return Err(bad(flag, format!("'{text}': a side of 0 pixels")));
    }
    Ok(Some((h, w)))
}

fn triple(flag: &'static str, text: &str) -> Result<[f32; 3]> {
    let v: Vec<f32> = text
        .split(',')
        .map(|s| s.trim().parse::<f32>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad(flag, format!("'{text}' is not three numbers a,b,c")))?;
    <[f32; 3]>::try_from(v).map_err(|_| bad(flag, format!("'{text}' is not three numbers a,b,c")))
}

impl PreprocessArgs {
    /// The pipeline: `defaults` with the flags that were given applied over it.
    pub fn preprocess(&self, defaults: Preprocess) -> Result<Preprocess> {
        let mut p = defaults;
        if let Some(r) = &self.resize {
            p.resize = match (size("--resize", r)?, r.contains(['x', 'X'])) {
                (None, _) => Resize::None,
                (Some((h, w)), true) => Resize::Exact {
                    height: h,
                    width: w,
                },
                (Some((n, _)), false) => Resize::ShorterSide(n),
            };
        }
        if let Some(c) = &self.crop {
            p.crop = size("--crop", c)?;
        }
        if let Some(m) = &self.mean {
            p.mean = triple("--mean", m)?;
        }
        if let Some(s) = &self.std {
            p.std = triple("--std", s)?;
        }
        p.interpolation = match self.interpolation.to_ascii_lowercase().as_str() {
            "bilinear" => Interpolation::Bilinear,
            "bicubic" => Interpolation::Bicubic,
            other => {
                return Err(bad(
                    "--interpolation",
                    format!("'{other}': bilinear or bicubic"),
                ))
            }
        };
        Ok(p)
    }
}

/// Whether the file at `path` starts like a PNG or JPEG (its bytes, not its name, decide).
pub fn is_image_file(path: &Path) -> Result<bool> {
    let io = |op, source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    };
    let mut head = Vec::with_capacity(8);
    std::fs::File::open(path)
        .map_err(|e| io("opening", e))?
        .take(8)
        .read_to_end(&mut head)
        .map_err(|e| io("reading", e))?;
    Ok(is_image(&head))
}

/// Decodes and preprocesses `paths` into one `[N, 3, H, W]` batch. Each image is resized and
/// cropped as soon as it is decoded, so only one full-size image is in memory at a time.
pub fn batch(paths: &[PathBuf], p: &Preprocess) -> Result<Tensor> {
    let small = paths
        .iter()
        .map(|f| p.geometry(&decode_file(f, &DecodeLimits::default())?))
        .collect::<Result<Vec<_>>>()?;
    let rest = Preprocess {
        resize: Resize::None,
        crop: None,
        ..p.clone()
    };
    rest.batch(&small)
}
