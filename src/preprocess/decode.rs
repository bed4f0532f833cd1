//! Bytes to an upright 8-bit RGB image, refusing huge images before allocating them.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits, RgbImage, error::LimitErrorKind};

use super::PreprocessError;

/// Largest image side accepted (a 50-megapixel camera is about 8700 pixels wide).
pub const MAX_DIMENSION: u32 = 12_000;
/// Largest pixel count accepted, checked from the header before any pixel buffer exists.
pub const MAX_PIXELS: u64 = 60_000_000;

/// Decode a photo: EXIF orientation applied, grayscale/alpha/CMYK/16-bit converted to 8-bit RGB
/// (alpha is dropped: dermatoscopy photos have none that matters).
pub fn decode(bytes: &[u8]) -> Result<RgbImage, PreprocessError> {
    if bytes.is_empty() {
        return Err(PreprocessError::Empty);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PreprocessError::Corrupt(e.to_string()))?;
    if reader.format().is_none() {
        return Err(PreprocessError::UnknownFormat);
    }
    if reader.format() == Some(image::ImageFormat::Jpeg) && jpeg_is_truncated(bytes) {
        return Err(PreprocessError::Corrupt("the JPEG is truncated (the file ends inside the image data)".into()));
    }
    let mut reader = reader;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    // 16-bit RGBA is 8 bytes a pixel; leave room for the decoder's own buffers.
    limits.max_alloc = Some(MAX_PIXELS * 8 + (64 << 20));
    reader.limits(limits);

    let mut decoder = reader.into_decoder().map_err(map_error)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(map_error)?;
    image.apply_orientation(orientation);
    Ok(image.to_rgb8())
}

/// An image from raw RGBA pixels (what a browser canvas or `ImageData` holds).
pub fn from_rgba(width: u32, height: u32, rgba: &[u8]) -> Result<RgbImage, PreprocessError> {
    check_size(width, height)?;
    let expected = width as usize * height as usize * 4;
    if rgba.len() != expected {
        return Err(PreprocessError::Corrupt(format!(
            "{width}x{height} RGBA pixels need {expected} bytes, got {}",
            rgba.len()
        )));
    }
    let rgb = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    Ok(RgbImage::from_raw(width, height, rgb).expect("buffer size checked above"))
}

/// A JPEG whose last end-of-image marker (FF D9) does not follow its last start-of-scan marker
/// (FF DA) was cut off. The decoder would otherwise fill the missing part with grey and the
/// model would classify half a photo. (Inside entropy-coded data FF is always followed by 00 or
/// a restart marker, and an EXIF thumbnail's own markers come before the main scan.)
fn jpeg_is_truncated(bytes: &[u8]) -> bool {
    let last = |marker: u8| bytes.windows(2).rposition(|w| w[0] == 0xFF && w[1] == marker);
    match (last(0xDA), last(0xD9)) {
        (Some(scan), Some(end)) => end < scan,
        (_, None) => true,
        (None, Some(_)) => false,
    }
}

fn check_size(width: u32, height: u32) -> Result<(), PreprocessError> {
    if width == 0 || height == 0 {
        return Err(PreprocessError::NoPixels { width, height });
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION || width as u64 * height as u64 > MAX_PIXELS {
        return Err(too_large(width, height));
    }
    Ok(())
}

fn too_large(width: u32, height: u32) -> PreprocessError {
    PreprocessError::TooLarge { width, height, max_pixels: MAX_PIXELS, max_dimension: MAX_DIMENSION }
}

fn map_error(error: ImageError) -> PreprocessError {
    match error {
        ImageError::Unsupported(e) => PreprocessError::Corrupt(format!("unsupported image: {e}")),
        ImageError::Limits(e) => match e.kind() {
            LimitErrorKind::DimensionError | LimitErrorKind::InsufficientMemory => {
                PreprocessError::Corrupt(format!("the image is too large to decode safely ({e})"))
            }
            _ => PreprocessError::Corrupt(e.to_string()),
        },
        other => PreprocessError::Corrupt(other.to_string()),
    }
}
