//! 8-bit weights rounded against the data (GPTQ: Frantar et al., ICLR 2023), for
//! `--storage q8`.
//!
//! Why not plain rounding: rounding each weight of a 1x1 convolution to its nearest 8-bit step
//! changed one in ten answers' probabilities by more than f16 does (docs/experiments.md,
//! "Storage, per block"), most of it from the projections. GPTQ rounds one input channel at a
//! time and moves the error of each rounding onto the weights of the channels not yet rounded,
//! weighted by how those channels' inputs co-vary on real photos (`XᵀX` of the layer's inputs),
//! so that the layer's *outputs* on such photos change as little as 8 bits allow. The steps
//! (one scale per output channel and run of input channels, [`skin_lesion::weights::q8_block`])
//! are those plain rounding uses; only which step each weight takes differs. A [`Plan`] may
//! also keep some layers' steps within ±7 (4-bit values in the same 8-bit file, for
//! `examples/q8_drift`): measured, and not shipped (docs/experiments.md, "4-bit steps in the
//! 8-bit file"). [`trained`] trains a network at its 4-bit steps instead (`--four-bit`), and
//! its export rounds by [`trained::FOUR_BIT_PLAN`].

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use burn::prelude::*;
use burn::tensor::quantization::QuantizationParameters;
use skin_lesion::weights::{Storage, f16_scale};
use skin_lesion::{Network, PreprocessConfig, TrainingConfig};

use crate::data::cache::ImageCache;
use crate::data::{Prepared, batch};
use crate::linalg::{cholesky, inverse_cholesky};

/// Photos of the training split whose activations the rounding is fitted to.
pub const CALIBRATION_PHOTOS: usize = 256;

/// Photos per forward pass while collecting activations.
const BATCH: usize = 16;

/// Added to the diagonal of `XᵀX`, as a share of its mean, so that the inverse exists
/// (GPTQ's own default).
const DAMPING: f64 = 0.01;

/// `XᵀX` of one layer's inputs (`width` x `width`, row-major), with their sum and count.
pub struct Gram {
    pub width: usize,
    pub sums: Vec<f64>,
    pub totals: Vec<f64>,
    pub count: usize,
}

impl Gram {
    /// How far rounding moves each output channel, against how much it varies: the mean
    /// square of `(W - Ŵ) x` over the inputs seen, over the variance of `W x`, per row of
    /// `weights` (`rows` x `width`). The batch norm after the layer divides by that
    /// variance's root, so this is the rounding's noise as the next layer sees it.
    pub fn noise_to_signal(&self, weights: &[f32], rounded: &[f32]) -> Vec<f64> {
        let n = self.width;
        let count = self.count.max(1) as f64;
        let mean: Vec<f64> = self.totals.iter().map(|t| t / count).collect();
        let quad = |v: &[f64], centred: bool| -> f64 {
            let mut s = 0.0;
            for i in 0..n {
                for j in 0..n {
                    let mut m = self.sums[i * n + j] / count;
                    if centred {
                        m -= mean[i] * mean[j];
                    }
                    s += v[i] * m * v[j];
                }
            }
            s
        };
        weights
            .chunks(n)
            .zip(rounded.chunks(n))
            .map(|(w, r)| {
                let w: Vec<f64> = w.iter().map(|&x| f64::from(x)).collect();
                let d: Vec<f64> = w.iter().zip(r).map(|(a, &b)| a - f64::from(b)).collect();
                quad(&d, false) / quad(&w, true).max(1e-30)
            })
            .collect()
    }
}

/// Every 1x1 convolution's `XᵀX` over `indices` of `cache`, centrally cropped as the model
/// sees a photo, by the convolution's path. Errors for a network without 8-bit storage.
pub fn grams(
    network: &Network,
    preprocess: &PreprocessConfig,
    cache: &ImageCache,
    indices: &[usize],
) -> Result<BTreeMap<String, Gram>> {
    grams_of(network, preprocess, cache, indices, None)
}

