//! One optimiser step's gradients: the whole batch in one pass of the network, or the batch
//! cut into parts (`batch_parts`) that run side by side, each on a thread and a one-thread pool
//! of its own, their gradients then added in a fixed order. flex spreads the operations of one
//! pass over the cores poorly, so parts side by side train more images a second
//! (docs/throughput.md).

use anyhow::{Result, anyhow, bail};
use burn::module::{Module, ModuleMapper, Param};
use burn::nn::loss::CrossEntropyLoss;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use skin_lesion::Network;
use skin_lesion::model::lite0::NormStats;

use crate::data::batch;
use crate::quantise::trained::FourBitLayers;

/// A batch, prepared: the augmented inputs (`3 x height x width` each) laid end to end and
/// their classes.
pub struct Batch<'a> {
    pub inputs: Vec<f32>,
    pub labels: &'a [usize],
    pub size: [usize; 2],
    /// For a mask loss, each image's share of the lesion in each cell of the head's
    /// activations, laid end to end ([`crate::data::batch::inputs_and_masks`]).
    pub masks: Option<Vec<f32>>,
}

/// What one step computed: the gradients of the batch's loss, the loss itself and how many
/// of its images the network already classified right.
pub struct Step {
    pub grads: GradientsParams,
    pub loss: f32,
    pub hits: usize,
}

/// What the loss and the network need of a step.
pub struct Objective<'a> {
    pub model: &'a Network,
    pub loss_fn: &'a CrossEntropyLoss,
    /// The loss weight of each class (the loss is the weighted mean over the batch).
    pub class_weights: &'a [f32],
    pub device: &'a Device,
    /// The layers that train at their 4-bit steps (`four_bit` recipes).
    pub four_bit: Option<&'a FourBitLayers>,
    /// The weight of the mask loss beside the classification's (`mask_loss`).
    pub mask_weight: f32,
}

/// The gradients of the batch's loss, over `parts` parts side by side when `parts` > 1.
///
/// Each part's loss is its weighted mean scaled by its share of the batch's total weight, so
/// the parts' losses (and gradients) add up to the whole batch's weighted mean; only the
/// trained batch norms differ, normalising over each part. Their running statistics move once
/// per step, by the mean of the parts' statistics ([`Network::update_running_stats`]).
///
/// With [`Objective::four_bit`], every pass runs through a copy whose rounded layers are at
/// their 4-bit steps, under the float weights' ids: the gradients fall on the float weights.
pub fn gradients(objective: &Objective, batch: Batch, parts: usize) -> Result<Step> {
    let rounded = objective
        .four_bit
        .map(|layers| layers.rounded(objective.model.clone()));
    let model = rounded.as_ref().unwrap_or(objective.model);
    if parts <= 1 {
        return part(objective, model, batch, Shares::WHOLE, None);
    }
    let n = batch.labels.len();
    if n == 0 {
        bail!("an empty batch");
    }
    let per_part = n.div_ceil(parts);
    let input_len = batch.inputs.len() / n;
    let mask_len = batch.masks.as_ref().map_or(0, |m| m.len() / n);
    let weight = |labels: &[usize]| -> f64 {
        labels
            .iter()
            .map(|&y| f64::from(objective.class_weights[y]))
            .sum()
    };
    let total = weight(batch.labels);
    // Each part differentiates through its own copy of the parameters: parts that shared the
    // same tensors would share one autodiff graph, whose lock lets one backward pass run at a
    // time. The copies keep the parameters' ids, under which the gradients are added.
    let copies: Vec<Network> = (0..parts)
        .map(|_| model.clone().map(&mut OwnLeaves))
        .collect();
    // The dropout masks, drawn here in the parts' order: the same numbers every run.
    let cut: Vec<Part> = batch
        .labels
        .chunks(per_part)
        .zip(batch.inputs.chunks(per_part * input_len))
        .zip(&copies)
        .enumerate()
        .map(|(k, ((labels, inputs), model))| {
            let keep = objective
                .model
                .dropout_mask(labels.len(), objective.device)
                .map_err(|e| anyhow!(e))?;
            let shares = Shares {
                loss: (weight(labels) / total) as f32,
                photos: labels.len() as f32 / n as f32,
            };
            let masks = batch
                .masks
                .as_ref()
                .map(|m| &m[k * per_part * mask_len..][..labels.len() * mask_len]);
            Ok(Part {
                model,
                inputs,
                labels,
                masks,
                shares,
                keep,
            })
        })
        .collect::<Result<_>>()?;
    let results = side_by_side(objective, cut, batch.size)?;
    let mut accumulator = GradientsAccumulator::new();
    let (mut loss, mut hits, mut stats) = (0.0, 0, Vec::with_capacity(results.len()));
    for ((step, part_stats), model) in results.into_iter().zip(&copies) {
        accumulator.accumulate(model, step.grads);
        loss += step.loss;
        hits += step.hits;
        stats.push(part_stats);
    }
    objective
        .model
        .update_running_stats(&stats)
        .map_err(|e| anyhow!(e))?;
    Ok(Step {
        grads: accumulator.grads(),
        loss,
        hits,
    })
}

