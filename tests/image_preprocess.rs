//! `tensorport::image` against torchvision: the images and references of
//! tests/fixtures/images/gen_images.py (torchvision 0.29.2 on Pillow 13.0.0). PNG inputs must
//! match bit for bit, in bytes after the resize and crop and in float32 after Normalize; the
//! JPEG matches bit for bit from PIL's decoded pixels, and within stated bounds from ours.
//! Hostile files are typed errors.

#![cfg(feature = "image")]

use std::path::PathBuf;

use tensorport::image::{
    decode, decode_file, DecodeLimits, Interpolation, Preprocess, Resize, RgbImage,
};
use tensorport::{load, Error, ImageFault, MapLocation, Tensor};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images")
}

fn refs() -> Vec<(String, Tensor)> {
    let ckpt = load(dir().join("refs.pt"), &MapLocation::Keep).expect("refs.pt");
    let d = ckpt.value().as_dict().expect("a dict");
    d.iter()
        .map(|(k, v)| {
            let key = k.as_str().expect("string keys").to_string();
            (key, v.as_tensor().expect("tensors").clone())
        })
        .collect()
}

fn reference(key: &str) -> Tensor {
    refs()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, t)| t)
        .unwrap_or_else(|| panic!("{key} missing from refs.pt"))
}

/// The generator's CONFIGS, by name: the pipeline, and whether the reference is the uint8
/// image before ToTensor.
fn config(name: &str) -> Option<(Preprocess, bool)> {
    let imagenet = Preprocess::imagenet();
    let half = ([0.5; 3], [0.5; 3]);
    let p = |resize, crop, interpolation, (mean, std): ([f32; 3], [f32; 3])| Preprocess {
        resize,
        crop,
        interpolation,
        mean,
        std,
    };
    let bl = Interpolation::Bilinear;
    let inet = (imagenet.mean, imagenet.std);
    Some(match name {
        "imagenet_u8" => (imagenet, true),
        "small" => (p(Resize::ShorterSide(72), Some((64, 64)), bl, inet), false),
        "odd" => (
            p(
                Resize::ShorterSide(58),
                Some((51, 51)),
                Interpolation::Bicubic,
                half,
            ),
            false,
        ),
        "pad_u8" => (p(Resize::None, Some((210, 150)), bl, inet), true),
        "exact_u8" => (
            p(
                Resize::Exact {
                    height: 200,
                    width: 150,
                },
                None,
                bl,
                inet,
            ),
            true,
        ),
        "updown_u8" => (
            p(
                Resize::Exact {
                    height: 120,
                    width: 90,
                },
                None,
                bl,
                inet,
            ),
            true,
        ),
        "cifar" => (Preprocess::cifar10(), false),
        _ => return None,
    })
}

/// The JPEG as PIL decoded it (the generator's `pil_rgb`).
fn pil_jpeg() -> RgbImage {
    let t = reference("photo.jpg|pil_rgb");
    let [h, w, 3] = *t.shape() else {
        panic!("pil_rgb is {:?}", t.shape())
    };
    RgbImage::new(w, h, t.to_vec::<u8>().expect("u8")).expect("image")
}

/// Our output for `image` under `config`, flattened like the reference.
fn ours(img: &RgbImage, p: &Preprocess, u8_ref: bool) -> (Vec<usize>, Vec<f32>) {
    if u8_ref {
        let g = p.geometry(img).expect("geometry");
        let v = g.pixels().iter().map(|&b| f32::from(b)).collect();
        (vec![g.height(), g.width(), 3], v)
    } else {
        let t = p.tensor(img).expect("tensor");
        (t.shape().to_vec(), t.to_vec::<f32>().expect("f32"))
    }
}

fn as_f32(t: &Tensor) -> Vec<f32> {
    match t.to_vec::<u8>() {
        Ok(b) => b.into_iter().map(f32::from).collect(),
        Err(_) => t.to_vec::<f32>().expect("f32 or u8"),
    }
}

/// Every PNG case, and the JPEG from PIL's pixels, equal to torchvision bit for bit.
#[test]
fn png_and_pil_decoded_jpeg_match_torchvision_exactly() {
    let mut checked = 0;
    for (key, want) in refs() {
        let Some((name, cfg)) = key.split_once('|') else {
            continue;
        };
        let Some((p, u8_ref)) = config(cfg) else {
            continue;
        };
        let img = if name.ends_with(".jpg") {
            pil_jpeg()
        } else {
            decode_file(&dir().join(name), &DecodeLimits::default()).expect(name)
        };
        let (shape, got) = ours(&img, &p, u8_ref);
        assert_eq!(shape, want.shape(), "{key}: shape");
        let want = as_f32(&want);
        let bad: Vec<usize> = (0..got.len())
            .filter(|&i| got[i].to_bits() != want[i].to_bits())
            .collect();
        assert!(
            bad.is_empty(),
            "{key}: {} of {} values differ; first at {}: ours {} torchvision {}",
            bad.len(),
            got.len(),
            bad[0],
            got[bad[0]],
            want[bad[0]]
        );
        checked += 1;
    }
    // Every case of the generator's CASES and JPEG_CONFIGS (a renamed config would otherwise
    // be skipped silently).
    assert_eq!(checked, 17);
}

