//! The single preprocessing path: decode, crop, resize, orient, normalise.
//!
//! Training, `train-native predict` and the browser all call these functions, so a photo
//! gives the same tensor wherever it is classified.
//!
//! The pipeline is [`decode`] → [`Decoded::square`] (central square, resized to
//! `resize_size`, turned upright by its EXIF orientation) → [`center_crop`] (to
//! `input_size`) → [`normalize`]. Training caches the squares and replaces the central crop
//! with a random one.

mod decode;
mod error;
mod geometry;
mod jpeg;
mod normalize;

pub use decode::{Decoded, MAX_DIMENSION, MAX_PIXELS, decode, decoding, from_rgba};
pub use error::PreprocessError;
pub use geometry::{center_crop, square_resize};
pub use normalize::{MEAN, STD, normalize, normalize_into};

use crate::LesionNetConfig;

/// The network input for an already decoded photo: `3 * input_size^2` floats, channel-major.
pub fn prepare(photo: &Decoded, config: &LesionNetConfig) -> Vec<f32> {
    let square = photo.square(config.resize_size as u32);
    normalize(&center_crop(&square, config.input_size as u32))
}

/// The network input for an encoded photo (JPEG, PNG, WebP, BMP or GIF).
pub fn preprocess(bytes: &[u8], config: &LesionNetConfig) -> Result<Vec<f32>, PreprocessError> {
    Ok(prepare(&decode(bytes)?, config))
}

#[cfg(test)]
mod tests;
