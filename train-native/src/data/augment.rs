//! Training-time augmentation on cached squares: the changes other cameras and clinics bring
//! (colour casts, exposure, blur, JPEG compression, noise, another lesion size), then the
//! shared colour constancy, a random crop and any of the 8 flips/rotations (a dermatoscopy
//! photo has no "up"), and last, as an option, random erasing.
//!
//! The result is an ordinary `RgbImage` that then goes through the shared
//! [`skin_lesion::preprocess::normalize`], like every other image; the colour constancy is the
//! shared one too, applied to the whole square as at inference.

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageBuffer, Pixel, RgbImage};
use rand::Rng;
use skin_lesion::preprocess::constancy;
use skin_lesion::training::AugmentConfig;

use super::corrupt::{self, Corruption};

/// How to augment: the recipe's strengths, and whether the model uses colour constancy.
#[derive(Debug, Clone)]
pub struct Augment {
    pub config: AugmentConfig,
    pub constancy: bool,
}

impl Augment {
    /// A random `side` x `side` view of `square`.
    ///
    /// The order: what another camera does to the whole photo (colour cast, blur, noise,
    /// JPEG), the shared colour constancy (as at inference, where it sees the whole square),
    /// the crop, a flip/rotation, the brightness/contrast/saturation jitter, which constancy
    /// would otherwise divide out again, and last the erasing. A change whose strength is 0 draws no
    /// random numbers, so with the camera changes off the draws are those of the version
    /// that trained the shipped model (crop, rotation, flip, jitter).
    pub fn apply(&self, square: &RgbImage, side: u32, rng: &mut impl Rng) -> RgbImage {
        self.apply_with_mask(square, None, side, rng).0
    }

    /// [`Self::apply`], and `mask` (the photo's lesion mask, framed as `square` is) through
    /// the same crop, rotation and flip: the same random draws, whether a mask is given or not.
    pub fn apply_with_mask(
        &self,
        square: &RgbImage,
        mask: Option<&GrayImage>,
        side: u32,
        rng: &mut impl Rng,
    ) -> (RgbImage, Option<GrayImage>) {
        let mut img = self.camera(square.clone(), rng);
        if self.constancy {
            constancy(&mut img);
        }
        let geometry = self.geometry(img.width(), side, rng);
        let mut out = geometry.place(&img);
        let c = self.config.colour;
        if c > 0.0 {
            let brightness = 1.0 + rng.random_range(-c..=c);
            let contrast = 1.0 + rng.random_range(-c..=c);
            let saturation = 1.0 + rng.random_range(-c..=c);
            jitter(&mut out, brightness, contrast, saturation);
        }
        if happens(rng, self.config.erase_probability()) {
            erase(&mut out, rng);
        }
        (out, mask.map(|m| geometry.place(m)))
    }

    /// Another camera's colour balance, focus, sensor noise and compression.
    fn camera(&self, mut img: RgbImage, rng: &mut impl Rng) -> RgbImage {
        let a = &self.config;
        if a.cast > 0.0 {
            let (red, blue) = (
                rng.random_range(-a.cast..=a.cast).exp(),
                rng.random_range(-a.cast..=a.cast).exp(),
            );
            img = corrupt::gains(&img, [red, 1.0, blue]);
        }
        if happens(rng, a.blur) {
            img = imageops::blur(&img, rng.random_range(0.3..1.2));
        }
        if happens(rng, a.noise) {
            img = Corruption::Noise {
                s: rng.random_range(2.0..10.0),
            }
            .apply(&img, rng);
        }
        if happens(rng, a.jpeg) {
            img = corrupt::jpeg(&img, rng.random_range(30..=90));
        }
        img
    }

    /// A random crop of a square of side `largest`: `side` pixels, or with scale jitter a
    /// larger one (down to `1 - scale` of the square, the lesion a little larger) resized to
    /// `side`; then one of the 4 rotations and a flip half the time.
    fn geometry(&self, largest: u32, side: u32, rng: &mut impl Rng) -> Geometry {
        let crop = if self.config.scale > 0.0 {
            let smallest = ((1.0 - self.config.scale) * largest as f32)
                .round()
                .max(side as f32 * 0.75) as u32;
            rng.random_range(smallest.min(largest)..=largest)
        } else {
            side
        }
        .clamp(1, largest);
        let (x, y) = (
            rng.random_range(0..=largest - crop),
            rng.random_range(0..=largest - crop),
        );
        let quarter_turns = rng.random_range(0..4);
        let flip = rng.random_bool(0.5);
        Geometry {
            x,
            y,
            crop,
            side,
            quarter_turns,
            flip,
        }
    }
}

