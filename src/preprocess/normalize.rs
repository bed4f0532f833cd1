//! 8-bit RGB to the network's channel-major, standardised floats.

use image::RgbImage;

/// Per-channel mean of HAM10000's central squares (RGB, 0..1), measured on the 200x150 set.
pub const MEAN: [f32; 3] = [0.765, 0.539, 0.562];
/// Per-channel standard deviation of the same pixels.
pub const STD: [f32; 3] = [0.136, 0.157, 0.175];

/// `[3, h, w]` floats, `(pixel / 255 - MEAN) / STD`.
pub fn normalize(image: &RgbImage) -> Vec<f32> {
    let mut out = vec![0.0; 3 * image.width() as usize * image.height() as usize];
    normalize_into(image, &mut out);
    out
}

/// [`normalize()`] into a caller's buffer of exactly `3 * w * h` floats (for batching).
pub fn normalize_into(image: &RgbImage, out: &mut [f32]) {
    let plane = image.width() as usize * image.height() as usize;
    assert_eq!(out.len(), 3 * plane, "output buffer has the wrong size");
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / (255.0 * STD[c]));
    let shift: [f32; 3] = std::array::from_fn(|c| MEAN[c] / STD[c]);
    for (i, pixel) in image.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = pixel[c] as f32 * scale[c] - shift[c];
        }
    }
}
