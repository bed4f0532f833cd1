//! Colour constancy: each photo's light is brought to HAM10000's typical light before the
//! network sees it.
//!
//! Why: other clinics' cameras and lamps give photos a colour cast and another exposure, and a
//! network trained on two clinics' photos learns their light along with the lesions (a warm cast
//! cost the first models 17 points of balanced accuracy). Shades of Gray (Finlayson & Trezzi,
//! 2004; used by the ISIC 2019 winners) estimates a photo's illuminant per channel as the
//! Minkowski mean of its pixels, `e_c = (mean(I_c^p))^(1/p)`, and divides it out. Here each
//! channel is scaled so that `e_c` becomes [`ILLUMINANT`]'s, the average over HAM10000, so a
//! typical photo is barely changed while a cast or a darker exposure (both per-channel gains) is
//! undone, up to the pixels they clipped.

use image::RgbImage;

/// The Minkowski norm of the estimate (6, as in Barata et al. 2015).
pub const SHADES_OF_GRAY_P: i32 = 6;

/// HAM10000's average illuminant (RGB, 0..1): the mean of every fifth photo's Shades-of-Gray
/// estimate, on central squares resized to 72 pixels (per-photo standard deviation about 0.09
/// in each channel).
pub const ILLUMINANT: [f32; 3] = [0.787, 0.586, 0.618];

/// The Shades-of-Gray estimate of `image`'s illuminant, per channel (0..1).
pub fn illuminant(image: &RgbImage) -> [f32; 3] {
    let mut sums = [0.0f64; 3];
    for pixel in image.pixels() {
        for (sum, &v) in sums.iter_mut().zip(&pixel.0) {
            *sum += (f64::from(v) / 255.0).powi(SHADES_OF_GRAY_P);
        }
    }
    let n = f64::from(image.width() * image.height()).max(1.0);
    sums.map(|s| (s / n).powf(1.0 / f64::from(SHADES_OF_GRAY_P)) as f32)
}

/// Bring `image`'s illuminant to [`ILLUMINANT`], in place.
pub fn constancy(image: &mut RgbImage) {
    let estimate = illuminant(image);
    let gain: [f32; 3] = std::array::from_fn(|c| ILLUMINANT[c] / estimate[c].max(1e-3));
    for pixel in image.pixels_mut() {
        for (v, g) in pixel.0.iter_mut().zip(&gain) {
            *v = (f32::from(*v) * g).round().clamp(0.0, 255.0) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A skin-coloured photo with a darker blob, in HAM10000's typical light.
    fn photo() -> RgbImage {
        RgbImage::from_fn(72, 72, |x, y| {
            let (dx, dy) = (x as f32 - 36.0, y as f32 - 36.0);
            if dx * dx + dy * dy < 300.0 {
                image::Rgb([120, 70, 60])
            } else {
                image::Rgb([200 + (x % 7) as u8, 148 + (y % 5) as u8, 156])
            }
        })
    }

    fn cast(image: &RgbImage, gain: [f32; 3]) -> RgbImage {
        let mut out = image.clone();
        for p in out.pixels_mut() {
            for (v, g) in p.0.iter_mut().zip(&gain) {
                *v = (f32::from(*v) * g).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    fn max_difference(a: &RgbImage, b: &RgbImage) -> u8 {
        a.as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap()
    }

    #[test]
    fn a_colour_cast_or_a_darker_exposure_is_undone() {
        let mut plain = photo();
        constancy(&mut plain);
        for gain in [[1.12, 1.0, 0.85], [0.89, 1.0, 1.15], [0.8, 0.8, 0.8]] {
            let mut changed = cast(&photo(), gain);
            constancy(&mut changed);
            // Only the rounding of the cast itself is left.
            assert!(
                max_difference(&plain, &changed) <= 2,
                "{gain:?}: {}",
                max_difference(&plain, &changed)
            );
        }
    }

    #[test]
    fn a_photo_in_the_typical_light_barely_changes() {
        let original = photo();
        let estimate = illuminant(&original);
        // Put the photo in exactly the reference light, then apply constancy.
        let gain: [f32; 3] = std::array::from_fn(|c| ILLUMINANT[c] / estimate[c]);
        let typical = cast(&original, gain);
        let mut corrected = typical.clone();
        constancy(&mut corrected);
        assert!(max_difference(&typical, &corrected) <= 1);
    }

    #[test]
    fn a_black_image_stays_black() {
        let mut black = RgbImage::new(8, 8);
        constancy(&mut black);
        assert!(black.as_raw().iter().all(|&v| v == 0));
    }
}
