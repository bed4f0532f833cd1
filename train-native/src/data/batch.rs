//! Turning cached images into network inputs.

use anyhow::{Result, anyhow};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use skin_lesion::{PreprocessConfig, preprocess};

use super::augment::Augment;
use super::cache::ImageCache;
use super::masks::{MaskCache, cell_shares};

/// Normalised inputs for `indices`, laid end to end (`3 * input_size²` floats each): the
/// shared inference preprocessing ([`preprocess::from_square`]), or augmented random views
/// when `augment` is given (each image seeded from `seed` and its slot, so a batch is
/// reproducible whatever the thread count).
pub fn inputs(
    cache: &ImageCache,
    indices: &[usize],
    config: &PreprocessConfig,
    augment: Option<(&Augment, u64)>,
) -> Vec<f32> {
    let side = config.input_size;
    let plane = 3 * side * side;
    let mut data = vec![0.0f32; indices.len() * plane];
    data.par_chunks_mut(plane)
        .zip(indices)
        .enumerate()
        .for_each(|(slot, (out, &i))| {
            let square = cache.rgb(i);
            match augment {
                Some((aug, seed)) => {
                    let view = aug.apply(&square, side as u32, &mut view_rng(seed, slot));
                    preprocess::normalize_into(&view, out);
                }
                None => preprocess::from_square(square, config, out),
            }
        });
    data
}

/// The random generator of the augmented view in `slot` of a batch drawn with `seed`.
fn view_rng(seed: u64, slot: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(slot as u64),
    )
}

/// [`inputs`]' augmented views, the same to the bit, and each one's lesion mask through the
/// same crop, rotation and flip, as the share of each of `grid` x `grid` cells on the lesion
/// (`grid²` floats an image, laid end to end): the mask loss's targets.
pub fn inputs_and_masks(
    cache: &ImageCache,
    masks: &MaskCache,
    indices: &[usize],
    config: &PreprocessConfig,
    (aug, seed): (&Augment, u64),
    grid: usize,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let side = config.input_size;
    let plane = 3 * side * side;
    let mut data = vec![0.0f32; indices.len() * plane];
    let mut targets = vec![0.0f32; indices.len() * grid * grid];
    data.par_chunks_mut(plane)
        .zip(targets.par_chunks_mut(grid * grid))
        .zip(indices)
        .enumerate()
        .try_for_each(|(slot, ((out, target), &i))| {
            let mask = masks
                .mask(i)
                .ok_or_else(|| anyhow!("no lesion mask was loaded for photo {i}"))?;
            let (view, mask) = aug.apply_with_mask(
                &cache.rgb(i),
                Some(&mask),
                side as u32,
                &mut view_rng(seed, slot),
            );
            preprocess::normalize_into(&view, out);
            target.copy_from_slice(&cell_shares(&mask.expect("a mask was given"), grid));
            Ok::<_, anyhow::Error>(())
        })?;
    Ok((data, targets))
}

/// [`inputs`] as a `[indices.len(), 3, side, side]` tensor.
pub fn tensor(inputs: Vec<f32>, side: usize, device: &Device) -> Tensor<4> {
    let batch = inputs.len() / (3 * side * side);
    Tensor::from_data(TensorData::new(inputs, [batch, 3, side, side]), device)
}

/// Class labels as an int tensor.
pub fn labels(labels: &[usize], device: &Device) -> Tensor<1, Int> {
    let data: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    Tensor::from_data(TensorData::new(data, [labels.len()]), device)
}