/// Our JPEG decoder (zune-jpeg) against PIL's (libjpeg-turbo) on the same file.
#[test]
fn jpeg_decode_is_close_to_pils() {
    let ours_img = decode_file(&dir().join("photo.jpg"), &DecodeLimits::default()).expect("jpeg");
    let pil = pil_jpeg();
    assert_eq!(
        (ours_img.width(), ours_img.height()),
        (pil.width(), pil.height())
    );
    let diffs: Vec<i32> = ours_img
        .pixels()
        .iter()
        .zip(pil.pixels())
        .map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs())
        .collect();
    let max = diffs.iter().max().copied().unwrap_or(0);
    let mean = diffs.iter().sum::<i32>() as f64 / diffs.len() as f64;
    let (p, _) = config("small").expect("small");
    let got = p
        .tensor(&ours_img)
        .expect("tensor")
        .to_vec::<f32>()
        .expect("f32");
    let want = as_f32(&reference("photo.jpg|small"));
    let max_norm = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("jpeg: max {max} levels, mean {mean:.4}; after preprocessing max {max_norm}");
    // Measured on photo.jpg (4:2:0, quality 90): at most 4 levels, 0.35 on average. The two
    // decoders differ only in IDCT rounding and chroma upsampling, each worth a level or two;
    // twice the measurement leaves room for another libjpeg-turbo build without hiding a real
    // fault (a colour-space or upsampling mistake is tens of levels).
    assert!(max <= 8 && mean <= 1.0, "max {max}, mean {mean}");
    // Bilinear weights are non-negative and sum to one, so each resize pass keeps a difference
    // of `max` levels within `max`, plus one level from the two roundings to uint8: at most
    // `max + 2` after both passes. ToTensor and Normalize then scale by 1 / (255 * std), std at
    // least 0.224. Measured: 0.035.
    let bound = (8.0 + 2.0) / 255.0 / 0.224;
    assert!(max_norm <= bound, "{max_norm} > {bound}");
}

/// A well-formed PNG claiming an 8-bit RGB image of `w` x `h`: its IHDR, an IDAT holding an
/// empty zlib stream, IEND.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let empty_zlib = [0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01];
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &empty_zlib), (b"IEND", &[])] {
        let mut chunk = kind.to_vec();
        chunk.extend(data);
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(&chunk);
        out.extend(crc32fast::hash(&chunk).to_be_bytes());
    }
    out
}

fn fault_of(r: tensorport::Result<RgbImage>) -> ImageFault {
    match r {
        Err(Error::Image { fault, .. }) => fault,
        Ok(img) => panic!(
            "expected an image error, got a {}x{} image",
            img.width(),
            img.height()
        ),
        Err(e) => panic!("expected an image error, got {e}"),
    }
}

#[test]
fn hostile_images_are_typed_errors() {
    let lim = DecodeLimits::default();
    let png = std::fs::read(dir().join("gradient.png")).expect("png");
    let jpg = std::fs::read(dir().join("photo.jpg")).expect("jpg");
    assert_eq!(
        fault_of(decode(&png[..png.len() / 2], "half.png", &lim)),
        ImageFault::Corrupt
    );
    assert_eq!(
        fault_of(decode(&png[..40], "head.png", &lim)),
        ImageFault::Corrupt
    );
    assert_eq!(
        fault_of(decode(&jpg[..jpg.len() / 2], "half.jpg", &lim)),
        ImageFault::Corrupt
    );
    assert_eq!(
        fault_of(decode(&jpg[..200], "head.jpg", &lim)),
        ImageFault::Corrupt
    );
    // Refused from the header alone: no 30 GB buffer is ever asked for.
    let huge = png_header(100_000, 100_000);
    assert_eq!(
        fault_of(decode(&huge, "huge.png", &lim)),
        ImageFault::TooLarge
    );
    // Each side under the limit, the area over it.
    let wide = png_header(16_000, 16_000);
    assert_eq!(
        fault_of(decode(&wide, "wide.png", &lim)),
        ImageFault::TooLarge
    );
    // The real JPEG with its frame header (SOF0: FF C0, length, precision, height, width)
    // patched to claim 65000 x 65000, JPEG's 16-bit maximum being under 100000.
    let mut forged = jpg.clone();
    let sof = jpg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("SOF0");
    forged[sof + 5..sof + 9].copy_from_slice(&[0xFD, 0xE8, 0xFD, 0xE8]);
    assert_eq!(
        fault_of(decode(&forged, "huge.jpg", &lim)),
        ImageFault::TooLarge
    );
    assert_eq!(
        fault_of(decode(b"GIF89a...", "x.gif", &lim)),
        ImageFault::NotAnImage
    );
    assert_eq!(fault_of(decode(b"", "empty", &lim)), ImageFault::NotAnImage);
    // The file-size limit is checked while reading.
    let small = DecodeLimits {
        max_file_bytes: 1000,
        ..lim
    };
    let e = decode_file(&dir().join("gradient.png"), &small);
    assert_eq!(fault_of(e), ImageFault::TooLarge);
    let e = decode_file(&dir().join("no such file.png"), &lim);
    assert!(matches!(e, Err(Error::Io { .. })), "{e:?}");
    // A resize the caller asks for is bounded too.
    let img = RgbImage::new(2, 2, vec![0; 12]).expect("image");
    let p = Preprocess {
        resize: Resize::ShorterSide(1 << 20),
        ..Preprocess::imagenet()
    };
    assert!(matches!(p.tensor(&img), Err(Error::InvalidArgument { .. })));
}