/// One part of a batch, ready to run.
struct Part<'a> {
    model: &'a Network,
    inputs: &'a [f32],
    labels: &'a [usize],
    masks: Option<&'a [f32]>,
    shares: Shares,
    /// Its dropout mask.
    keep: Tensor<2>,
}

/// A part's shares of its batch: of the classification loss's weight, which scales its
/// classification loss, and of the photos, which scales its mask loss (a plain mean).
#[derive(Clone, Copy)]
struct Shares {
    loss: f32,
    photos: f32,
}

impl Shares {
    const WHOLE: Self = Self {
        loss: 1.0,
        photos: 1.0,
    };
}

/// Forward and backward over each part, each on a thread of its own inside a one-thread pool
/// (so that its operations do not spread over the other parts' cores): the steps and gathered
/// batch statistics, in the parts' order.
fn side_by_side(
    objective: &Objective,
    parts: Vec<Part>,
    size: [usize; 2],
) -> Result<Vec<(Step, NormStats)>> {
    let pools = single_thread_pools(parts.len())?;
    std::thread::scope(|scope| {
        let running: Vec<_> = parts
            .into_iter()
            .zip(pools)
            .map(|(p, pool)| {
                scope.spawn(move || {
                    pool.install(|| {
                        let mut stats = NormStats::new();
                        let batch = Batch {
                            inputs: p.inputs.to_vec(),
                            labels: p.labels,
                            size,
                            masks: p.masks.map(<[f32]>::to_vec),
                        };
                        let gather = Some((p.keep, &mut stats));
                        let step = part(objective, p.model, batch, p.shares, gather)?;
                        Ok((step, stats))
                    })
                })
            })
            .collect();
        running
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow!("a part of the batch panicked"))?
            })
            .collect()
    })
}

/// The same parameters as new leaves of the autodiff graph (those that take gradients), under
/// the same ids.
struct OwnLeaves;

impl ModuleMapper for OwnLeaves {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| {
            if t.is_require_grad() {
                t.detach().require_grad()
            } else {
                t
            }
        })
    }
}

/// One pool of one thread per part, made once: each part's operations run on its own core,
/// as in a process of its own (flex's operations spread over the cores poorly, and two parts
/// each spreading over both would fight for them).
fn single_thread_pools(parts: usize) -> Result<&'static [rayon::ThreadPool]> {
    static POOLS: std::sync::Mutex<Vec<&'static [rayon::ThreadPool]>> =
        std::sync::Mutex::new(Vec::new());
    let mut made = POOLS
        .lock()
        .map_err(|_| anyhow!("the thread pools' lock is poisoned"))?;
    if let Some(pools) = made.iter().find(|p| p.len() == parts) {
        return Ok(pools);
    }
    let pools: Vec<rayon::ThreadPool> = (0..parts)
        .map(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build())
        .collect::<Result<_, _>>()?;
    let pools: &'static [rayon::ThreadPool] = Vec::leak(pools);
    made.push(pools);
    Ok(pools)
}