/// The paths of `network`'s 1x1 convolutions in the order it runs them.
pub fn layer_order(network: &Network, preprocess: &PreprocessConfig) -> Result<Vec<String>> {
    let side = preprocess.input_size;
    let images = Tensor::<4>::zeros([1, 3, side, side], &Device::flex());
    let Some(seen) = network.pointwise_inputs(images) else {
        bail!("this architecture has no 8-bit storage");
    };
    Ok(seen.into_iter().map(|(name, _)| name).collect())
}

/// The paths of the 1x1 convolutions a plan keeping `keep_blocks` blocks f16 rounds, in the
/// order `network` runs them.
pub fn rounded_layers(
    network: &Network,
    preprocess: &PreprocessConfig,
    keep_blocks: usize,
) -> Result<Vec<String>> {
    Ok(layer_order(network, preprocess)?
        .into_iter()
        .filter(|name| block_of(name).is_none_or(|b| b >= keep_blocks))
        .collect())
}

/// [`grams`] of the layer `only` names, or of every layer.
fn grams_of(
    network: &Network,
    preprocess: &PreprocessConfig,
    cache: &ImageCache,
    indices: &[usize],
    only: Option<&str>,
) -> Result<BTreeMap<String, Gram>> {
    let device = Device::flex();
    let side = preprocess.input_size;
    let mut grams: BTreeMap<String, Gram> = BTreeMap::new();
    for chunk in indices.chunks(BATCH) {
        let data = batch::inputs(cache, chunk, preprocess, None);
        let images = Tensor::<1>::from_floats(data.as_slice(), &device).reshape([
            chunk.len(),
            3,
            side,
            side,
        ]);
        let Some(seen) = network.pointwise_inputs(images) else {
            bail!("this architecture has no 8-bit storage");
        };
        for (name, x) in seen {
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let [b, c, h, w] = x.dims();
            let rows = x.permute([0, 2, 3, 1]).reshape([b * h * w, c]);
            let totals: Vec<f32> = rows
                .clone()
                .sum_dim(0)
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32 tensor");
            let product = rows.clone().transpose().matmul(rows);
            let values: Vec<f32> = product.into_data().try_to_vec::<f32>().expect("f32 tensor");
            let gram = grams.entry(name).or_insert_with(|| Gram {
                width: c,
                sums: vec![0.0; c * c],
                totals: vec![0.0; c],
                count: 0,
            });
            gram.count += b * h * w;
            for (sum, v) in gram.sums.iter_mut().zip(values) {
                *sum += f64::from(v);
            }
            for (total, v) in gram.totals.iter_mut().zip(totals) {
                *total += f64::from(v);
            }
        }
    }
    Ok(grams)
}

/// Where a layer's weights may land: one scale per output channel and run of `run` input
/// channels, and steps from `-largest` to `largest` of it (127: 8 bits; 7: 4-bit values,
/// still stored one per byte in burn's 8-bit format, which gzip then codes in fewer bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub run: usize,
    pub largest: i8,
}

/// The largest step of 8-bit values.
pub const LARGEST_8BIT: i8 = 127;
/// The largest step of 4-bit values.
pub const LARGEST_4BIT: i8 = 7;

/// A layer's weights rounded to its [`Grid`]: `steps[i] * scales[block of i]` is weight `i`.
pub struct Rounded {
    pub steps: Vec<i8>,
    /// One per output channel and run of `run` input channels, in the weight's order.
    pub scales: Vec<f32>,
    pub run: usize,
}

impl Rounded {
    /// The layer's weight of shape `dims` (`[out, in, 1, 1]`) as burn's 8-bit tensor with
    /// these steps and scales: what [`Storage::Q8`] writes. The values are whole steps of
    /// their block's scale, so quantising them with those scales gives back exactly the steps
    /// chosen, 4-bit ones included.
    pub fn stored<const D: usize>(&self, dims: [usize; D], device: &Device) -> Tensor<D> {
        let values = Tensor::<1>::from_floats(self.values().as_slice(), device).reshape(dims);
        let scales = Tensor::<1>::from_floats(self.scales.as_slice(), device);
        values.quantize(
            &skin_lesion::weights::q8_scheme(&[1, self.run as u8, 1, 1]),
            QuantizationParameters {
                scales,
                global: None,
            },
        )
    }

