//! Why a photo could not be used, in words a person can act on.

use thiserror::Error;

/// A photo that cannot be classified.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PreprocessError {
    /// Zero bytes.
    #[error("the file is empty (0 bytes)")]
    Empty,
    /// Not a format we can decode.
    #[error("not a supported image (use a JPEG, PNG, WebP, BMP or GIF photo)")]
    UnknownFormat,
    /// Larger than we are willing to decode.
    #[error(
        "the image is too large ({width}x{height} pixels); the limit is {max_pixels} pixels and {max_dimension} pixels a side"
    )]
    TooLarge {
        width: u32,
        height: u32,
        max_pixels: u64,
        max_dimension: u32,
    },
    /// Zero width or height.
    #[error("the image has no pixels ({width}x{height})")]
    NoPixels { width: u32, height: u32 },
    /// A truncated or corrupt file, or an unsupported variant of a format.
    #[error("the image could not be decoded: {0}")]
    Corrupt(String),
}
