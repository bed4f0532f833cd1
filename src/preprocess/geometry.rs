//! Cropping and resizing: the central square of the photo, where dermatoscopy centres the
//! lesion, scaled with an antialiasing filter so large photos do not alias.

use image::RgbImage;
use image::imageops::{self, FilterType};

/// The largest central square of `image`, resized to `side` x `side` (read through a view of
/// the square: a large photo is not copied first).
pub fn square_resize(image: &RgbImage, side: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let s = w.min(h);
    let square = imageops::crop_imm(image, (w - s) / 2, (h - s) / 2, s, s);
    if s == side {
        return square.to_image();
    }
    imageops::resize(&*square, side, side, FilterType::Triangle)
}

/// The central `side` x `side` crop of a square image at least that large.
pub fn center_crop(image: &RgbImage, side: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    assert!(
        w >= side && h >= side,
        "{w}x{h} image is smaller than the {side} crop"
    );
    imageops::crop_imm(image, (w - side) / 2, (h - side) / 2, side, side).to_image()
}
