//! The training loop: class-balanced epochs, AdamW with warm-up and cosine decay, per-epoch
//! validation, best-by-balanced-accuracy selection, atomic checkpoints, and at the end a test
//! evaluation and the export of the browser model.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Bytes;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skin_lesion::report::{Calibration, EpochRecord};
use skin_lesion::{LesionNet, NUM_CLASSES, weights};

use crate::backend;
use crate::calibrate;
use crate::checkpoint::{self, BEST_FILE, State};
use crate::cli::{Hyper, TrainArgs};
use crate::data::augment::Augment;
use crate::data::{Dataset, Split, batch};
use crate::evaluate::{self, Scored};
use crate::export;
use crate::paths;
use crate::sampler::Sampler;

/// Learning rate at `step` of `total`: linear warm-up from lr/10, then cosine decay to lr/100.
pub fn learning_rate(hyper: &Hyper, step: usize, steps_per_epoch: usize) -> f64 {
    let warmup = hyper.warmup_epochs * steps_per_epoch;
    let total = (hyper.epochs * steps_per_epoch).max(1);
    if step < warmup {
        return hyper.lr * (0.1 + 0.9 * step as f64 / warmup as f64);
    }
    let progress = (step - warmup) as f64 / (total - warmup).max(1) as f64;
    let floor = hyper.lr * 0.01;
    floor + (hyper.lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
}

/// What a run needs before its first step.
pub struct Prepared {
    pub dataset: Dataset,
    pub split: Split,
    pub cache: crate::data::cache::ImageCache,
}

/// Load the data set, split it and fill the image cache.
pub fn prepare(args: &TrainArgs) -> Result<Prepared> {
    let hyper = &args.hyper;
    let data_dir = args.paths.data.clone().unwrap_or_else(paths::default_data);
    let mut dataset = Dataset::load(&data_dir)?;
    if let Some(n) = hyper.limit {
        dataset.records.truncate(n);
    }
    let split = Split::new(&dataset.records, hyper.val_fraction, hyper.test_fraction, hyper.seed)?;
    if split.train.is_empty() || split.val.is_empty() || split.test.is_empty() {
        bail!(
            "the split left a part empty (train {}, val {}, test {} images): use more data or larger fractions",
            split.train.len(),
            split.val.len(),
            split.test.len()
        );
    }
    eprintln!(
        "data: {} images of {} lesions in {}; split by lesion (seed {}): train {}, val {}, test {} images",
        dataset.records.len(),
        dataset.records.iter().map(|r| &r.lesion_id).collect::<std::collections::HashSet<_>>().len(),
        dataset.root.display(),
        hyper.seed,
        split.train.len(),
        split.val.len(),
        split.test.len()
    );
    let cache = evaluate::load_cache(&dataset, &args.paths, hyper.model.resize_size)?;
    Ok(Prepared { dataset, split, cache })
}

/// `train-native train`.
pub fn run(args: &TrainArgs) -> Result<ExitCode> {
    let hyper = &args.hyper;
    let config = hyper.model.config();
    config.validate().map_err(|e| anyhow!("invalid model options: {e}"))?;
    if hyper.batch_size == 0 || hyper.epochs == 0 {
        bail!("--epochs and --batch-size must be at least 1");
    }
    let Prepared { dataset, split, cache } = prepare(args)?;
    let selected = backend::select(args.backend)?;
    let device = selected.device.clone().autodiff();
    let run_dir = args.run_dir.clone().unwrap_or_else(paths::default_run_dir);
    let out_dir = args.out.clone().unwrap_or_else(paths::model_dir);

    let saved = if args.resume { checkpoint::load(&run_dir, hyper)? } else { None };
    if !args.resume && run_dir.join(checkpoint::STATE_FILE).exists() {
        bail!(
            "{} holds an earlier run: pass --resume to continue it, or --run-dir to start another (or delete the folder)",
            run_dir.display()
        );
    }
    device.seed(hyper.seed);
    let mut model = config.init(&device);
    let mut optim = AdamWConfig::new().with_weight_decay(hyper.weight_decay).init();
    let mut state = match saved {
        Some((state, model_bytes, optim_bytes)) => {
            if state.epoch > 0 {
                model = weights::from_bytes(&config, &model_bytes, &device).context("cannot load the checkpoint's weights")?;
                optim = optim.from_bytes(Bytes::from_bytes_vec(optim_bytes)).map_err(|e| anyhow!("cannot load the optimizer state: {e}"))?;
            }
            eprintln!("resuming {} after epoch {}/{}", run_dir.display(), state.epoch, hyper.epochs);
            state
        }
        None => {
            if args.resume {
                eprintln!("no checkpoint in {}: starting a new run", run_dir.display());
            }
            let (mut earlier_history, mut earlier_seconds) = (Vec::new(), 0.0);
            if let Some(init) = &hyper.init {
                let bytes = std::fs::read(init).with_context(|| format!("cannot read --init {}", init.display()))?;
                model = weights::from_bytes(&config, &bytes, &device).with_context(|| format!("cannot start from {}", init.display()))?;
                let earlier = init.parent().unwrap_or(std::path::Path::new(".")).join(checkpoint::STATE_FILE);
                if let Ok(text) = std::fs::read_to_string(&earlier) {
                    let earlier: State = serde_json::from_str(&text).with_context(|| format!("{} is damaged", earlier.display()))?;
                    // All of the earlier run's time counts, even the epochs after its best.
                    earlier_history = earlier.full_history();
                    earlier_seconds = earlier.total_seconds();
                }
                eprintln!("starting from {} ({} earlier epochs)", init.display(), earlier_history.len());
            }
            State {
                earlier_history,
                earlier_seconds,
                hyper: hyper.clone(),
                epoch: 0,
                history: Vec::new(),
                best_epoch: 0,
                best_score: f64::NEG_INFINITY,
                seconds: 0.0,
                backend: selected.backend.clone(),
                hardware: selected.hardware.clone(),
            }
        }
    };
    eprintln!("model: {} with {} parameters", config.architecture_name(), model.num_params());

    let sampler = Sampler::new(split.train.iter().map(|&i| (i, dataset.records[i].label)), NUM_CLASSES, hyper.sampling_power);
    let epoch_size = hyper.epoch_size.max(1);
    let steps_per_epoch = epoch_size.div_ceil(hyper.batch_size);
    let augment = Augment { color: hyper.color_jitter };
    let labels_of = |indices: &[usize]| indices.iter().map(|&i| dataset.records[i].label).collect::<Vec<_>>();

    let bars = MultiProgress::new();
    let epoch_bar = bars.add(ProgressBar::new(hyper.epochs as u64).with_position(state.epoch as u64));
    epoch_bar.set_style(ProgressStyle::with_template("epoch {pos}/{len} {bar:30} elapsed {elapsed} ETA {eta} {msg}").expect("template"));
    let batch_bar = bars.add(ProgressBar::new(steps_per_epoch as u64));
    batch_bar.set_style(
        ProgressStyle::with_template("  batch {pos}/{len} {bar:30} {msg} ETA {eta}").expect("template"),
    );

    for epoch in state.epoch + 1..=hyper.epochs {
        let started = Instant::now();
        let mut rng = ChaCha8Rng::seed_from_u64(hyper.seed ^ (epoch as u64).wrapping_mul(0x5851_F42D_4C95_7F2D));
        let draw = sampler.epoch(epoch_size, &mut rng);
        let smoothing = (hyper.label_smoothing > 0.0).then_some(hyper.label_smoothing);
        let loss_fn = CrossEntropyLossConfig::new()
            .with_weights(Some(draw.class_weights.clone()))
            .with_smoothing(smoothing)
            .init(&device);
        batch_bar.reset();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        let mut lr = hyper.lr;
        for (step, indices) in draw.order.chunks(hyper.batch_size).enumerate() {
            lr = learning_rate(hyper, (epoch - 1) * steps_per_epoch + step, steps_per_epoch);
            let batch_seed = hyper.seed.wrapping_add(((epoch * 1_000_003 + step) as u64) << 8);
            let x = batch::inputs(&cache, indices, config.input_size, Some((augment, batch_seed)), &device);
            let y = batch::labels(&labels_of(indices), &device);
            let logits = model.forward(x);
            let loss = loss_fn.forward(logits.clone(), y.clone());
            let hits: i64 = logits.argmax(1).squeeze_dim::<1>(1).equal(y).int().sum().into_scalar();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            let loss: f32 = loss.into_scalar();
            if !loss.is_finite() {
                bail!("the loss became {loss} at epoch {epoch}, step {step}: lower --lr");
            }
            loss_sum += loss as f64 * indices.len() as f64;
            correct += hits as usize;
            seen += indices.len();
            let rate = seen as f64 / started.elapsed().as_secs_f64();
            batch_bar.set_message(format!("loss {:.4} acc {:.3} lr {lr:.2e} {rate:.0} img/s", loss_sum / seen as f64, correct as f64 / seen as f64));
            batch_bar.inc(1);
        }

        let valid = model.valid();
        // One view per epoch: selection stays cheap; the shipped model's views are applied in finish.
        let val = evaluate::score(&valid, &cache, &split.val, &labels_of(&split.val), config.input_size, 1, &valid_device(&device))?;
        let seconds = started.elapsed().as_secs_f64();
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / seen as f64,
            train_accuracy: correct as f64 / seen as f64,
            val_loss: val.loss,
            val_accuracy: val.metrics.accuracy,
            val_balanced_accuracy: val.metrics.balanced_accuracy,
            val_macro_f1: val.metrics.macro_f1,
            learning_rate: lr,
            seconds,
        };
        let improved = record.val_balanced_accuracy > state.best_score;
        log(&bars, format!(
            "epoch {epoch:>3}: train loss {:.4} acc {:.3} | val loss {:.4} acc {:.3} bal-acc {:.3} macro-F1 {:.3} | {seconds:.0}s{}",
            record.train_loss,
            record.train_accuracy,
            record.val_loss,
            record.val_accuracy,
            record.val_balanced_accuracy,
            record.val_macro_f1,
            if improved { "  *best*" } else { "" }
        ));
        if improved {
            state.best_epoch = epoch;
            state.best_score = record.val_balanced_accuracy;
            checkpoint::write_atomic(&run_dir.join(BEST_FILE), &weights::to_bytes(valid)?)?;
        }
        state.history.push(record);
        state.epoch = epoch;
        state.seconds += seconds;
        let optim_bytes = optim.into_bytes().map_err(|e| anyhow!("cannot serialise the optimizer: {e}"))?;
        checkpoint::save(&run_dir, &state, &weights::to_bytes(model.valid())?, &optim_bytes)?;
        epoch_bar.set_message(format!("best bal-acc {:.3} (epoch {})", state.best_score, state.best_epoch));
        epoch_bar.inc(1);
        if args.stop_after_epoch == Some(epoch) && epoch < hyper.epochs {
            log(&bars, format!("stopped after epoch {epoch}; continue with --resume"));
            return Ok(ExitCode::SUCCESS);
        }
    }
    batch_bar.finish_and_clear();
    epoch_bar.finish();

    finish(args, &state, &dataset, &split, &cache, &run_dir, &out_dir)?;
    Ok(ExitCode::SUCCESS)
}

