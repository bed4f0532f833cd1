//! Training-time augmentation on cached squares: random crop, any of the 8 flips/rotations
//! (a dermatoscopy photo has no "up"), and brightness/contrast/saturation jitter.
//!
//! The result is an ordinary `RgbImage` that then goes through the shared
//! [`skin_lesion::preprocess::normalize`], like every other image.

use image::RgbImage;
use image::imageops;
use rand::Rng;

/// How strongly to augment.
#[derive(Debug, Clone, Copy)]
pub struct Augment {
    /// Max relative change of brightness, contrast and saturation (0.2 = ±20%).
    pub color: f32,
}

impl Augment {
    /// A random `side` x `side` view of `square`.
    pub fn apply(&self, square: &RgbImage, side: u32, rng: &mut impl Rng) -> RgbImage {
        let max = square.width() - side;
        let (x, y) = (rng.random_range(0..=max), rng.random_range(0..=max));
        let mut img = imageops::crop_imm(square, x, y, side, side).to_image();
        match rng.random_range(0..4) {
            1 => img = imageops::rotate90(&img),
            2 => imageops::rotate180_in_place(&mut img),
            3 => img = imageops::rotate270(&img),
            _ => {}
        }
        if rng.random_bool(0.5) {
            imageops::flip_horizontal_in_place(&mut img);
        }
        if self.color > 0.0 {
            let c = self.color;
            let brightness = 1.0 + rng.random_range(-c..=c);
            let contrast = 1.0 + rng.random_range(-c..=c);
            let saturation = 1.0 + rng.random_range(-c..=c);
            jitter(&mut img, brightness, contrast, saturation);
        }
        img
    }
}

/// Scale brightness, contrast (about the image mean) and saturation (about each pixel's gray).
fn jitter(img: &mut RgbImage, brightness: f32, contrast: f32, saturation: f32) {
    let n = (img.width() * img.height()) as f32;
    let mean = img.pixels().map(|p| luma(p.0)).sum::<f32>() / n;
    for p in img.pixels_mut() {
        let gray = luma(p.0);
        for c in 0..3 {
            let v = p[c] as f32;
            let v = gray + (v - gray) * saturation;
            let v = mean + (v - mean) * contrast;
            p[c] = (v * brightness).round().clamp(0.0, 255.0) as u8;
        }
    }
}

fn luma(p: [u8; 3]) -> f32 {
    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn crops_to_size_and_keeps_pixels_without_jitter() {
        let square = RgbImage::from_fn(10, 10, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let aug = Augment { color: 0.0 };
        for _ in 0..20 {
            let out = aug.apply(&square, 8, &mut rng);
            assert_eq!(out.dimensions(), (8, 8));
            assert!(out.pixels().all(|p| p[2] == 7));
        }
    }

    #[test]
    fn same_seed_same_augmentation() {
        let square = RgbImage::from_fn(12, 12, |x, y| {
            image::Rgb([(x * 20) as u8, (y * 20) as u8, 100])
        });
        let aug = Augment { color: 0.2 };
        let a = aug.apply(&square, 8, &mut ChaCha8Rng::seed_from_u64(9));
        let b = aug.apply(&square, 8, &mut ChaCha8Rng::seed_from_u64(9));
        assert_eq!(a, b);
    }
}
