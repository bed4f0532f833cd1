//! Changes another camera or clinic brings to a photo: a colour cast, darker and flatter
//! exposure, blur, JPEG compression, sensor noise and a lower resolution. The robustness suite
//! (`evaluate --corruptions`) applies them to whole photos; training draws from the same
//! functions to augment ([`super::augment`]).

use std::io::Cursor;

use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::{self, FilterType};
use rand::Rng;

/// One corruption at one strength.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Corruption {
    /// Red and blue multiplied by these gains (a warm cast: more red, less blue).
    ColourCast { red: f32, blue: f32 },
    /// Brightness and contrast both scaled by `1 - s`.
    DarkFlat { s: f32 },
    /// Gaussian blur of standard deviation `s` times the photo's shorter side.
    Blur { s: f32 },
    /// Saved as a JPEG of this quality and read back.
    Jpeg { quality: u8 },
    /// Gaussian noise of standard deviation `s` (out of 255).
    Noise { s: f32 },
    /// Shrunk to `s` of its size and scaled back up.
    Rescale { s: f32 },
}

impl Corruption {
    /// Apply to a photo. Noise draws from `rng`; the others are deterministic.
    pub fn apply(&self, image: &RgbImage, rng: &mut impl Rng) -> RgbImage {
        match *self {
            Self::ColourCast { red, blue } => gains(image, [red, 1.0, blue]),
            Self::DarkFlat { s } => dark_flat(image, 1.0 - s),
            Self::Blur { s } => imageops::blur(image, s * image.width().min(image.height()) as f32),
            Self::Jpeg { quality } => jpeg(image, quality),
            Self::Noise { s } => noise(image, s, rng),
            Self::Rescale { s } => {
                let (w, h) = image.dimensions();
                let small = imageops::resize(
                    image,
                    ((w as f32 * s).round() as u32).max(1),
                    ((h as f32 * s).round() as u32).max(1),
                    FilterType::Triangle,
                );
                imageops::resize(&small, w, h, FilterType::Triangle)
            }
        }
    }

    /// The family's name in the report.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ColourCast { red, blue } if *red > *blue => "warm colour cast",
            Self::ColourCast { .. } => "cool colour cast",
            Self::DarkFlat { .. } => "darker and flatter",
            Self::Blur { .. } => "blur",
            Self::Jpeg { .. } => "JPEG compression",
            Self::Noise { .. } => "noise",
            Self::Rescale { .. } => "lower resolution",
        }
    }

    /// The strength in words.
    pub fn description(&self) -> String {
        match *self {
            Self::ColourCast { red, blue } => format!("red x{red:.2}, blue x{blue:.2}"),
            Self::DarkFlat { s } => format!("brightness and contrast x{:.2}", 1.0 - s),
            Self::Blur { s } => {
                format!("Gaussian blur, sigma {:.1}% of the shorter side", 100.0 * s)
            }
            Self::Jpeg { quality } => format!("JPEG quality {quality}"),
            Self::Noise { s } => format!("Gaussian noise, sigma {s:.0}/255"),
            Self::Rescale { s } => format!("downscaled to {:.0}% and back", 100.0 * s),
        }
    }
}

/// The warm colour cast of issue 10 (red x1.12, blue x0.85), which the project's bar under
/// another camera's light is measured with.
pub const WARM_CAST: Corruption = Corruption::ColourCast {
    red: 1.12,
    blue: 0.85,
};

/// The robustness suite's mild warm cast (red x1.06, blue x0.92).
pub const MILD_WARM_CAST: Corruption = Corruption::ColourCast {
    red: 1.06,
    blue: 0.92,
};

/// The robustness suite's cool cast (red x0.89, blue x1.15).
pub const COOL_CAST: Corruption = Corruption::ColourCast {
    red: 0.89,
    blue: 1.15,
};

