//! Bytes to an 8-bit RGB image and its EXIF orientation, refusing huge images before
//! allocating them.

use std::io::Cursor;

use image::error::LimitErrorKind;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits, RgbImage};

use super::PreprocessError;
use super::geometry::square_resize;
use super::jpeg::jpeg_is_complete;

/// Largest image side accepted (a 50-megapixel camera is about 8700 pixels wide).
pub const MAX_DIMENSION: u32 = 12_000;
/// Largest pixel count accepted, checked from the header before any pixel buffer exists.
pub const MAX_PIXELS: u64 = 60_000_000;

/// A decoded photo as the file stores it, with its EXIF orientation still to apply.
///
/// Why not upright at once: turning a 60-megapixel photo copies all of it, while the network
/// only sees its central square shrunk to a few dozen pixels. The central square of a turned
/// photo is the turned central square, so [`Decoded::square`] crops and shrinks first and turns
/// the small square last.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub image: RgbImage,
    pub orientation: Orientation,
}

impl Decoded {
    /// Pixels that are already upright (a canvas, a test image).
    pub fn upright(image: RgbImage) -> Self {
        Self {
            image,
            orientation: Orientation::NoTransforms,
        }
    }

    /// The central square, resized to `side` x `side` and turned upright.
    pub fn square(&self, side: u32) -> RgbImage {
        let square = square_resize(&self.image, side);
        if self.orientation == Orientation::NoTransforms {
            return square;
        }
        let mut turned = DynamicImage::ImageRgb8(square);
        turned.apply_orientation(self.orientation);
        turned.into_rgb8()
    }

    /// The same photo with its pixels changed by `f` (a colour cast, say), in the file's frame.
    pub fn map(self, f: impl FnOnce(RgbImage) -> RgbImage) -> Self {
        Self {
            image: f(self.image),
            orientation: self.orientation,
        }
    }

    /// The whole photo, upright (costs a copy when it has to be turned).
    pub fn into_upright(self) -> RgbImage {
        if self.orientation == Orientation::NoTransforms {
            return self.image;
        }
        let mut turned = DynamicImage::ImageRgb8(self.image);
        turned.apply_orientation(self.orientation);
        turned.into_rgb8()
    }

    /// Width and height as stored in the file.
    pub fn dimensions(&self) -> (u32, u32) {
        self.image.dimensions()
    }
}

std::thread_local! {
    static DECODING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside [`decode()`] (for a panic hook that keeps a decoder's caught
/// panic off stderr).
pub fn decoding() -> bool {
    DECODING.with(|d| d.get())
}

/// Decode a photo: grayscale/alpha/CMYK/16-bit converted to 8-bit RGB (alpha is dropped:
/// dermatoscopy photos have none that matters), the EXIF orientation read.
///
/// A decoder that panics on a damaged file (image decoders have had such bugs) makes that
/// file's error, natively; in the browser, where a panic aborts, the worker's trap recovery
/// takes over.
pub fn decode(bytes: &[u8]) -> Result<Decoded, PreprocessError> {
    let was = DECODING.with(|d| d.replace(true));
    let result = std::panic::catch_unwind(|| decode_unguarded(bytes));
    DECODING.with(|d| d.set(was));
    result.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(PreprocessError::Corrupt(format!(
            "the decoder failed on this file ({message})"
        )))
    })
}

/// What [`decode()`] checks before it decodes any pixel: a known format, a whole JPEG, and a
/// size within the limits, read from the header alone. Cheap enough to vet every photo of a
/// data set when it is loaded (the pixels are decoded later, once, into the image cache).
pub fn check(bytes: &[u8]) -> Result<(), PreprocessError> {
    let (width, height) = opened(bytes)?.into_dimensions().map_err(map_error)?;
    check_size(width, height)
}

/// A reader of a file that is not empty, of a known format and, for a JPEG, whole.
fn opened(bytes: &[u8]) -> Result<ImageReader<Cursor<&[u8]>>, PreprocessError> {
    if bytes.is_empty() {
        return Err(PreprocessError::Empty);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PreprocessError::Corrupt(e.to_string()))?;
    if reader.format().is_none() {
        return Err(PreprocessError::UnknownFormat);
    }
    if reader.format() == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        return Err(PreprocessError::Corrupt(
            "the JPEG is truncated (the file ends inside the image data)".into(),
        ));
    }
    Ok(reader)
}

fn decode_unguarded(bytes: &[u8]) -> Result<Decoded, PreprocessError> {
    let mut reader = opened(bytes)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    // 16-bit RGBA is 8 bytes a pixel; leave room for the decoder's own buffers.
    limits.max_alloc = Some(MAX_PIXELS * 8 + (64 << 20));
    reader.limits(limits);

    let mut decoder = reader.into_decoder().map_err(map_error)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    // `into_rgb8` keeps an 8-bit RGB buffer as it is; other layouts are converted once.
    let image = DynamicImage::from_decoder(decoder)
        .map_err(map_error)?
        .into_rgb8();
    Ok(Decoded { image, orientation })
}

/// A photo from raw RGBA pixels (what a browser canvas or `ImageData` holds).
pub fn from_rgba(width: u32, height: u32, rgba: &[u8]) -> Result<Decoded, PreprocessError> {
    check_size(width, height)?;
    let expected = width as usize * height as usize * 4;
    if rgba.len() != expected {
        return Err(PreprocessError::Corrupt(format!(
            "{width}x{height} RGBA pixels need {expected} bytes, got {}",
            rgba.len()
        )));
    }
    let rgb = rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let image = RgbImage::from_raw(width, height, rgb).expect("buffer size checked above");
    Ok(Decoded::upright(image))
}

fn check_size(width: u32, height: u32) -> Result<(), PreprocessError> {
    if width == 0 || height == 0 {
        return Err(PreprocessError::NoPixels { width, height });
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION || width as u64 * height as u64 > MAX_PIXELS
    {
        return Err(too_large(width, height));
    }
    Ok(())
}

fn too_large(width: u32, height: u32) -> PreprocessError {
    PreprocessError::TooLarge {
        width,
        height,
        max_pixels: MAX_PIXELS,
        max_dimension: MAX_DIMENSION,
    }
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
