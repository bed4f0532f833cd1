use std::io::Cursor;

use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, LumaA, Rgb, Rgba};

use super::*;
use crate::preprocess::Decoded;
use crate::{LesionNetConfig, ModelConfig, PreprocessConfig};

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .unwrap();
    bytes
}

fn gradient(width: u32, height: u32) -> image::RgbImage {
    ImageBuffer::from_fn(width, height, |x, y| {
        Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
    })
}

/// A real HAM10000 photo when the shared data set is beside the checkout.
fn shared_photo() -> Option<Vec<u8>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/ham10000/images/ISIC_0024306.jpg"
    );
    std::fs::read(path).ok()
}

#[test]
fn a_photo_becomes_an_input_of_the_configured_size() {
    let config = ModelConfig::new(LesionNetConfig::new(), PreprocessConfig::new());
    let bytes =
        shared_photo().unwrap_or_else(|| encode(gradient(200, 150).into(), ImageFormat::Jpeg));
    let input = preprocess(&bytes, &config.preprocess).unwrap();
    assert_eq!(
        input.len(),
        3 * config.preprocess.input_size * config.preprocess.input_size
    );
    assert!(input.iter().all(|v| v.is_finite()));
}

#[test]
fn output_is_channel_major_and_standardised() {
    let config = ModelConfig::new(
        LesionNetConfig::new(),
        PreprocessConfig::new()
            .with_input_size(4)
            .with_resize_size(4),
    );
    let image = ImageBuffer::from_pixel(4, 4, Rgb([255u8, 0, 128]));
    let out = prepare(&Decoded::upright(image), &config.preprocess);
    let expected = [
        (1.0 - MEAN[0]) / STD[0],
        (0.0 - MEAN[1]) / STD[1],
        (128.0 / 255.0 - MEAN[2]) / STD[2],
    ];
    for c in 0..3 {
        for v in &out[c * 16..(c + 1) * 16] {
            assert!(
                (v - expected[c]).abs() < 1e-5,
                "channel {c}: {v} vs {}",
                expected[c]
            );
        }
    }
}

#[test]
fn crops_the_central_square() {
    // Left and right thirds red, centre green: the square crop of a 3:1 image is all green.
    let image = ImageBuffer::from_fn(30, 10, |x, _| {
        if (10..20).contains(&x) {
            Rgb([0, 255, 0])
        } else {
            Rgb([255, 0, 0])
        }
    });
    let square = square_resize(&image, 10);
    assert_eq!(square.dimensions(), (10, 10));
    assert!(square.pixels().all(|p| *p == Rgb([0, 255, 0])));
    let portrait = ImageBuffer::from_fn(10, 30, |_, y| {
        if (10..20).contains(&y) {
            Rgb([0, 0, 255])
        } else {
            Rgb([255, 0, 0])
        }
    });
    assert!(
        square_resize(&portrait, 5)
            .pixels()
            .all(|p| p[2] > 200 && p[0] < 50)
    );
    let crop = center_crop(&gradient(8, 8), 4);
    assert_eq!(crop.get_pixel(0, 0), gradient(8, 8).get_pixel(2, 2));
}

#[test]
fn converts_grayscale_alpha_and_16_bit() {
    let config = ModelConfig::new(LesionNetConfig::new(), PreprocessConfig::new());
    let gray = ImageBuffer::from_fn(90, 60, |x, _| Luma([x as u8]));
    let gray_alpha = ImageBuffer::from_fn(90, 60, |x, _| LumaA([x as u8, 10]));
    let rgba = ImageBuffer::from_fn(90, 60, |x, y| Rgba([x as u8, y as u8, 9, 0]));
    let rgb16: ImageBuffer<Rgb<u16>, Vec<u16>> =
        ImageBuffer::from_fn(90, 60, |x, y| Rgb([x as u16 * 700, y as u16 * 900, 65535]));
    for image in [
        DynamicImage::from(gray),
        DynamicImage::from(gray_alpha),
        DynamicImage::from(rgba),
        DynamicImage::from(rgb16),
    ] {
        let bytes = encode(image, ImageFormat::Png);
        assert_eq!(decode(&bytes).unwrap().dimensions(), (90, 60));
        assert_eq!(
            preprocess(&bytes, &config.preprocess).unwrap().len(),
            3 * 64 * 64
        );
    }
    // 16-bit is scaled, not truncated: full-scale blue stays full-scale.
    let rgb16: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_pixel(2, 2, Rgb([0, 0, 65535]));
    let decoded = decode(&encode(rgb16.into(), ImageFormat::Png)).unwrap();
    assert_eq!(*decoded.image.get_pixel(0, 0), Rgb([0, 0, 255]));
}