/// Where a training view lies in its square, and how it is turned.
struct Geometry {
    x: u32,
    y: u32,
    crop: u32,
    side: u32,
    quarter_turns: u32,
    flip: bool,
}

impl Geometry {
    /// The view of `img` (a photo or its mask).
    fn place<P>(&self, img: &ImageBuffer<P, Vec<u8>>) -> ImageBuffer<P, Vec<u8>>
    where
        P: Pixel<Subpixel = u8> + 'static,
    {
        let view = imageops::crop_imm(img, self.x, self.y, self.crop, self.crop);
        let mut out = if self.crop == self.side {
            view.to_image()
        } else {
            imageops::resize(&*view, self.side, self.side, FilterType::Triangle)
        };
        match self.quarter_turns {
            1 => out = imageops::rotate90(&out),
            2 => imageops::rotate180_in_place(&mut out),
            3 => out = imageops::rotate270(&out),
            _ => {}
        }
        if self.flip {
            imageops::flip_horizontal_in_place(&mut out);
        }
        out
    }
}

/// Whether a change of probability `p` happens; `p = 0` draws nothing.
fn happens(rng: &mut impl Rng, p: f32) -> bool {
    p > 0.0 && rng.random_bool(f64::from(p))
}

/// Random erasing: a rectangle of 2-25% of `img`'s area, its sides in a ratio between 1:2 and
/// 2:1 (drawn on a log scale), at a random place, each of its pixels a random colour. Last of
/// the changes, so that the jitter leaves its noise as drawn.
fn erase(img: &mut RgbImage, rng: &mut impl Rng) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let area = w * h * rng.random_range(0.02..=0.25f32);
    let ratio = rng.random_range(0.5f32.ln()..=2.0f32.ln()).exp();
    let ew = ((area * ratio).sqrt().round() as u32).clamp(1, img.width());
    let eh = ((area / ratio).sqrt().round() as u32).clamp(1, img.height());
    let x0 = rng.random_range(0..=img.width() - ew);
    let y0 = rng.random_range(0..=img.height() - eh);
    for y in y0..y0 + eh {
        for x in x0..x0 + ew {
            img.put_pixel(x, y, image::Rgb(rng.random::<[u8; 3]>()));
        }
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

    fn none() -> AugmentConfig {
        AugmentConfig::new()
            .with_colour(0.0)
            .with_cast(0.0)
            .with_blur(0.0)
            .with_noise(0.0)
            .with_jpeg(0.0)
            .with_scale(0.0)
    }

    #[test]
    fn crops_to_size_and_keeps_pixels_without_jitter() {
        let square = RgbImage::from_fn(10, 10, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let aug = Augment {
            config: none(),
            constancy: false,
        };
        for _ in 0..20 {
            let out = aug.apply(&square, 8, &mut rng);
            assert_eq!(out.dimensions(), (8, 8));
            assert!(out.pixels().all(|p| p[2] == 7));
        }
    }

    /// The shipped model was trained by a version that drew crop, rotation, flip and jitter
    /// and nothing else: with the camera changes off, the recipe must draw the same.
    #[test]
    fn without_camera_changes_the_draws_are_the_shipped_models() {
        let square = RgbImage::from_fn(72, 72, |x, y| {
            image::Rgb([(x * 3) as u8, (y * 3) as u8, (x + y) as u8])
        });
        let aug = Augment {
            config: none().with_colour(0.15),
            constancy: false,
        };
        for seed in 0..10 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let got = aug.apply(&square, 64, &mut rng);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (x, y) = (rng.random_range(0..=8), rng.random_range(0..=8));
            let mut want = imageops::crop_imm(&square, x, y, 64, 64).to_image();
            match rng.random_range(0..4) {
                1 => want = imageops::rotate90(&want),
                2 => imageops::rotate180_in_place(&mut want),
                3 => want = imageops::rotate270(&want),
                _ => {}
            }
            if rng.random_bool(0.5) {
                imageops::flip_horizontal_in_place(&mut want);
            }
            let c = 0.15f32;
            let (b, k, s) = (
                1.0 + rng.random_range(-c..=c),
                1.0 + rng.random_range(-c..=c),
                1.0 + rng.random_range(-c..=c),
            );
            jitter(&mut want, b, k, s);
            assert!(got == want, "seed {seed}");
        }
    }

    /// The mask goes where its photo's pixels go, under every change of geometry (scale
    /// jitter included), and asking for it changes none of the photo's draws.
    #[test]
    fn the_mask_follows_its_photo_and_changes_no_draw() {
        let square =
            RgbImage::from_fn(40, 40, |x, y| image::Rgb([(x * 6) as u8, (y * 6) as u8, 9]));
        let mask = GrayImage::from_fn(40, 40, |x, _| image::Luma([(x * 6) as u8]));
        for config in [none(), none().with_scale(0.2)] {
            let aug = Augment {
                config: config.with_colour(0.15),
                constancy: false,
            };
            let plain = Augment {
                config: aug.config.clone().with_colour(0.0),
                constancy: false,
            };
            for seed in 0..20 {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let (photo, moved) = aug.apply_with_mask(&square, Some(&mask), 32, &mut rng);
                let alone = aug.apply(&square, 32, &mut ChaCha8Rng::seed_from_u64(seed));
                assert!(photo == alone, "seed {seed}: the mask changed the photo");
                // Without the colour jitter, the photo's red is the mask, pixel for pixel.
                let (unjittered, moved2) = plain.apply_with_mask(
                    &square,
                    Some(&mask),
                    32,
                    &mut ChaCha8Rng::seed_from_u64(seed),
                );
                let moved = moved.unwrap();
                assert!(moved == moved2.unwrap());
                assert!(
                    unjittered
                        .pixels()
                        .zip(moved.pixels())
                        .all(|(p, m)| p[0] == m[0]),
                    "seed {seed}"
                );
            }
        }
    }

    #[test]
    fn every_change_keeps_the_size() {
        let square = RgbImage::from_fn(72, 72, |x, y| {
            image::Rgb([(x * 3) as u8, (y * 3) as u8, 120])
        });
        let all = AugmentConfig::new()
            .with_blur(1.0)
            .with_noise(1.0)
            .with_jpeg(1.0);
        let aug = Augment {
            config: all,
            constancy: true,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..10 {
            assert_eq!(aug.apply(&square, 64, &mut rng).dimensions(), (64, 64));
        }
    }

    #[test]
    fn erasing_replaces_one_rectangle_of_2_to_25_percent() {
        let flat = RgbImage::from_pixel(40, 40, image::Rgb([128, 128, 128]));
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..50 {
            let mut img = flat.clone();
            erase(&mut img, &mut rng);
            let changed: Vec<(u32, u32)> = img
                .enumerate_pixels()
                .filter(|(_, _, p)| p.0 != [128, 128, 128])
                .map(|(x, y, _)| (x, y))
                .collect();
            let (xs, ys) = (
                changed.iter().map(|c| c.0).collect::<Vec<_>>(),
                changed.iter().map(|c| c.1).collect::<Vec<_>>(),
            );
            let (w, h) = (
                xs.iter().max().unwrap() - xs.iter().min().unwrap() + 1,
                ys.iter().max().unwrap() - ys.iter().min().unwrap() + 1,
            );
            // A few random pixels may come out grey: the bounding box is the rectangle's.
            let share = (w * h) as f32 / 1600.0;
            assert!((0.015..=0.27).contains(&share), "{w}x{h}");
            assert!(changed.len() as f32 >= 0.95 * (w * h) as f32, "{w}x{h}");
            assert!((0.4..=2.6).contains(&(w as f32 / h as f32)), "{w}x{h}");
        }
    }

    #[test]
    fn erasing_off_draws_nothing_and_always_on_changes_every_crop() {
        let square = RgbImage::from_fn(72, 72, |x, y| {
            image::Rgb([(x * 3) as u8, (y * 3) as u8, (x + y) as u8])
        });
        let plain = Augment {
            config: none(),
            constancy: false,
        };
        let erasing = Augment {
            config: none().with_erase(Some(1.0)),
            constancy: false,
        };
        for seed in 0..10 {
            let a = plain.apply(&square, 64, &mut ChaCha8Rng::seed_from_u64(seed));
            let b = erasing.apply(&square, 64, &mut ChaCha8Rng::seed_from_u64(seed));
            let differ = a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count();
            // The same crop and rotation (erasing draws last), and 2-25% of it erased.
            assert!((40..=1100).contains(&differ), "seed {seed}: {differ}");
        }
    }

    #[test]
    fn same_seed_same_augmentation() {
        let square = RgbImage::from_fn(12, 12, |x, y| {
            image::Rgb([(x * 20) as u8, (y * 20) as u8, 100])
        });
        let aug = Augment {
            config: AugmentConfig::new(),
            constancy: true,
        };
        let a = aug.apply(&square, 8, &mut ChaCha8Rng::seed_from_u64(9));
        let b = aug.apply(&square, 8, &mut ChaCha8Rng::seed_from_u64(9));
        assert!(a == b);
    }
}
