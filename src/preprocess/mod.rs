//! The single preprocessing path: decode, crop, resize, orient, normalise.
//!
//! Training, `train-native predict` and the browser all call these functions, so a photo
//! gives the same tensor wherever it is classified.
//!
//! The pipeline is [`decode()`] → [`Decoded::square`] (central square, resized to
//! `resize_size`, turned upright by its EXIF orientation) → [`from_square`]: [`constancy`]
//! (when the model was trained with it) → [`center_crop`] (to `input_size`) → [`normalize()`].
//! Training caches the squares and replaces the central crop with a random one.

mod colour;
mod decode;
mod error;
mod geometry;
mod jpeg;
mod normalize;

pub use colour::{ILLUMINANT, constancy, illuminant};
pub use decode::{Decoded, MAX_DIMENSION, MAX_PIXELS, check, decode, decoding, from_rgba};
pub use error::PreprocessError;
pub use geometry::{center_crop, square_resize};
pub use normalize::{MEAN, STD, normalize, normalize_into};

use crate::PreprocessConfig;
use image::RgbImage;

/// The network input for an already decoded photo: `3 * input_size^2` floats, channel-major.
pub fn prepare(photo: &Decoded, config: &PreprocessConfig) -> Vec<f32> {
    let mut out = vec![0.0; 3 * config.input_size * config.input_size];
    from_square(photo.square(config.resize_size as u32), config, &mut out);
    out
}

/// Write the network input for a photo's central square (`resize_size` pixels a side) into
/// `out`: colour constancy when `config` asks for it, then the central crop, normalised.
/// Inference and training's evaluation both come through here.
pub fn from_square(mut square: RgbImage, config: &PreprocessConfig, out: &mut [f32]) {
    if config.colour_constancy {
        constancy(&mut square);
    }
    normalize_into(&center_crop(&square, config.input_size as u32), out);
}

/// The network input for an encoded photo (JPEG, PNG, WebP, BMP or GIF).
pub fn preprocess(bytes: &[u8], config: &PreprocessConfig) -> Result<Vec<f32>, PreprocessError> {
    Ok(prepare(&decode(bytes)?, config))
}

#[cfg(test)]
mod tests;