#[test]
fn rgba_pixels_match_decoded_rgb() {
    let image = gradient(20, 10);
    let rgba: Vec<u8> = image
        .pixels()
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    assert_eq!(from_rgba(20, 10, &rgba).unwrap().image, image);
    assert!(matches!(
        from_rgba(20, 10, &rgba[4..]),
        Err(PreprocessError::Corrupt(_))
    ));
    assert!(matches!(
        from_rgba(0, 10, &[]),
        Err(PreprocessError::NoPixels { .. })
    ));
}

#[test]
fn rejects_bad_files_with_clear_errors() {
    assert_eq!(decode(&[]), Err(PreprocessError::Empty));
    assert_eq!(
        decode(b"%PDF-1.4 this is not a photo"),
        Err(PreprocessError::UnknownFormat)
    );
    let jpeg = encode(gradient(64, 48).into(), ImageFormat::Jpeg);
    let truncated = &jpeg[..jpeg.len() / 2];
    let err = decode(truncated).unwrap_err();
    assert!(matches!(err, PreprocessError::Corrupt(_)), "{err:?}");
    let mut garbled = jpeg.clone();
    for b in garbled.iter_mut().skip(2).take(200) {
        *b = 0xAA;
    }
    assert!(decode(&garbled).is_err());
    assert!(err.to_string().contains("truncated"), "{err}");
    let png = encode(gradient(64, 48).into(), ImageFormat::Png);
    assert!(matches!(
        decode(&png[..png.len() - 40]),
        Err(PreprocessError::Corrupt(_))
    ));
    assert!(matches!(
        decode(&png[..100]),
        Err(PreprocessError::Corrupt(_))
    ));
}

#[test]
fn refuses_huge_images_from_the_header() {
    // A 30000x30000 BMP header with no pixel data: refused before any pixel buffer exists.
    let (w, h): (i32, i32) = (30_000, 30_000);
    let mut bmp = Vec::new();
    bmp.extend_from_slice(b"BM");
    bmp.extend_from_slice(&(54u32 + 16).to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&54u32.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&w.to_le_bytes());
    bmp.extend_from_slice(&h.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&24u16.to_le_bytes());
    bmp.extend_from_slice(&[0; 24]);
    bmp.extend_from_slice(&[0; 16]);
    let err = decode(&bmp).unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
}

#[test]
fn turning_the_small_square_equals_turning_the_whole_photo_first() {
    use image::metadata::Orientation::*;
    // A 90x60 photo: its central square is 60x60, kept at full size so no resizing blurs the
    // comparison.
    let photo = gradient(90, 60);
    for orientation in [
        NoTransforms,
        Rotate90,
        Rotate180,
        Rotate270,
        FlipHorizontal,
        FlipVertical,
        Rotate90FlipH,
        Rotate270FlipH,
    ] {
        let decoded = Decoded {
            image: photo.clone(),
            orientation,
        };
        let upright = decoded.clone().into_upright();
        assert_eq!(
            decoded.square(60),
            square_resize(&upright, 60),
            "{orientation:?}"
        );
    }
}

#[test]
fn an_exif_rotated_jpeg_is_read_with_its_orientation() {
    // A JPEG whose EXIF says "rotate 90 degrees clockwise for display".
    let jpeg = encode(gradient(64, 48).into(), ImageFormat::Jpeg);
    let mut tagged = jpeg[..2].to_vec();
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]);
    let payload = [b"Exif\0\0".as_slice(), &tiff].concat();
    tagged.extend_from_slice(&[0xFF, 0xE1]);
    tagged.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
    tagged.extend_from_slice(&payload);
    tagged.extend_from_slice(&jpeg[2..]);
    let decoded = decode(&tagged).unwrap();
    assert_eq!(decoded.orientation, image::metadata::Orientation::Rotate90);
    assert_eq!(decoded.dimensions(), (64, 48), "stored as in the file");
    assert_eq!(decoded.into_upright().dimensions(), (48, 64));
}

/// The widget refuses raw pixels beyond the decoder's limits before it hands them to the
/// worker; its copies of the two numbers must be these.
#[test]
fn the_widget_checks_the_decoders_pixel_limits() {
    let widget = include_str!("../../web/skin-lesion-classifier.js");
    let constant = |name: &str| -> u64 {
        let line = widget
            .lines()
            .find(|l| l.starts_with(&format!("const {name} = ")))
            .unwrap_or_else(|| panic!("the widget has no {name}"));
        let value = line.split('=').nth(1).unwrap().trim().trim_end_matches(';');
        value.replace('_', "").parse().unwrap()
    };
    assert_eq!(
        constant("MAX_DIMENSION"),
        u64::from(super::decode::MAX_DIMENSION)
    );
    assert_eq!(constant("MAX_PIXELS"), super::decode::MAX_PIXELS);
}
