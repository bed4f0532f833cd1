//! How well the class activation maps point at the lesion: the pointing game (does the map
//! peak inside the lesion mask?) and the share of the map's mass inside it, against a
//! Gaussian at the centre of the crop, which is where dermatoscopy puts the lesion anyway.

use std::path::Path;

use anyhow::Result;
use rayon::prelude::*;
use skin_lesion::report::{SaliencyFigures, SaliencyReport};
use skin_lesion::{Answer, Classifier, ModelConfig};

use crate::data::Record;
use crate::data::batch;
use crate::data::masks::{ON_LESION, mask_path, mask_square};
use crate::score::Images;

/// The centre prior's standard deviation, as a share of the crop's side.
pub const CENTRE_SIGMA: f64 = 0.25;

/// A mask through the same geometry as its photo (central square, resize, central crop),
/// thresholded at 128: `input_size²` booleans, row-major.
pub fn load_mask(path: &Path, config: &ModelConfig) -> Result<Vec<bool>> {
    let p = &config.preprocess;
    let square = mask_square(path, p.resize_size as u32)?;
    let (side, crop) = (p.resize_size as u32, p.input_size as u32);
    let offset = (side - crop) / 2;
    let crop = image::imageops::crop_imm(&square, offset, offset, crop, crop).to_image();
    Ok(crop.pixels().map(|v| v[0] >= ON_LESION).collect())
}

/// A Gaussian at the centre of a `side` x `side` crop.
pub fn centre_prior(side: usize) -> Vec<f32> {
    let sigma = CENTRE_SIGMA * side as f64;
    let c = (side as f64 - 1.0) / 2.0;
    (0..side * side)
        .map(|i| {
            let (y, x) = ((i / side) as f64, (i % side) as f64);
            (-((x - c).powi(2) + (y - c).powi(2)) / (2.0 * sigma * sigma)).exp() as f32
        })
        .collect()
}

/// Pointing-game hit and mass inside the mask of one map.
pub fn score(map: &[f32], mask: &[bool]) -> (bool, f64) {
    let peak = skin_lesion::answer::argmax(map);
    let total: f64 = map.iter().map(|&v| f64::from(v.max(0.0))).sum();
    let inside: f64 = map
        .iter()
        .zip(mask)
        .filter(|(_, m)| **m)
        .map(|(v, _)| f64::from(v.max(0.0)))
        .sum();
    (mask[peak], if total > 0.0 { inside / total } else { 0.0 })
}

/// One photo's grid side and its `(hit, mass in the lesion)` for the map, then the centre prior.
type PhotoScores = (usize, [(bool, f64); 2]);

/// The maps of the answered class of every image that has a mask, scored against it.
pub fn evaluate(
    classifier: &Classifier,
    images: &Images,
    answers: &[Answer],
    records: &[Record],
    root: &Path,
) -> Result<Option<SaliencyReport>> {
    let config = classifier.config();
    let side = config.preprocess.input_size;
    let prior = centre_prior(side);
    let views = 0..classifier.saliency_views();
    // One photo per core at a time (flex spreads one photo's passes over the cores poorly),
    // the figures then added up in photo order.
    let scored: Vec<Option<PhotoScores>> = images
        .indices
        .par_iter()
        .zip(answers)
        .map(|(&i, answer)| {
            let Some(path) = mask_path(root, &records[i]) else {
                return Ok(None);
            };
            let mask = load_mask(&path, config)?;
            let input = batch::inputs(images.cache, &[i], &config.preprocess, None);
            let sums = classifier.saliency_sums(&input, answer.top, views.clone())?;
            let map = classifier.saliency_map(&sums)?;
            Ok(Some((
                sums.grid,
                [score(&map, &mask), score(&prior, &mask)],
            )))
        })
        .collect::<Result<_>>()?;
    let (mut map_sums, mut prior_sums, mut count) = ((0usize, 0.0f64), (0usize, 0.0f64), 0usize);
    let mut grid = 0;
    for (cells, figures) in scored.into_iter().flatten() {
        grid = cells;
        for ((hits, mass), (hit, share)) in
            [&mut map_sums, &mut prior_sums].into_iter().zip(figures)
        {
            *hits += usize::from(hit);
            *mass += share;
        }
        count += 1;
    }
    if count == 0 {
        return Ok(None);
    }
    let figures = |(hits, mass): (usize, f64)| SaliencyFigures {
        pointing_game: hits as f64 / count as f64,
        mass_in_lesion: mass / count as f64,
    };
    Ok(Some(SaliencyReport {
        method: format!(
            "class activation map of the answered class on a {grid}x{grid} grid (1/{} of the crop), averaged over the first {} test-time views",
            side / grid.max(1),
            views.len()
        ),
        images: count,
        map: figures(map_sums),
        centre_prior: figures(prior_sums),
        centre_sigma: CENTRE_SIGMA,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pointing_game_and_the_mass_follow_the_mask() {
        // A 4x4 crop whose lesion is the top-left quarter.
        let mask: Vec<bool> = (0..16).map(|i| i / 4 < 2 && i % 4 < 2).collect();
        let mut map = vec![0.1f32; 16];
        map[0] = 1.0;
        let (hit, mass) = score(&map, &mask);
        assert!(hit);
        assert!((mass - (1.0 + 0.3) / (1.0 + 1.5)).abs() < 1e-6, "{mass}");
        map[15] = 2.0;
        assert!(!score(&map, &mask).0);
    }

    #[test]
    fn the_centre_prior_peaks_in_the_middle() {
        let prior = centre_prior(8);
        let peak = skin_lesion::answer::argmax(&prior);
        assert!([27, 28, 35, 36].contains(&peak), "{peak}");
        assert!(prior[0] < prior[peak] * 0.2);
    }
}
