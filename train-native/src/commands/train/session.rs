//! A training run between its first and last epoch: the initial state (fresh, resumed or
//! started from earlier weights), and one epoch at a time, each ending in a checkpoint.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Bytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skin_lesion::report::EpochRecord;
use skin_lesion::{Classifier, Network, TrainingConfig, weights};

use super::average;
use super::progress::Progress;
use super::schedule::learning_rate;
use super::step::{self, Batch, Objective, Step};
use crate::backend::Selected;
use crate::checkpoint::{self, Checkpoint, Saved, State};
use crate::data::Prepared;
use crate::data::augment::Augment;
use crate::data::batch;
use crate::pretrained;
use crate::quantise::trained::FourBitLayers;
use crate::sampler::Sampler;
use crate::score::{self, Images};

/// The model, optimizer and state of a run in progress.
pub struct Session<'a> {
    config: &'a TrainingConfig,
    data: &'a Prepared,
    run_dir: PathBuf,
    device: Device,
    model: Network,
    optim: ModuleOptimizer,
    state: State,
    sampler: Sampler,
    /// The mean of the weights of the epochs averaged so far (`average_epochs`), once there
    /// are any.
    average: Option<Network>,
    /// The layers that train and validate at their 4-bit steps (`four_bit` recipes).
    four_bit: Option<FourBitLayers>,
}

/// What one epoch's steps add up to.
struct Steps {
    loss_sum: f64,
    correct: usize,
    seen: usize,
    lr: f64,
}

impl<'a> Session<'a> {
    /// A new run, or the one saved in `run_dir` when `resume` is set.
    pub fn start(
        config: &'a TrainingConfig,
        data: &'a Prepared,
        selected: &Selected,
        run_dir: &Path,
        resume: bool,
    ) -> Result<Self> {
        let fingerprint = data.dataset.fingerprint();
        let saved = if resume {
            checkpoint::load(run_dir, config, &fingerprint)?
        } else {
            None
        };
        if !resume && run_dir.join(checkpoint::STATE_FILE).exists() {
            bail!(
                "{} holds an earlier run: pass --resume to continue it, or --run-dir to start another (or delete the folder)",
                run_dir.display()
            );
        }
        let device = selected.device.clone().autodiff();
        device.seed(config.split.seed);
        let fresh = config.model().init(&device);
        let optim = AdamWConfig::new()
            .with_weight_decay(config.weight_decay)
            .init();
        let (model, optim, state, average) = match saved {
            Some(saved) => {
                eprintln!(
                    "resuming {} after epoch {}/{}",
                    run_dir.display(),
                    saved.state.epoch,
                    config.epochs
                );
                resumed(config, saved, fresh, optim, &device)?
            }
            None => {
                if resume {
                    eprintln!("no checkpoint in {}: starting a new run", run_dir.display());
                }
                let state = fresh_state(config, selected, fingerprint);
                let (model, state) = super::init::start(config, fresh, state, &device)?;
                (model, optim, state, None)
            }
        };
        let model = pretrained::frozen(model, config);
        // A resumed run's files carry its mask head; a new one (or one resumed before its
        // first epoch) gets a fresh one.
        let model = if config.mask_weight() > 0.0 && !model.has_mask_head() {
            model
                .with_mask_head(config.mask_cells(), &device)
                .map_err(|e| anyhow!(e))?
        } else {
            model
        };
        eprintln!(
            "model: {} with {} parameters",
            config.model().architecture_name(),
            model.num_params()
        );
        let four_bit = config
            .trains_four_bit()
            .then(|| FourBitLayers::of(&model.valid(), &config.preprocess))
            .transpose()?;
        if let Some(layers) = &four_bit {
            eprintln!(
                "4-bit steps in the loop: {} 1x1 convolutions train and validate at them",
                layers.len()
            );
        }
        let train = &data.split.train;
        let sampler = Sampler::new(
            train.iter().map(|&i| (i, data.dataset.records[i].label)),
            data.dataset.classes.len(),
            config.sampling_power,
        );
        Ok(Self {
            config,
            data,
            run_dir: run_dir.to_path_buf(),
            device,
            model,
            optim,
            state,
            sampler,
            average,
            four_bit,
        })
    }