    /// The weights as the file will give them back.
    pub fn values(&self) -> Vec<f32> {
        let cols_per_scale = self.run;
        self.steps
            .iter()
            .enumerate()
            .map(|(i, &q)| f32::from(q) * self.scales[i / cols_per_scale])
            .collect()
    }
}

/// Plain rounding to the nearest step (what `to_q8_bytes` did before GPTQ): the baseline.
pub fn round_nearest(weights: &[f32], grid: Grid) -> Rounded {
    let scales = block_scales(weights, grid);
    let steps = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| step(w, scales[i / grid.run], grid.largest))
        .collect();
    Rounded {
        steps,
        scales: stored_scales(scales),
        run: grid.run,
    }
}

/// GPTQ over `weights` (`rows` output channels of `cols` inputs, row-major), onto `grid` with
/// its scales fixed from the weights as they are, against the inputs' `gram`.
pub fn gptq(weights: &[f32], (rows, cols): (usize, usize), grid: Grid, gram: &Gram) -> Rounded {
    assert_eq!(weights.len(), rows * cols, "weights are rows x cols");
    assert_eq!(gram.width, cols, "one Gram column per input");
    let run = grid.run;
    let scales = block_scales(weights, grid);
    let upper = inverse_factor(&gram.sums, cols);
    let mut w: Vec<f64> = weights.iter().map(|&v| f64::from(v)).collect();
    let mut steps = vec![0i8; rows * cols];
    for i in 0..cols {
        let pivot = upper[i * cols + i];
        for r in 0..rows {
            let scale = scales[(r * cols + i) / run];
            let value = w[r * cols + i];
            let q = step(value as f32, scale, grid.largest);
            steps[r * cols + i] = q;
            let error = (value - f64::from(q) * f64::from(scale)) / pivot;
            let row = &mut w[r * cols..(r + 1) * cols];
            for j in i + 1..cols {
                row[j] -= error * upper[i * cols + j];
            }
        }
    }
    Rounded {
        steps,
        scales: stored_scales(scales),
        run,
    }
}

/// `scales` as the file stores them, f16 ([`skin_lesion::weights::q8_scheme`]): each step
/// keeps its place and its value moves by at most 2^-11 of it. Choosing the steps against the
/// f16 scale instead would move a weight lying within that much of half a step by a whole
/// step: about 0.7% of a four-bit network's weights, away from the steps it trained at.
fn stored_scales(scales: Vec<f32>) -> Vec<f32> {
    scales.into_iter().map(f16_scale).collect()
}

/// One symmetric scale per run of `grid.run` consecutive weights: its largest magnitude over
/// the largest step (for 8 bits, as burn's Q8S computes it). Steps are chosen against these
/// f32 scales, as the four-bit training loop chooses them; [`Rounded`] keeps their f16
/// nearest, the scale the file stores ([`stored_scales`]).
fn block_scales(weights: &[f32], grid: Grid) -> Vec<f32> {
    let largest = f32::from(grid.largest);
    skin_lesion::weights::run_peaks(weights, grid.run)
        .map(|peak| peak / largest)
        .collect()
}

fn step(value: f32, scale: f32, largest: i8) -> i8 {
    if scale == 0.0 {
        return 0;
    }
    let largest = f32::from(largest);
    (value / scale).round().clamp(-largest, largest) as i8
}

