//! `train-native recalibrate`: fit an exported model's answer settings again (temperature,
//! out-of-distribution score and thresholds) and re-measure it, without retraining.
//!
//! For when the answer_fit-answer code or the out-of-distribution set changes: the network, its
//! decision offsets and its training history stay as they were exported; everything the
//! report measures on the test split is measured again. `--storage` stores the same network
//! another way (f16 to 8 bits, or back), and the report records it; `--views` averages another
//! number of test-time views, with the decision offsets refitted at that count;
//! `--round-again` stores the same steps in today's form of the storage.

use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use burn::prelude::*;
use skin_lesion::metrics::Metrics;
use skin_lesion::weights::{self, CONFIG_FILE, REPORT_FILE, WEIGHTS_FILE};

use super::train::best::{Dirs, OffsetFit, with_fitted_offsets};
use super::train::finish::calibrate_and_export;
use crate::checkpoint::State;
use crate::cli::RecalibrateArgs;
use crate::data::prepare;
use crate::{model_files, offsets, paths};

pub fn run(args: &RecalibrateArgs) -> Result<ExitCode> {
    let dir = args.model.clone().unwrap_or_else(paths::model_dir);
    let report = model_files::read_report(&dir.join(REPORT_FILE))?;
    let bytes = std::fs::read(dir.join(WEIGHTS_FILE))
        .with_context(|| format!("cannot read {}", dir.join(WEIGHTS_FILE).display()))?;
    let json = std::fs::read_to_string(dir.join(CONFIG_FILE))
        .with_context(|| format!("cannot read {}", dir.join(CONFIG_FILE).display()))?;
    let exported = weights::config_for(&json, &bytes)?;
    // The bare network: the answer settings (and the density they may carry) are refitted.
    // 8-bit layers stay as stored, so that storing them again keeps the same steps.
    let mut config = exported.unfitted();
    let mut training = report.model.training.clone();
    let views = args
        .views
        .filter(|&v| v != config.preprocess.test_time_views);
    if let Some(views) = views {
        config.preprocess.test_time_views = views;
        training.preprocess.test_time_views = views;
        config
            .validate()
            .map_err(|e| anyhow!("--views {views}: {e}"))?;
    }
    let network = match args.storage {
        Some(storage) if storage != training.storage => {
            training.storage = storage;
            weights::network_from_bytes(&config, &bytes, &Device::flex())?
        }
        // As floats, the 8-bit layers are rounded again by the recipe's plan, onto the same
        // steps: each block's largest value is its largest step times its scale.
        _ if args.round_again => weights::network_from_bytes(&config, &bytes, &Device::flex())?,
        _ => weights::stored_network_from_bytes(&config, &bytes, &Device::flex())?,
    };
    let data = prepare(&training, &args.paths)?;
    let state = State {
        epoch: report.history.len(),
        history: report.history.clone(),
        best_epoch: report.model.best_epoch,
        averaged: report
            .model
            .averaged_epochs
            .map_or(0, |[first, last]| last + 1 - first),
        best_score: report.model.validation.balanced_accuracy,
        seconds: report.model.training_seconds,
        ..State::fresh(
            &training,
            data.dataset.fingerprint(),
            &report.model.backend,
            &report.model.hardware,
        )
    };
    let dirs = Dirs {
        run: dir.clone(),
        out: args.out.clone().unwrap_or(dir),
        ood: args.ood_dir.clone(),
    };
    let recorded = report.model.decision_offsets.clone();
    let result = match views {
        None => calibrate_and_export(network, &config, &state, &data, &dirs, |_| recorded),
        Some(_) => {
            // The offsets were fitted at the old count: take them out of the classifier's
            // biases and fit them again at the new one.
            let photos = offsets::Fit::recorded(recorded.as_ref());
            let old: Vec<f32> = recorded.map_or_else(Vec::new, |o| o.offsets);
            let network = if old.is_empty() {
                network
            } else {
                network.with_class_offsets(&old.iter().map(|o| -o).collect::<Vec<_>>())
            };
            let fit = OffsetFit {
                photos,
                seed: training.split.seed,
            };
            let refitted = with_fitted_offsets(network, &config, &data, fit)?;
            let record = |val: &Metrics| refitted.offsets_record(val);
            calibrate_and_export(
                refitted.model.clone(),
                &config,
                &state,
                &data,
                &dirs,
                record,
            )
        }
    };
    result.map_err(|e| anyhow!("{e:#}"))?;
    Ok(ExitCode::SUCCESS)
}
