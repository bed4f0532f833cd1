//! Writes the odd and broken photos the browser tests (web/tests) feed to the widget, made from
//! one real HAM10000 photo: `cargo run --release -p train-native --example web_fixtures -- PHOTO OUT_DIR`.
//!
//! `OUT_DIR/ok/` holds unusual but valid files (grayscale, alpha, CMYK, 16-bit, EXIF-rotated):
//! the widget must classify them exactly as `train-native predict` does. `OUT_DIR/bad/` holds
//! files that must be refused with a clear message (empty, not an image, truncated, corrupt, huge).
//! `OUT_DIR/nan-model/` holds the shipped model with every weight set to NaN, its config signed
//! for them: the page must report an error, never "NaN% confidence". `OUT_DIR/other-model/` is
//! the shipped model under another checksum: a new version for the offline cache's tests.
//! `OUT_DIR/three-class-model/` is a small untrained network of three classes of its own: the
//! widget must show that model's classes, not HAM10000's.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb, Rgba};
use skin_lesion::weights::{self, CONFIG_FILE, WEIGHTS_FILE};

fn main() -> Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [photo, out] = args.as_slice() else {
        bail!("usage: web_fixtures PHOTO OUT_DIR");
    };
    let jpeg = std::fs::read(photo).with_context(|| format!("cannot read {}", photo.display()))?;
    let rgb = image::load_from_memory(&jpeg)?.to_rgb8();
    let (ok, bad) = (out.join("ok"), out.join("bad"));
    std::fs::create_dir_all(&ok)?;
    std::fs::create_dir_all(&bad)?;

    write(
        &ok,
        "grayscale.jpg",
        encode(
            &DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(rgb.clone()).to_luma8()),
            ImageFormat::Jpeg,
        ),
    )?;
    let alpha = ImageBuffer::from_fn(rgb.width(), rgb.height(), |x, y| {
        let p = rgb.get_pixel(x, y);
        Rgba([p[0], p[1], p[2], (128 + (x + y) % 128) as u8])
    });
    write(
        &ok,
        "alpha.png",
        encode(&DynamicImage::ImageRgba8(alpha), ImageFormat::Png),
    )?;
    let rgb16 = ImageBuffer::from_fn(rgb.width(), rgb.height(), |x, y| {
        let p = rgb.get_pixel(x, y);
        Rgb([p[0] as u16 * 257, p[1] as u16 * 257, p[2] as u16 * 257])
    });
    write(
        &ok,
        "rgb16.png",
        encode(&DynamicImage::ImageRgb16(rgb16), ImageFormat::Png),
    )?;
    write(&ok, "cmyk.jpg", cmyk_jpeg(&rgb)?)?;
    write(&ok, "exif-rotated.jpg", with_orientation(&jpeg, 6)?)?;

    write(&bad, "empty.jpg", Vec::new())?;
    write(
        &bad,
        "not-an-image.jpg",
        b"Dear diary, today I photographed a mole.\n".repeat(20),
    )?;
    write(&bad, "truncated.jpg", jpeg[..jpeg.len() / 2].to_vec())?;
    let mut corrupt = encode(&DynamicImage::ImageRgb8(rgb.clone()), ImageFormat::Png);
    let middle = corrupt.len() / 2;
    corrupt[middle..].iter_mut().for_each(|b| *b = !*b);
    write(&bad, "corrupt.png", corrupt)?;
    // Wider than the decoder's 12,000-pixel limit; tiny on disk, refused from the header.
    let huge = ImageBuffer::from_pixel(12_001, 8, Rgb([200u8, 150, 140]));
    write(
        &bad,
        "huge.png",
        encode(&DynamicImage::ImageRgb8(huge), ImageFormat::Png),
    )?;
    nan_model(&out.join("nan-model"))?;
    other_model(&out.join("other-model"))?;
    three_class_model(&out.join("three-class-model"))
}

/// Sets every float parameter to NaN.
struct Poison;

impl ModuleMapper for Poison {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| t.mul_scalar(f32::NAN))
    }
}