/// The upper Cholesky factor `U` of `(G + λI)⁻¹` (`(G + λI)⁻¹ = UᵀU`), with `λ` [`DAMPING`]
/// of `G`'s mean diagonal, and a unit diagonal where a channel never fired: GPTQ's weights for
/// spreading each rounding error over the channels after it.
fn inverse_factor(gram: &[f64], n: usize) -> Vec<f64> {
    let mean = (0..n).map(|i| gram[i * n + i]).sum::<f64>() / n as f64;
    let damping = DAMPING * mean.max(f64::MIN_POSITIVE);
    let mut h = gram.to_vec();
    for i in 0..n {
        if h[i * n + i] <= 0.0 {
            h[i * n + i] = 1.0;
        }
        h[i * n + i] += damping;
    }
    // G = L Lᵀ, so G⁻¹ = L⁻ᵀ L⁻¹.
    let inverse_l = inverse_cholesky(&h, n);
    let mut inverse = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (i..n)
                .map(|k| inverse_l[k * n + i] * inverse_l[k * n + j])
                .sum();
            inverse[i * n + j] = s;
            inverse[j * n + i] = s;
        }
    }
    upper_cholesky(&inverse, n)
}

/// Upper-triangular `U` with `Uᵀ U = a`: the transpose of the lower factor.
fn upper_cholesky(a: &[f64], n: usize) -> Vec<f64> {
    let l = cholesky(a, n);
    let mut u = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            u[j * n + i] = l[i * n + j];
        }
    }
    u
}

/// How [`rounded`] rounds each layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// To the nearest step ([`round_nearest`]).
    Nearest,
    /// [`gptq`], against each layer's [`Gram`].
    Gptq,
}

/// The choices of an 8-bit rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub rounding: Rounding,
    /// The longest run of input channels that shares a scale ([`skin_lesion::weights::q8_block`]).
    pub max_run: usize,
    /// The first `keep_blocks` blocks' 1x1 convolutions stay f16.
    pub keep_blocks: usize,
    /// Each layer's `XᵀX` taken with the layers before it already rounded, so that it
    /// makes up for their error too (GPTQ's own order), instead of all from the f32 network.
    pub sequential: bool,
    /// Which rounded layers take 4-bit steps instead of 8-bit ones.
    pub four_bit: FourBit,
}

/// The layers of a [`Plan`] whose steps stay within ±7 ([`LARGEST_4BIT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FourBit {
    /// None: every rounded layer has 8-bit steps.
    None,
    /// Every rounded layer.
    All,
    /// The blocks' expansions and the head; the projections keep 8 bits.
    ExpansionsAndHead,
}

impl Plan {
    /// The grid of the layer at path `layer` (`blocks.N.expand_conv`, `conv_head`, ...).
    pub fn grid(&self, layer: &str, run: usize) -> Grid {
        let four = match self.four_bit {
            FourBit::None => false,
            FourBit::All => true,
            FourBit::ExpansionsAndHead => !layer.ends_with("project_conv"),
        };
        let largest = if four { LARGEST_4BIT } else { LARGEST_8BIT };
        Grid { run, largest }
    }
}

/// Each rounded layer's path and [`Gram::noise_to_signal`] per output channel.
pub type Noise = Vec<(String, Vec<f64>)>;

/// `network` with its 1x1 convolutions rounded to 8 bits as `plan` says, against the
/// activations of `photos` of `cache`: as 8-bit tensors when `stored` (what
/// [`Storage::Q8`] writes), else as the f32 values loading that file gives back.
pub fn rounded(
    mut network: Network,
    preprocess: &PreprocessConfig,
    (cache, photos): (&ImageCache, &[usize]),
    plan: Plan,
    stored: bool,
) -> Result<(Network, Noise)> {
    let order = rounded_layers(&network, preprocess, plan.keep_blocks)?;
    let mut done = Vec::new();
    if plan.sequential {
        for name in &order {
            // Taken on the layers rounded so far.
            let grams = grams_of(&network, preprocess, cache, photos, Some(name))?;
            let (net, d) = round_layers(network, std::slice::from_ref(name), Some(&grams), plan);
            network = net;
            done.extend(d);
        }
    } else {
        let grams = grams_of(&network, preprocess, cache, photos, None)?;
        let (net, d) = round_layers(network, &order, Some(&grams), plan);
        network = net;
        done = d;
    }
    let mut noise = Vec::with_capacity(done.len());
    let mut rounded = BTreeMap::new();
    for (name, r, n) in done {
        noise.push((name.clone(), n));
        rounded.insert(name, r);
    }
    if stored {
        network = store(network, &rounded);
    }
    Ok((network, noise))
}

