//! `train-native explain`: where the network looked, as PNG overlays (or numbers with
//! `--json`), computed by the same shared code as the browser's overlay.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use image::{Rgb, RgbImage};
use serde::Serialize;
use skin_lesion::preprocess::{center_crop, decode};
use skin_lesion::{Classifier, Photo};

use crate::cli::ExplainArgs;
use crate::fsutil::write_atomic;
use crate::model_files;

/// Side of the overlay images.
const OVERLAY_SIDE: u32 = 256;

#[derive(Serialize)]
struct Line {
    file: String,
    top: String,
    /// `side` x `side` values in [0, 1], row-major over the crop the network saw.
    side: usize,
    map: Vec<f32>,
}

pub fn run(args: &ExplainArgs) -> Result<ExitCode> {
    let classifier = model_files::load_or_built_in(args.weights.as_deref())?
        .0
        .classifier;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut failed = 0;
    for path in &args.images {
        match explain(&classifier, path) {
            Ok((line, crop)) => {
                if args.json {
                    println!("{}", serde_json::to_string(&line)?);
                } else {
                    let target = out.join(format!(
                        "{}-saliency.png",
                        path.file_stem()
                            .map_or("photo".into(), |s| s.to_string_lossy())
                    ));
                    write_png(&target, &overlay(&crop, &line.map, line.side))?;
                    println!("{}: {} — {}", line.file, line.top, target.display());
                }
            }
            Err(error) => {
                failed += 1;
                eprintln!("error: {}: {error:#}", path.display());
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The map of one photo's top class, and the crop it lies over.
fn explain(classifier: &Classifier, path: &Path) -> Result<(Line, RgbImage)> {
    let bytes = std::fs::read(path).context("cannot read the file")?;
    let input = classifier.prepare(Photo::Encoded(&bytes))?;
    let answer = classifier.classify_batch(&input, 1)?.remove(0);
    let map = classifier.saliency(&input, answer.top)?;
    let config = classifier.config();
    let crop = center_crop(
        &decode(&bytes)?.square(config.preprocess.resize_size as u32),
        config.preprocess.input_size as u32,
    );
    let line = Line {
        file: path.display().to_string(),
        top: config.classes[answer.top].code.clone(),
        side: config.preprocess.input_size,
        map,
    };
    Ok((line, crop))
}

/// The crop scaled up, with the map blended over it in warm colours.
pub fn overlay(crop: &RgbImage, map: &[f32], side: usize) -> RgbImage {
    let big = image::imageops::resize(
        crop,
        OVERLAY_SIDE,
        OVERLAY_SIDE,
        image::imageops::FilterType::Triangle,
    );
    RgbImage::from_fn(OVERLAY_SIDE, OVERLAY_SIDE, |x, y| {
        let (mx, my) = (
            x as usize * side / OVERLAY_SIDE as usize,
            y as usize * side / OVERLAY_SIDE as usize,
        );
        let v = map[my * side + mx].clamp(0.0, 1.0);
        let heat = [255.0, 220.0 * (1.0 - v), 0.0];
        let alpha = 0.9 * v * v;
        let p = big.get_pixel(x, y);
        Rgb(std::array::from_fn(|c| {
            (f32::from(p[c]) * (1.0 - alpha) + heat[c] * alpha).round() as u8
        }))
    })
}

fn write_png(path: &Path, image: &RgbImage) -> Result<()> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png)?;
    write_atomic(path, bytes.get_ref())
}