/// The robustness suite: (severity, corruption), two strengths of each family. The warm
/// cast at severity 2 (red x1.12, blue x0.85) and the 20% darker and flatter photos are the
/// cases the project's issue 10 measured.
pub fn suite() -> Vec<(usize, Corruption)> {
    vec![
        (1, MILD_WARM_CAST),
        (2, WARM_CAST),
        (2, COOL_CAST),
        (1, Corruption::DarkFlat { s: 0.1 }),
        (2, Corruption::DarkFlat { s: 0.2 }),
        (1, Corruption::Blur { s: 0.004 }),
        (2, Corruption::Blur { s: 0.008 }),
        (1, Corruption::Jpeg { quality: 30 }),
        (1, Corruption::Noise { s: 6.0 }),
        (2, Corruption::Noise { s: 12.0 }),
        (1, Corruption::Rescale { s: 0.5 }),
        (2, Corruption::Rescale { s: 0.33 }),
    ]
}

/// Multiply each channel by its gain.
pub fn gains(image: &RgbImage, gain: [f32; 3]) -> RgbImage {
    let mut out = image.clone();
    for p in out.pixels_mut() {
        for c in 0..3 {
            p[c] = (p[c] as f32 * gain[c]).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Scale brightness and contrast (about the mean) by `factor`.
fn dark_flat(image: &RgbImage, factor: f32) -> RgbImage {
    let n = (image.width() * image.height() * 3).max(1) as f32;
    let mean = image.pixels().flat_map(|p| p.0).map(f32::from).sum::<f32>() / n;
    let mut out = image.clone();
    for p in out.pixels_mut() {
        for c in 0..3 {
            let v = (mean + (p[c] as f32 - mean) * factor) * factor;
            p[c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Encode as a JPEG of `quality` and decode it again.
pub fn jpeg(image: &RgbImage, quality: u8) -> RgbImage {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(Cursor::new(&mut bytes), quality)
        .encode_image(image)
        .expect("in-memory JPEG encoding");
    image::load_from_memory(&bytes)
        .expect("a JPEG we just wrote")
        .to_rgb8()
}

/// Add Gaussian noise of standard deviation `sigma` to every channel of every pixel.
fn noise(image: &RgbImage, sigma: f32, rng: &mut impl Rng) -> RgbImage {
    let mut out = image.clone();
    for p in out.pixels_mut() {
        for c in 0..3 {
            let (u, v): (f32, f32) = (rng.random_range(1e-7..1.0), rng.random());
            let z = (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos();
            p[c] = (p[c] as f32 + sigma * z).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A 200x150 photo with sharp edges (a checkerboard of 10-pixel squares) and a gradient.
    fn photo() -> RgbImage {
        RgbImage::from_fn(200, 150, |x, y| {
            let square = if (x / 10 + y / 10) % 2 == 0 { 60 } else { 0 };
            image::Rgb([
                100 + square + (x % 50) as u8,
                80 + square,
                90 + (y % 40) as u8,
            ])
        })
    }

    #[test]
    fn the_warm_cast_is_the_one_measured_in_the_issue() {
        let (severity, cast) = suite()[1];
        assert_eq!(severity, 2);
        let out = cast.apply(&photo(), &mut ChaCha8Rng::seed_from_u64(0));
        let (a, b) = (photo().get_pixel(0, 0).0, out.get_pixel(0, 0).0);
        assert_eq!(b[0], (a[0] as f32 * 1.12).round() as u8);
        assert_eq!(b[1], a[1]);
        assert_eq!(b[2], (a[2] as f32 * 0.85).round() as u8);
        assert_eq!(cast.name(), "warm colour cast");
    }

    #[test]
    fn every_corruption_keeps_the_size_and_changes_the_photo() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for (_, corruption) in suite() {
            let out = corruption.apply(&photo(), &mut rng);
            assert_eq!(out.dimensions(), photo().dimensions(), "{corruption:?}");
            assert!(out != photo(), "{corruption:?} did nothing");
            assert!(!corruption.description().is_empty());
        }
    }
}
