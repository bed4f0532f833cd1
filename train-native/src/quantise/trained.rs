//! 4-bit steps in the training loop (`four_bit` in the recipe): quantisation-aware training
//! (Jacob et al., CVPR 2018) with straight-through gradients (Bengio et al. 2013).
//!
//! Rounding a trained network's layers to 4-bit steps afterwards moved too many answers
//! (docs/experiments.md, "4-bit steps in the 8-bit file"). Here every forward pass of training
//! and of each epoch's validation sees the rounded layers at their nearest 4-bit steps, while
//! the optimiser keeps and moves the float weights: each step differentiates through a copy
//! whose rounded weights are new leaves of the autodiff graph under the float weights' ids,
//! so the gradient with respect to the steps falls on the float weights unchanged. The export
//! rounds the same way ([`FOUR_BIT_PLAN`]: nearest step, not GPTQ), so the shipped network
//! is the one validation scored.

use anyhow::Result;
use burn::module::{ModuleMapper, Param};
use burn::prelude::*;
use skin_lesion::{Network, PreprocessConfig};

use super::{FourBit, Grid, LARGEST_4BIT, Plan, Rounding, SHIPPED_PLAN, layer_at};

/// How a recipe with `four_bit` stores its rounded layers: the shipped plan's layers and
/// runs, every one at 4-bit steps, each weight at its nearest step.
pub const FOUR_BIT_PLAN: Plan = Plan {
    rounding: Rounding::Nearest,
    four_bit: FourBit::All,
    ..SHIPPED_PLAN
};

/// The layers a network trains at 4-bit steps, by path.
#[derive(Debug, Clone)]
pub struct FourBitLayers {
    names: Vec<String>,
}

impl FourBitLayers {
    /// The layers [`FOUR_BIT_PLAN`] rounds in `network` (an inference copy will do).
    pub fn of(network: &Network, preprocess: &PreprocessConfig) -> Result<Self> {
        let names = super::rounded_layers(network, preprocess, FOUR_BIT_PLAN.keep_blocks)?;
        Ok(Self { names })
    }

    /// How many layers round.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no layer rounds.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// `network` with these layers' weights at their nearest 4-bit steps. Where a weight
    /// takes gradients, its rounded copy is a new leaf under the same id (straight-through):
    /// the gradients a step takes through the copy are applied to `network`'s float weights.
    pub fn rounded(&self, network: Network) -> Network {
        network.map(&mut Steps {
            path: Vec::new(),
            names: &self.names,
        })
    }
}

/// Rounds the weights of the layers `names` names.
struct Steps<'a> {
    path: Vec<String>,
    names: &'a [String],
}

impl ModuleMapper for Steps<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if layer_at(&self.path, self.names.iter()).is_none() {
            return param;
        }
        param.map(|tensor| {
            let dims = tensor.shape().dims::<D>();
            let Some(block) = skin_lesion::weights::q8_block(&dims, FOUR_BIT_PLAN.max_run) else {
                return tensor;
            };
            let grid = Grid {
                run: usize::from(block[1]),
                largest: LARGEST_4BIT,
            };
            let trained = tensor.is_require_grad();
            // Detached again: only a leaf of the graph can take gradients of its own.
            let steps = nearest_steps(tensor.detach(), grid).detach();
            if trained { steps.require_grad() } else { steps }
        })
    }
}

/// A 1x1 convolution's weight (`[out, in, 1, 1]`) at its nearest steps of `grid`, one scale
/// per output channel and run of `grid.run` inputs (the run's largest magnitude over the
/// largest step): [`super::round_nearest`]'s values, as tensor operations that run on the
/// training device.
pub fn nearest_steps<const D: usize>(weight: Tensor<D>, grid: Grid) -> Tensor<D> {
    let dims = weight.shape().dims::<D>();
    let (outputs, inputs) = (dims[0], dims[1..].iter().product::<usize>());
    let runs = weight.reshape([outputs, inputs / grid.run, grid.run]);
    let largest = f32::from(grid.largest);
    // A run of zeros keeps a tiny scale, so that it divides to zeros rather than NaN.
    let scale = runs
        .clone()
        .abs()
        .max_dim(2)
        .div_scalar(largest)
        .clamp_min(f32::MIN_POSITIVE);
    let steps = runs.div(scale.clone()).round().clamp(-largest, largest);
    steps.mul(scale).reshape(dims)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::quantise::round_nearest;

    #[test]
    fn the_steps_in_the_loop_are_the_exports_steps() {
        // 24 outputs of 192 inputs (runs of 64), a few large weights, and one run all zeros.
        let (rows, cols, run) = (24, 192, 64);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut weights: Vec<f32> = (0..rows * cols)
            .map(|_| {
                rng.random_range(-0.1f32..0.1) * if rng.random_bool(0.02) { 15.0 } else { 1.0 }
            })
            .collect();
        weights[cols..cols + run].fill(0.0);
        let grid = Grid {
            run,
            largest: LARGEST_4BIT,
        };
        let device = Device::flex();
        let tensor =
            Tensor::<1>::from_floats(weights.as_slice(), &device).reshape([rows, cols, 1, 1]);
        let in_loop: Vec<f32> = nearest_steps(tensor, grid)
            .into_data()
            .try_to_vec()
            .unwrap();
        let exported = round_nearest(&weights, grid);
        // The same steps (a value halfway between two steps may round either way: none here),
        // read with the scale the file stores, the f16 nearest of the loop's f32 one: at most
        // 7 steps of 2^-11 of it apart.
        let limit = |scale: f32| 7.0 * scale.max(1e-30) / 2048.0;
        let mut ties = 0;
        for (i, (a, b)) in in_loop.iter().zip(exported.values()).enumerate() {
            let scale = exported.scales[i / run];
            assert!((a - b).abs() <= limit(scale), "weight {i}: {a} vs {b}");
            ties += usize::from(((weights[i] / scale).fract().abs() - 0.5).abs() < 1e-6);
        }
        assert_eq!(ties, 0);
        // The export rounds the best epoch as loaded, already on its steps: by the plan it
        // uses, every layer at 4 bits and to the nearest step, which moves none of them.
        assert_eq!(FOUR_BIT_PLAN.grid("blocks.9.project_conv", run), grid);
        assert_eq!(FOUR_BIT_PLAN.rounding, Rounding::Nearest);
        let again = round_nearest(&in_loop, grid);
        for (i, (a, b)) in in_loop.iter().zip(again.values()).enumerate() {
            let scale = exported.scales[i / run];
            assert!((a - b).abs() <= limit(scale), "weight {i}: {a} vs {b}");
        }
        assert_eq!(again.steps, exported.steps);
        // At most 15 values a run, the run's largest magnitude on the grid's edge, zeros kept.
        for (r, values) in in_loop.chunks(run).enumerate() {
            let mut distinct: Vec<i32> = values
                .iter()
                .map(|v| (v / exported.scales[r].max(f32::MIN_POSITIVE)).round() as i32)
                .collect();
            distinct.sort_unstable();
            distinct.dedup();
            assert!(distinct.len() <= 15 && distinct.iter().all(|s| s.abs() <= 7));
            if r == 3 {
                assert!(values.iter().all(|&v| v == 0.0));
            } else {
                assert!(distinct.contains(&7) || distinct.contains(&-7));
            }
        }
    }
}