/// Forward and backward over some images, the classification loss scaled by its share of the
/// batch's weight and the mask loss (if any) by its share of the photos; with `gather`, its
/// dropout mask applied and the norms' batch statistics gathered, else the network as it is
/// (the norms updating as they go). The loss reported is the classification's alone, as in
/// every run before the mask loss.
fn part(
    objective: &Objective,
    model: &Network,
    batch: Batch,
    shares: Shares,
    gather: Option<(Tensor<2>, &mut NormStats)>,
) -> Result<Step> {
    let [height, width] = batch.size;
    let shape = [batch.labels.len(), 3, height, width];
    let x = Tensor::<4>::from_data(TensorData::new(batch.inputs, shape), objective.device);
    let y = batch::labels(batch.labels, objective.device);
    let (logits, mask_logits) = match gather {
        Some((keep, stats)) => model
            .forward_gathering(x, keep, stats)
            .map_err(|e| anyhow!(e))?,
        None => model.forward_with_mask(x),
    };
    let loss = objective.loss_fn.forward(logits.clone(), y.clone());
    let hits: i64 = logits
        .argmax(1)
        .squeeze_dim::<1>(1)
        .equal(y)
        .int()
        .sum()
        .into_scalar();
    let loss = loss.mul_scalar(shares.loss);
    let total = match (mask_logits, batch.masks) {
        (Some(logits), Some(targets)) => {
            let mask = mask_loss(logits, targets, objective.device)?;
            loss.clone() + mask.mul_scalar(objective.mask_weight * shares.photos)
        }
        (None, None) => loss.clone(),
        _ => bail!("a mask loss needs both the network's mask head and the photos' masks"),
    };
    let grads = GradientsParams::from_grads(total.backward(), model);
    Ok(Step {
        grads,
        loss: loss.into_scalar(),
        hits: hits as usize,
    })
}

/// The sigmoid cross-entropy of the mask head's `logits` (`[batch, 1, h, w]`) against each
/// cell's share of the lesion, the mean over cells and photos: `max(z, 0) - t z +
/// ln(1 + e^-|z|)`, which stays finite for any logit.
fn mask_loss(logits: Tensor<4>, targets: Vec<f32>, device: &Device) -> Result<Tensor<1>> {
    let dims = logits.dims();
    if targets.len() != dims.iter().product::<usize>() {
        bail!(
            "{} mask targets for the mask head's {dims:?} cells",
            targets.len()
        );
    }
    let t = Tensor::<4>::from_data(TensorData::new(targets, dims), device);
    let z = logits;
    let softplus_tail = z.clone().abs().neg().exp().add_scalar(1.0).log();
    Ok((z.clone().clamp_min(0.0) - z * t + softplus_tail).mean())
}

#[cfg(test)]
mod tests {
    use burn::nn::loss::CrossEntropyLossConfig;
    use skin_lesion::model::lite0::{Lite0Config, MaskCells};

    use super::*;

    /// The same small Lite0 every time, however other tests running at once draw from the
    /// random generator: made once, kept as bytes.
    fn fresh_network(dropout: f64) -> Network {
        use std::sync::OnceLock;
        static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
        let config = skin_lesion::ModelConfig::new(
            Lite0Config::new().with_dropout(dropout),
            skin_lesion::PreprocessConfig::new()
                .with_input_size(32)
                .with_resize_size(36),
        )
        .with_classes(skin_lesion::model::ham10000_classes()[..3].to_vec());
        let bytes = BYTES
            .get_or_init(|| skin_lesion::weights::to_bytes(config.init(&Device::flex())).unwrap());
        let device = Device::flex().autodiff();
        match skin_lesion::weights::from_bytes(&config, bytes, &device).unwrap() {
            // Blocks 0-13 frozen: blocks 14-15 and the head's norms train on the batch.
            Network::Lite0(net) => Network::Lite0(net.freeze_first(14)),
            other => other,
        }
    }

    /// A step on `inputs` in `parts` parts, with the network's logits on `inputs` after it
    /// (the running statistics the step moved, at inference).
    fn step_and_logits(
        inputs: &[f32],
        labels: &[usize],
        parts: usize,
        dropout: f64,
    ) -> (f32, usize, Vec<f32>) {
        let model = fresh_network(dropout);
        let device = Device::flex().autodiff();
        device.seed(3);
        let loss_fn = CrossEntropyLossConfig::new()
            .with_weights(Some(vec![1.0, 2.0, 0.5]))
            .init(&device);
        let objective = Objective {
            model: &model,
            loss_fn: &loss_fn,
            class_weights: &[1.0, 2.0, 0.5],
            device: &device,
            four_bit: None,
            mask_weight: 0.0,
        };
        let batch = Batch {
            inputs: inputs.to_vec(),
            labels,
            size: [32, 32],
            masks: None,
        };
        let step = gradients(&objective, batch, parts).unwrap();
        let x = Tensor::<4>::from_data(
            TensorData::new(inputs.to_vec(), [labels.len(), 3, 32, 32]),
            &Device::flex(),
        );
        let logits = model
            .valid()
            .outputs(x)
            .logits
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        (step.loss, step.hits, logits)
    }