/// `network` with its rounded layers as 8-bit tensors holding the steps `rounded` chose.
fn store(network: Network, rounded: &BTreeMap<String, Rounded>) -> Network {
    network.map(&mut Storer {
        path: Vec::new(),
        rounded,
    })
}

/// `network` rounded to the nearest steps of `plan` and stored at 8 bits, as [`rounded`]
/// would with a [`Rounding::Nearest`] plan, without the activations it reads for GPTQ and
/// for the noise figures: the end of a four-bit run spent 9 s on them.
fn stored_nearest(
    network: Network,
    preprocess: &PreprocessConfig,
    plan: Plan,
) -> Result<(Network, usize)> {
    let order = rounded_layers(&network, preprocess, plan.keep_blocks)?;
    let (network, done) = round_layers(network, &order, None, plan);
    let count = done.len();
    let rounded: BTreeMap<String, Rounded> =
        done.into_iter().map(|(name, r, _)| (name, r)).collect();
    Ok((store(network, &rounded), count))
}

/// The block index of a layer path `blocks.N....`.
fn block_of(name: &str) -> Option<usize> {
    name.strip_prefix("blocks.")?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// `network` with `layers` rounded by `plan`, each with its noise figures when `grams` holds
/// their `XᵀX` (GPTQ needs them; rounding to the nearest step does not).
fn round_layers(
    network: Network,
    layers: &[String],
    grams: Option<&BTreeMap<String, Gram>>,
    plan: Plan,
) -> (Network, Vec<(String, Rounded, Vec<f64>)>) {
    let mut mapper = Rounder {
        path: Vec::new(),
        layers,
        grams,
        plan,
        done: Vec::new(),
    };
    let network = network.map(&mut mapper);
    (network, mapper.done)
}

/// The shipped 8-bit rounding ([`for_storage`]), chosen by the rule in docs/experiments.md
/// ("8-bit weights rounded against the data"): GPTQ with a scale per run of at most 64 input
/// channels, the first 6 blocks' 1x1 convolutions (47k numbers) left f16.
pub const SHIPPED_PLAN: Plan = Plan {
    rounding: Rounding::Gptq,
    max_run: 64,
    keep_blocks: skin_lesion::weights::FIRST_ROUNDED_BLOCK,
    sequential: false,
    four_bit: FourBit::None,
};

/// How a recipe's 8-bit storage rounds: [`trained::FOUR_BIT_PLAN`] for a network trained at
/// 4-bit steps, else [`SHIPPED_PLAN`].
pub fn plan_for(training: &TrainingConfig) -> Plan {
    if training.trains_four_bit() {
        trained::FOUR_BIT_PLAN
    } else {
        SHIPPED_PLAN
    }
}

/// `model` ready for [`skin_lesion::weights::to_shipped_bytes`] with `storage`: for 8 bits,
/// its 1x1 convolutions rounded by `plan` (GPTQ against [`CALIBRATION_PHOTOS`] training
/// photos, every `n`-th of the training split, so the same ones each time; the nearest steps
/// of a four-bit plan without any photo), unless they already are 8-bit (a model loaded as
/// stored, re-exported by `recalibrate`).
pub fn for_storage(
    model: Network,
    preprocess: &PreprocessConfig,
    (storage, plan): (Storage, Plan),
    data: &Prepared,
) -> Result<Network> {
    if storage != Storage::Q8 || already_8bit(&model) {
        return Ok(model);
    }
    let started = std::time::Instant::now();
    let (model, count, how) = match plan.rounding {
        Rounding::Gptq => {
            let photos = calibration_photos(&data.split.train);
            let (model, noise) = rounded(model, preprocess, (&data.cache, &photos), plan, true)?;
            let how = format!("by GPTQ against {} training photos", photos.len());
            (model, noise.len(), how)
        }
        Rounding::Nearest => {
            let (model, count) = stored_nearest(model, preprocess, plan)?;
            (model, count, "to their nearest steps".to_string())
        }
    };
    let bits = match plan.four_bit {
        FourBit::None => "8-bit",
        FourBit::All => "4-bit",
        FourBit::ExpansionsAndHead => "4- and 8-bit",
    };
    eprintln!(
        "{bits} storage: {count} 1x1 convolutions rounded {how} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(model)
}

/// Every `n`-th of `train`, [`CALIBRATION_PHOTOS`] of them (or all if fewer).
pub fn calibration_photos(train: &[usize]) -> Vec<usize> {
    let stride = (train.len() / CALIBRATION_PHOTOS).max(1);
    train
        .iter()
        .step_by(stride)
        .take(CALIBRATION_PHOTOS)
        .copied()
        .collect()
}

/// Whether any 1x1 convolution of `model` is stored at 8 bits already.
fn already_8bit(model: &Network) -> bool {
    struct Find(bool);
    impl burn::module::ModuleMapper for Find {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            let tensor = param.val();
            if matches!(tensor.shape().dims::<D>()[..], [_, _, 1, 1])
                && matches!(tensor.dtype(), burn::tensor::DType::QFloat(_))
            {
                self.0 = true;
            }
            param
        }
    }
    let mut find = Find(false);
    let _ = model.clone().map(&mut find);
    find.0
}

/// The layer a parameter at `path` is the weight of, among `names`.
fn layer_at<'n>(path: &[String], mut names: impl Iterator<Item = &'n String>) -> Option<String> {
    let (last, layer) = path.split_last()?;
    if last != "weight" {
        return None;
    }
    let joined = layer.join(".");
    names
        .find(|name| joined == **name || joined.ends_with(&format!(".{name}")))
        .cloned()
}