    /// Where the run stands.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Train epoch `epoch`, validate, and checkpoint.
    pub fn epoch(&mut self, epoch: usize, progress: &Progress) -> Result<()> {
        let started = Instant::now();
        // Every source of randomness is seeded from the epoch, so that a resumed run repeats
        // exactly what an uninterrupted one does (dropout draws from the device's generator).
        let seed = self.config.split.seed ^ (epoch as u64).wrapping_mul(0x5851_F42D_4C95_7F2D);
        self.device.seed(seed);
        let steps = self.steps(epoch, seed, progress)?;
        // The float weights are checkpointed; validation scores what the export will ship.
        let valid = self.model.valid();
        let val = self.validate(self.as_shipped(valid.clone().without_mask_head()))?;
        if self.averages(epoch) {
            self.state.averaged += 1;
            let mean = average::include(self.average.take(), &valid, self.state.averaged);
            self.average = Some(mean);
        }
        let seconds = started.elapsed().as_secs_f64();
        let record = EpochRecord {
            epoch,
            train_loss: steps.loss_sum / steps.seen as f64,
            train_accuracy: steps.correct as f64 / steps.seen as f64,
            val_loss: val.loss,
            val_accuracy: val.metrics.accuracy,
            val_balanced_accuracy: val.metrics.balanced_accuracy,
            val_macro_f1: val.metrics.macro_f1,
            learning_rate: steps.lr,
            seconds,
        };
        let improved = record.val_balanced_accuracy > self.state.best_score;
        progress.log(format!(
            "epoch {epoch:>3}: train loss {:.4} acc {:.3} | val loss {:.4} acc {:.3} bal-acc {:.3} macro-F1 {:.3} | {seconds:.0}s{}",
            record.train_loss,
            record.train_accuracy,
            record.val_loss,
            record.val_accuracy,
            record.val_balanced_accuracy,
            record.val_macro_f1,
            if improved { "  *best*" } else { "" }
        ));
        self.commit(record, improved, valid)?;
        if epoch == self.config.epochs
            && let Some(mean) = &self.average
        {
            let val = self.validate(mean.clone())?;
            let (first, last) = self.state.averaged_epochs().expect("averaged");
            progress.log(format!(
                "mean of epochs {first}-{last}: val loss {:.4} acc {:.3} bal-acc {:.3} macro-F1 {:.3} (the weights the run ships)",
                val.loss,
                val.metrics.accuracy,
                val.metrics.balanced_accuracy,
                val.metrics.macro_f1
            ));
        }
        progress.epochs.set_message(format!(
            "best bal-acc {:.3} (epoch {})",
            self.state.best_score, self.state.best_epoch
        ));
        progress.epochs.inc(1);
        Ok(())
    }

    /// `network` scored on the validation photos at one view: selection stays cheap; the
    /// shipped model's views come in `finish`.
    fn validate(&self, network: Network) -> Result<score::ScoredAnswers> {
        let config = self
            .config
            .model()
            .map_preprocess(|p| p.with_test_time_views(1));
        let classifier = Classifier::new(network, config, self.device.clone().inner());
        score::score(
            &classifier,
            &Images::new(&self.data.dataset, &self.data.cache, &self.data.split.val),
        )
    }

    /// `network` as validation should score it: for a `four_bit` recipe, its rounded layers
    /// at the 4-bit steps the export stores; else as it is (8-bit steps, which move answers
    /// far less, are rounded against photos only at the export).
    fn as_shipped(&self, network: Network) -> Network {
        match &self.four_bit {
            Some(layers) => layers.rounded(network),
            None => network,
        }
    }

    /// Whether epoch `epoch` is one of the last ones whose weights the run averages.
    fn averages(&self, epoch: usize) -> bool {
        self.config
            .average_epochs
            .is_some_and(|n| epoch + n > self.config.epochs)
    }

