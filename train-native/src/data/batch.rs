//! Turning cached images into network inputs.

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use skin_lesion::{PreprocessConfig, preprocess};

use super::augment::Augment;
use super::cache::ImageCache;

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
                    let mut rng = ChaCha8Rng::seed_from_u64(
                        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                            .wrapping_add(slot as u64),
                    );
                    preprocess::normalize_into(&aug.apply(&square, side as u32, &mut rng), out);
                }
                None => preprocess::from_square(square, config, out),
            }
        });
    data
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