/// Rounds the weights of `layers`, leaving them f32; with their noise figures when `grams`
/// holds their `XᵀX` (an empty list otherwise).
struct Rounder<'a> {
    path: Vec<String>,
    layers: &'a [String],
    grams: Option<&'a BTreeMap<String, Gram>>,
    plan: Plan,
    done: Vec<(String, Rounded, Vec<f64>)>,
}

impl burn::module::ModuleMapper for Rounder<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        let Some(layer) = layer_at(&self.path, self.layers.iter()) else {
            return param;
        };
        let (gram, plan) = (self.grams.map(|g| &g[&layer]), self.plan);
        let mut done = None;
        let param = param.map(|tensor| {
            let dims = tensor.shape().dims::<D>();
            let (Some(block), &[rows, cols, 1, 1]) = (
                skin_lesion::weights::q8_block(&dims, plan.max_run),
                &dims[..],
            ) else {
                return tensor;
            };
            let grid = plan.grid(&layer, usize::from(block[1]));
            let device = tensor.device();
            let weights: Vec<f32> = tensor.into_data().try_to_vec::<f32>().expect("f32 tensor");
            let r = match plan.rounding {
                Rounding::Nearest => round_nearest(&weights, grid),
                Rounding::Gptq => gptq(
                    &weights,
                    (rows, cols),
                    grid,
                    gram.expect("GPTQ rounds against the layer's XᵀX"),
                ),
            };
            let values = r.values();
            let noise = gram.map_or_else(Vec::new, |g| g.noise_to_signal(&weights, &values));
            done = Some((r, noise));
            Tensor::<1>::from_floats(values.as_slice(), &device).reshape(dims)
        });
        if let Some((r, noise)) = done {
            self.done.push((layer, r, noise));
        }
        param
    }
}

/// Stores the layers `rounded` names as 8-bit tensors with their own steps and scales.
struct Storer<'a> {
    path: Vec<String>,
    rounded: &'a BTreeMap<String, Rounded>,
}

impl burn::module::ModuleMapper for Storer<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        let Some(layer) = layer_at(&self.path, self.rounded.keys()) else {
            return param;
        };
        let r = &self.rounded[&layer];
        param.map(|tensor| r.stored(tensor.shape().dims::<D>(), &tensor.device()))
    }
}

pub mod trained;

#[cfg(test)]
mod tests;