/// A line above the progress bars, or plainly on stderr when they are hidden (not a terminal),
/// so logs of unattended runs still show every epoch.
fn log(bars: &MultiProgress, line: String) {
    if bars.is_hidden() || bars.println(&line).is_err() {
        eprintln!("{line}");
    }
}

/// The device to validate on: the training device without autodiff.
fn valid_device(device: &Device) -> Device {
    device.clone().inner()
}

/// Evaluate the best checkpoint on the test split (on the CPU, like `evaluate`, so the
/// figures reproduce exactly) and export the model, report and plots.
fn finish(args: &TrainArgs, state: &State, dataset: &Dataset, split: &Split, cache: &crate::data::cache::ImageCache, run_dir: &PathBuf, out_dir: &PathBuf) -> Result<()> {
    // `--views` is one of the valid counts (the CLI parser checks), the rest was validated by `run`.
    let config = args.hyper.model.config().with_test_time_views(Some(args.views));
    let views = config.views();
    let best_path = run_dir.join(BEST_FILE);
    let best_bytes = std::fs::read(&best_path).with_context(|| format!("cannot read {}", best_path.display()))?;
    let device = Device::flex();
    let best: LesionNet = weights::from_bytes(&config, &best_bytes, &device)?;
    let labels = |indices: &[usize]| indices.iter().map(|&i| dataset.records[i].label).collect::<Vec<_>>();
    let val_labels = labels(&split.val);
    let raw = evaluate::score(&best, cache, &split.val, &val_labels, config.input_size, views, &device)?;
    let (model, mut calibration) = if args.no_calibrate {
        (best, None)
    } else {
        let log_probs = calibrate::log_probs(&raw.probabilities);
        let (limit, cross_fit) = calibrate::choose_limit(&log_probs, &val_labels, args.hyper.seed);
        let scores: Vec<String> = cross_fit.iter().map(|c| format!("±{}: {:.4}", c.limit, c.objective)).collect();
        eprintln!("offset range by cross-fitting on validation halves: {} (chose ±{limit})", scores.join(", "));
        let offsets = calibrate::fit_within(&log_probs, &val_labels, limit);
        eprintln!("decision offsets fitted on validation: {offsets:?}");
        let calibration = Calibration {
            offsets,
            offset_limit: limit,
            cross_fit,
            objective: "mean of validation balanced accuracy and macro F1".into(),
            val_balanced_accuracy_before: raw.metrics.balanced_accuracy,
            val_macro_f1_before: raw.metrics.macro_f1,
            val_balanced_accuracy_after: 0.0,
            val_macro_f1_after: 0.0,
        };
        (best.with_class_offsets(&offsets), Some(calibration))
    };
    // The figures below are those of the weights as the browser loads them (f16, back to f32).
    let shipped = weights::to_half_bytes(&config, model)?;
    let model = weights::from_bytes(&config, &shipped, &device)?;
    let val: Scored = evaluate::score(&model, cache, &split.val, &val_labels, config.input_size, views, &device)?;
    if let Some(c) = calibration.as_mut() {
        c.val_balanced_accuracy_after = val.metrics.balanced_accuracy;
        c.val_macro_f1_after = val.metrics.macro_f1;
        eprintln!(
            "validation: balanced accuracy {:.4} -> {:.4}, macro F1 {:.4} -> {:.4}",
            c.val_balanced_accuracy_before, c.val_balanced_accuracy_after, c.val_macro_f1_before, c.val_macro_f1_after
        );
    }
    let test: Scored = evaluate::score(&model, cache, &split.test, &labels(&split.test), config.input_size, views, &device)?;
    eprintln!("\nbest epoch {} (validation balanced accuracy {:.4}); test split:\n", state.full_best_epoch(), state.best_score);
    evaluate::print(&test.metrics);
    export::export(&export::Export { args, state, dataset, split, config: &config, weights: &shipped, val: &val.metrics, calibration, test: &test.metrics, out_dir })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skin_lesion::LesionNetConfig;

    /// 4 classes told apart by colour, 8 images each, 16x16.
    fn batch(device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
        let (n, side) = (32, 16);
        let mut data = Vec::with_capacity(n * 3 * side * side);
        let mut labels = Vec::new();
        for i in 0..n {
            let class = i % 4;
            labels.push(class as i64);
            for c in 0..3 {
                for p in 0..side * side {
                    let base = if c == class % 3 { 1.0 } else { -0.5 } * if class == 3 { -1.0 } else { 1.0 };
                    data.push(base + ((p * 7 + i * 3) % 11) as f32 / 20.0);
                }
            }
        }
        (Tensor::from_data(TensorData::new(data, [n, 3, side, side]), device), Tensor::from_data(TensorData::new(labels, [n]), device))
    }

    #[test]
    fn a_few_steps_lower_the_loss_on_the_cpu() {
        let device = Device::flex().autodiff();
        device.seed(1);
        let config = LesionNetConfig::new().with_base_width(4).with_stages(2).with_input_size(16).with_resize_size(16).with_dropout(0.0);
        let mut model = config.init(&device);
        let mut optim = AdamWConfig::new().init();
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let (x, y) = batch(&device);
        let mut losses = Vec::new();
        for _ in 0..15 {
            let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
            losses.push(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.02, model, grads);
        }
        assert!(losses.iter().all(|l| l.is_finite()));
        assert!(losses[14] < 0.7 * losses[0], "loss went {} → {}", losses[0], losses[14]);

        // The trained weights, batch-norm statistics included, survive a round trip exactly.
        let valid = model.valid();
        let bytes = weights::to_bytes(valid.clone()).unwrap();
        let plain = Device::flex();
        let loaded = weights::from_bytes(&config, &bytes, &plain).unwrap();
        let (x, _) = batch(&plain);
        let a: Vec<f32> = valid.to_device(&plain).forward(x.clone()).into_data().try_to_vec::<f32>().unwrap();
        let b: Vec<f32> = loaded.forward(x).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn learning_rate_warms_up_then_decays() {
        let cli = <crate::cli::Cli as clap::Parser>::parse_from(["train-native", "--epochs", "10", "--lr", "0.01", "--warmup-epochs", "1"]);
        let hyper = cli.train.hyper;
        assert!((learning_rate(&hyper, 0, 100) - 0.001).abs() < 1e-12);
        assert!((learning_rate(&hyper, 100, 100) - 0.01).abs() < 1e-12);
        assert!(learning_rate(&hyper, 500, 100) < 0.01);
        assert!((learning_rate(&hyper, 1000, 100) - 0.0001).abs() < 1e-9);
    }
}