/// The shipped model with NaN weights, signed so that it loads.
fn nan_model(out: &Path) -> Result<()> {
    let dir = train_native::paths::model_dir();
    let json = std::fs::read_to_string(dir.join(CONFIG_FILE))?;
    let bytes = std::fs::read(dir.join(WEIGHTS_FILE))?;
    let config = weights::config_for(&json, &bytes)?.with_checksum(None);
    let model = weights::from_bytes(&config, &bytes, &Device::flex())?.map(&mut Poison);
    let poisoned = weights::to_bytes(model)?;
    write_model(out, &config, poisoned)
}

/// The shipped weights with another config (a slightly higher "unsure" threshold), signed:
/// another version of the model, for the test that a new model replaces the cached one.
fn other_model(out: &Path) -> Result<()> {
    let dir = train_native::paths::model_dir();
    let json = std::fs::read_to_string(dir.join(CONFIG_FILE))?;
    let bytes = std::fs::read(dir.join(WEIGHTS_FILE))?;
    let mut config = weights::config_for(&json, &bytes)?.with_checksum(None);
    if let Some(answer) = config.answer.as_mut() {
        answer.unsure_below = (answer.unsure_below + 0.01).min(1.0);
    }
    write_model(out, &config, bytes)
}

/// A small from-scratch network (random weights, seed 7) answering with three classes, one of
/// them described in its config; signed, without fitted answer settings.
fn three_class_model(out: &Path) -> Result<()> {
    use skin_lesion::model::{ClassName, LesionNetConfig, ModelConfig, PreprocessConfig};
    let mut seb = ClassName::new("seb", "Seborrhoeic keratosis");
    seb.description = Some("A harmless warty growth of older skin.".into());
    let classes = vec![
        ClassName::new("scc", "Squamous cell carcinoma"),
        ClassName::new("ak", "Actinic keratosis"),
        seb,
    ];
    let preprocess = PreprocessConfig::new()
        .with_input_size(32)
        .with_resize_size(36)
        .with_test_time_views(2);
    let network = LesionNetConfig::new().with_base_width(4).with_stages(2);
    let config = ModelConfig::new(network, preprocess).with_classes(classes);
    let device = Device::flex();
    device.seed(7);
    let bytes = weights::to_shipped_bytes(&config, config.init(&device), Default::default())?;
    write_model(out, &config, bytes)
}

/// `weights` and `config` signed for them, as a model folder `out`.
fn write_model(out: &Path, config: &skin_lesion::ModelConfig, weights: Vec<u8>) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let signed = weights::config_to_json(&weights::signed(config, &weights));
    write(out, CONFIG_FILE, signed.into_bytes())?;
    write(out, WEIGHTS_FILE, weights)
}

fn write(dir: &Path, name: &str, bytes: Vec<u8>) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, format)
        .expect("in-memory encoding");
    bytes.into_inner()
}

/// A four-channel (CMYK) JPEG, as print workflows and some scanners produce.
fn cmyk_jpeg(rgb: &image::RgbImage) -> Result<Vec<u8>> {
    let cmyk: Vec<u8> = rgb
        .pixels()
        .flat_map(|p| {
            let [r, g, b] = p.0.map(|v| v as f32 / 255.0);
            let k = 1.0 - r.max(g).max(b);
            let ink = |v: f32| {
                if k >= 1.0 {
                    0.0
                } else {
                    (1.0 - v - k) / (1.0 - k)
                }
            };
            [ink(r), ink(g), ink(b), k].map(|v| (v * 255.0).round() as u8)
        })
        .collect();
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    encoder.encode(
        &cmyk,
        rgb.width() as u16,
        rgb.height() as u16,
        jpeg_encoder::ColorType::Cmyk,
    )?;
    Ok(out)
}

/// The same JPEG with an EXIF block saying "rotate for display" (6 = 90 degrees clockwise).
fn with_orientation(jpeg: &[u8], orientation: u16) -> Result<Vec<u8>> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        bail!("not a JPEG");
    }
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one IFD entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // value padding + no next IFD
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    Ok(out)
}
