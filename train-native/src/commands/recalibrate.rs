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
use skin_lesion::report::DecisionOffsets;
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
        None => calibrate_and_export(network, &config, &state, &data, &dirs, |val| {
            remeasured(recorded, val)
        }),
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

/// The recorded decision offsets, kept, with their validation figures after them those of the
/// network as stored now, `val`: stored another way (`--storage`, `--round-again`), it can
/// move a photo or two at a decision boundary, and the report's two figures for the same
/// thing must agree. The figures before the offsets stay the export's (the network without
/// them is not scored again).
fn remeasured(recorded: Option<DecisionOffsets>, val: &Metrics) -> Option<DecisionOffsets> {
    recorded.map(|o| DecisionOffsets {
        val_balanced_accuracy_after: val.balanced_accuracy,
        val_macro_f1_after: val.macro_f1,
        ..o
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_offsets_take_the_validation_figures_of_the_network_as_stored_now() {
        let recorded = DecisionOffsets {
            offsets: vec![0.5, -0.5],
            objective: "mean".into(),
            val_balanced_accuracy_before: 0.70,
            val_macro_f1_before: 0.65,
            val_balanced_accuracy_after: 0.7614,
            val_macro_f1_after: 0.7273,
            offset_limit: 0.5,
            casts: Vec::new(),
            cross_fit: Vec::new(),
        };
        // Three photos of class a, one of b; one a called b.
        let codes = ["a".to_string(), "b".to_string()];
        let probabilities = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]].map(Vec::from);
        let val = Metrics::from_predictions(&codes, &[0, 0, 0, 1], &probabilities);
        let now = remeasured(Some(recorded.clone()), &val).unwrap();
        assert_eq!(
            (now.val_balanced_accuracy_after, now.val_macro_f1_after),
            (val.balanced_accuracy, val.macro_f1)
        );
        assert!((val.balanced_accuracy - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        let before = (now.val_balanced_accuracy_before, now.val_macro_f1_before);
        assert_eq!(before, (0.70, 0.65));
        assert_eq!(now.offsets, recorded.offsets);
        assert!(remeasured(None, &val).is_none());
    }
}