    /// The epoch's optimiser steps over a class-balanced draw of training images.
    fn steps(&mut self, epoch: usize, seed: u64, progress: &Progress) -> Result<Steps> {
        let config = self.config;
        let started = Instant::now();
        let draw = self
            .sampler
            .epoch(config.epoch_size, &mut ChaCha8Rng::seed_from_u64(seed));
        let smoothing = (config.label_smoothing > 0.0).then_some(config.label_smoothing);
        let loss_fn = CrossEntropyLossConfig::new()
            .with_weights(Some(draw.class_weights.clone()))
            .with_smoothing(smoothing)
            .init(&self.device);
        let augment = Augment {
            config: config.augment.clone(),
            constancy: config.preprocess.colour_constancy,
        };
        let steps_per_epoch = config.steps_per_epoch();
        let side = config.preprocess.input_size;
        let mut total = Steps {
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            lr: config.lr,
        };
        // The optimizer updates parameters in place when nothing else holds them.
        let mut model = self.model.clone();
        progress.batches.reset();
        for (step, indices) in draw.order.chunks(config.batch_size).enumerate() {
            total.lr = learning_rate(
                config,
                (epoch - 1) * steps_per_epoch + step,
                steps_per_epoch,
            );
            let batch_seed = config
                .split
                .seed
                .wrapping_add(((epoch * 1_000_003 + step) as u64) << 8);
            let (inputs, masks) = self.inputs(indices, (&augment, batch_seed))?;
            let labels = self.data.dataset.labels(indices);
            let objective = Objective {
                model: &model,
                loss_fn: &loss_fn,
                class_weights: &draw.class_weights,
                device: &self.device,
                four_bit: self.four_bit.as_ref(),
                mask_weight: config.mask_weight() as f32,
            };
            let batch = Batch {
                inputs,
                labels: &labels,
                size: [side, side],
                masks,
            };
            let Step { grads, loss, hits } = step::gradients(&objective, batch, config.parts())?;
            model = self.optim.step(total.lr, model, grads);
            if !loss.is_finite() {
                bail!("the loss became {loss} at epoch {epoch}, step {step}: lower --lr");
            }
            total.loss_sum += f64::from(loss) * indices.len() as f64;
            total.correct += hits;
            total.seen += indices.len();
            let rate = total.seen as f64 / started.elapsed().as_secs_f64();
            let (mean, accuracy) = (
                total.loss_sum / total.seen as f64,
                total.correct as f64 / total.seen as f64,
            );
            progress.batches.set_message(format!(
                "loss {mean:.4} acc {accuracy:.3} lr {:.2e} {rate:.0} img/s",
                total.lr
            ));
            progress.batches.inc(1);
        }
        self.model = model;
        Ok(total)
    }

    /// The augmented views of a batch's photos and, for a recipe with a mask loss, their
    /// masks' shares of each cell of the head's activations.
    fn inputs(&self, indices: &[usize], augment: (&Augment, u64)) -> Result<InputsAndMasks> {
        let (cache, preprocess) = (&self.data.cache, &self.config.preprocess);
        match &self.data.masks {
            Some(masks) => {
                let grid = self.config.mask_cells().grid(preprocess.input_size);
                let (inputs, targets) =
                    batch::inputs_and_masks(cache, masks, indices, preprocess, augment, grid)?;
                Ok((inputs, Some(targets)))
            }
            None => Ok((
                batch::inputs(cache, indices, preprocess, Some(augment)),
                None,
            )),
        }
    }

    /// Record the epoch and checkpoint it (with its weights as the new best if `improved`).
    fn commit(&mut self, record: EpochRecord, improved: bool, valid: Network) -> Result<()> {
        let previous_best = self.state.best_epoch;
        let best = if improved {
            self.state.best_epoch = record.epoch;
            self.state.best_score = record.val_balanced_accuracy;
            Some(weights::to_bytes(valid.clone())?)
        } else {
            None
        };
        self.state.epoch = record.epoch;
        self.state.seconds += record.seconds;
        self.state.history.push(record);
        let optim = self
            .optim
            .into_bytes()
            .map_err(|e| anyhow!("cannot serialise the optimizer: {e}"))?;
        let model = weights::to_bytes(valid)?;
        let average = self.average.clone().map(weights::to_bytes).transpose()?;
        let files = Checkpoint {
            model: &model,
            optim: &optim,
            best: best.as_deref(),
            average: average.as_deref(),
        };
        checkpoint::save(&self.run_dir, &self.state, previous_best, files)
    }
}

/// A batch's network inputs, and its mask targets if the recipe has a mask loss.
type InputsAndMasks = (Vec<f32>, Option<Vec<f32>>);

/// The state of a run that has not trained yet.
fn fresh_state(config: &TrainingConfig, selected: &Selected, data_fingerprint: String) -> State {
    State::fresh(
        config,
        data_fingerprint,
        &selected.backend,
        &selected.hardware,
    )
}

/// The model, optimizer and state of a saved run, and the mean of its averaged epochs.
fn resumed(
    config: &TrainingConfig,
    saved: Saved,
    fresh: Network,
    optim: ModuleOptimizer,
    device: &Device,
) -> Result<(Network, ModuleOptimizer, State, Option<Network>)> {
    let mut state = saved.state;
    // A re-export with another view count or storage is the one change --resume allows.
    state.config = config.with_export_settings_of(&state.config);
    if state.epoch == 0 {
        return Ok((fresh, optim, state, None));
    }
    let model = checkpoint::training_network(config, &saved.model, device)
        .context("cannot load the checkpoint's weights")?;
    let optim = optim
        .from_bytes(Bytes::from_bytes_vec(saved.optim))
        .map_err(|e| anyhow!("cannot load the optimizer state: {e}"))?;
    let average = saved
        .average
        .map(|bytes| checkpoint::training_network(config, &bytes, &device.clone().inner()))
        .transpose()
        .context("cannot load the checkpoint's averaged weights")?;
    Ok((model, optim, state, average))
}