    /// The conv_head weight of a Lite0 (a layer the 4-bit steps round): its id and values.
    fn head_weight(model: &Network) -> (burn::module::ParamId, Vec<f32>) {
        weight_of(model, "conv_head")
    }

    /// The weight of the layer `layer` of a Lite0: its id and values.
    fn weight_of(model: &Network, layer: &str) -> (burn::module::ParamId, Vec<f32>) {
        struct Find(
            Vec<String>,
            String,
            Option<(burn::module::ParamId, Vec<f32>)>,
        );
        impl burn::module::ModuleVisitor for Find {
            fn enter_module(&mut self, name: &str, _: &str) {
                self.0.push(name.to_string());
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.0.pop();
            }
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if self.0.ends_with(&[self.1.clone(), "weight".to_string()]) {
                    let values = param.val().into_data().try_to_vec::<f32>().unwrap();
                    self.2 = Some((param.id, values));
                }
            }
        }
        let mut find = Find(Vec::new(), layer.to_string(), None);
        model.visit(&mut find);
        find.2.unwrap_or_else(|| panic!("a {layer} weight"))
    }

    #[test]
    fn the_mask_loss_is_a_stable_sigmoid_cross_entropy() {
        let device = Device::flex();
        let zero = Tensor::<4>::zeros([2, 1, 2, 2], &device);
        let targets = vec![0.0, 1.0, 0.5, 0.25, 1.0, 0.0, 0.0, 1.0];
        let at_zero: f32 = mask_loss(zero, targets, &device).unwrap().into_scalar();
        assert!((at_zero - 2f32.ln()).abs() < 1e-6, "{at_zero}");
        // Confident and right: nearly nothing, and finite where e^z would overflow.
        let sure = Tensor::<4>::from_floats([[[[200.0, -200.0]]]], &device);
        let right: f32 = mask_loss(sure.clone(), vec![1.0, 0.0], &device)
            .unwrap()
            .into_scalar();
        assert!(right.is_finite() && right < 1e-6, "{right}");
        let wrong: f32 = mask_loss(sure, vec![0.0, 1.0], &device)
            .unwrap()
            .into_scalar();
        assert!((wrong - 200.0).abs() < 1e-3, "{wrong}");
        let short = mask_loss(Tensor::zeros([1, 1, 2, 2], &device), vec![0.0; 3], &device);
        assert!(short.is_err());
    }

    #[test]
    fn a_mask_loss_trains_the_mask_head_and_reports_the_class_loss_alone() {
        let device = Device::flex().autodiff();
        let model = fresh_network(0.0)
            .with_mask_head(MaskCells::Head, &device)
            .unwrap();
        let inputs: Vec<f32> = (0..4 * 3 * 32 * 32)
            .map(|i| ((i * 7919) % 211) as f32 / 100.0 - 1.0)
            .collect();
        let labels = [0, 1, 2, 0];
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        // One cell a photo at 32 pixels.
        let step = |model: &Network, masks: Option<Vec<f32>>, weight: f32, parts: usize| {
            let objective = Objective {
                model,
                loss_fn: &loss_fn,
                class_weights: &[1.0, 1.0, 1.0],
                device: &device,
                four_bit: None,
                mask_weight: weight,
            };
            let batch = Batch {
                inputs: inputs.clone(),
                labels: &labels,
                size: [32, 32],
                masks,
            };
            gradients(&objective, batch, parts)
        };
        let masks = Some(vec![1.0, 0.0, 0.5, 1.0]);
        let (mask_head, _) = weight_of(&model, "mask_head");
        let (conv_head, _) = head_weight(&model);
        for parts in [1, 2] {
            let on = step(&model, masks.clone(), 0.5, parts).unwrap();
            let off = step(&model, masks.clone(), 0.0, parts).unwrap();
            assert!((on.loss - off.loss).abs() < 1e-6, "the class loss alone");
            let grad = |s: &Step, id| s.grads.get::<4>(id).expect("a gradient");
            let head_grad: f32 = grad(&on, mask_head).abs().sum().into_scalar();
            assert!(head_grad > 0.0, "parts {parts}: the mask head learns");
            let moved: f32 = (grad(&on, conv_head) - grad(&off, conv_head))
                .abs()
                .sum()
                .into_scalar();
            assert!(
                moved > 0.0,
                "parts {parts}: the mask loss reaches the backbone"
            );
        }
        // Masks without a head, or a head without masks: refused, not silently ignored.
        assert!(step(&model, None, 0.5, 2).is_err());
        let plain = fresh_network(0.0);
        assert!(step(&plain, masks, 0.5, 1).is_err());
    }

    #[test]
    fn four_bit_steps_train_the_float_weights_straight_through() {
        let model = fresh_network(0.0);
        let device = Device::flex().autodiff();
        let preprocess = skin_lesion::PreprocessConfig::new()
            .with_input_size(32)
            .with_resize_size(36);
        let layers = FourBitLayers::of(&model.valid(), &preprocess).unwrap();
        // Blocks 6-15's expansions and projections, and the head convolution.
        assert_eq!(layers.len(), 2 * 10 + 1);
        let inputs: Vec<f32> = (0..4 * 3 * 32 * 32)
            .map(|i| ((i * 7919) % 211) as f32 / 100.0 - 1.0)
            .collect();
        let labels = [0, 1, 2, 0];
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let step = |model: &Network, four_bit: Option<&FourBitLayers>| {
            let objective = Objective {
                model,
                loss_fn: &loss_fn,
                class_weights: &[1.0, 1.0, 1.0],
                device: &device,
                four_bit,
                mask_weight: 0.0,
            };
            let batch = Batch {
                inputs: inputs.clone(),
                labels: &labels,
                size: [32, 32],
                masks: None,
            };
            gradients(&objective, batch, 2).unwrap()
        };
        let in_loop = step(&model, Some(&layers));
        // The forward pass saw the steps: the same loss as the network rounded beforehand,
        // not the float network's.
        let rounded = layers.rounded(model.clone());
        let (floats, steps) = (step(&model, None), step(&rounded, None));
        assert!(
            (in_loop.loss - steps.loss).abs() < 1e-6,
            "{} vs {}",
            in_loop.loss,
            steps.loss
        );
        assert!((in_loop.loss - floats.loss).abs() > 1e-6);
        // The gradient lands under the float weight's id, and moves the float weights off
        // their steps.
        let (id, before) = head_weight(&model);
        let grad = in_loop
            .grads
            .get::<4>(id)
            .expect("a gradient for conv_head");
        assert!(grad.abs().sum().into_scalar::<f32>() > 0.0);
        let mut optim = burn::optim::AdamWConfig::new().init();
        let moved = optim.step(1e-3, model, in_loop.grads);
        let (_, after) = head_weight(&moved);
        assert_ne!(before, after);
        let (_, after_steps) = head_weight(&layers.rounded(moved));
        assert_ne!(
            after, after_steps,
            "the float weights are kept, not their steps"
        );
    }

    #[test]
    fn two_equal_halves_step_as_the_whole_batch_does() {
        // Three photos, then the same three again: each half has the whole batch's mean and
        // variance, so cutting it in two changes nothing but the order of float sums.
        let half: Vec<f32> = (0..3 * 3 * 32 * 32)
            .map(|i| ((i * 7919) % 211) as f32 / 100.0 - 1.0)
            .collect();
        let inputs: Vec<f32> = half.iter().chain(&half).copied().collect();
        let labels = [0, 1, 2, 0, 1, 2];
        let (loss, hits, logits) = step_and_logits(&inputs, &labels, 1, 0.0);
        let (loss2, hits2, logits2) = step_and_logits(&inputs, &labels, 2, 0.0);
        assert!(
            (loss - loss2).abs() < 1e-5 * loss.abs().max(1.0),
            "{loss} vs {loss2}"
        );
        assert_eq!(hits, hits2);
        let largest = logits.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (a, b) in logits.iter().zip(&logits2) {
            assert!((a - b).abs() < 1e-4 * largest.max(1.0), "{a} vs {b}");
        }
        // (Without dropout: the whole batch and its parts would draw different masks.) And
        // parts side by side compute the same numbers every time. Without dropout here too:
        // its masks come from the device's one random generator, which the tests running
        // beside this one draw from at the same time.
        let again = || step_and_logits(&inputs, &labels, 2, 0.0);
        assert_eq!(again(), again());
    }
}
