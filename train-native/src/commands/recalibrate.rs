//! `train-native recalibrate`: fit an exported model's answer settings again (temperature,
//! out-of-distribution score and thresholds) and re-measure it, without retraining.
//!
//! For when the answer_fit-answer code or the out-of-distribution set changes: the network, its
//! decision offsets and its training history stay as they were exported; everything the
//! report measures on the test split is measured again. `--storage` stores the same network
//! another way (f16 to 8 bits, or back), and the report records it; `--views` averages another
//! number of test-time views and `--input-size` answers on another central part of the
//! resized square, each with the decision offsets refitted for it; `--round-again` stores the
//! same steps in today's form of the storage. `--validation-only` stops after the offsets'
//! fit and writes the validation figures `train --validation-only` writes, so that a way of
//! answering can be set against the shipped one (`--example paired_val`) without reading the
//! test split.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use burn::prelude::*;
use skin_lesion::metrics::Metrics;
use skin_lesion::report::{DecisionOffsets, Report};
use skin_lesion::weights::{self, CONFIG_FILE, REPORT_FILE, WEIGHTS_FILE};
use skin_lesion::{ModelConfig, Network, TrainingConfig};

use super::train::best::{BestNetwork, Dirs, OffsetFit, TrainedRun, with_fitted_offsets};
use super::train::finish::calibrate_and_export;
use super::train::validation;
use crate::checkpoint::{STATE_FILE, State};
use crate::cli::RecalibrateArgs;
use crate::data::{Prepared, prepare};
use crate::fsutil::write_atomic;
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
    let answering = Answering::asked(args, &config);
    answering.apply(&mut config, &mut training)?;
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
    let state = state_of(&report, &training, &data);
    let out = args.out.clone().unwrap_or_else(|| dir.clone());
    let dirs = Dirs {
        run: out.clone(),
        out,
        ood: args.ood_dir.clone(),
    };
    let recorded = report.model.decision_offsets.clone();
    let refit = answering.changed() || args.validation_only;
    if !refit {
        calibrate_and_export(network, &config, &state, &data, &dirs, |val| {
            remeasured(recorded, val)
        })
        .map_err(|e| anyhow!("{e:#}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let fit = OffsetFit {
        photos: offsets::Fit::recorded(recorded.as_ref()),
        seed: training.split.seed,
    };
    let refitted = refit_offsets(network, recorded, &config, &data, fit)?;
    if args.validation_only {
        return validation_only(refitted, &config, &state, &data, &dirs, fit.photos);
    }
    let record = |val: &Metrics| refitted.offsets_record(val);
    calibrate_and_export(
        refitted.model.clone(),
        &config,
        &state,
        &data,
        &dirs,
        record,
    )
    .map_err(|e| anyhow!("{e:#}"))?;
    Ok(ExitCode::SUCCESS)
}

/// The run's state as the report records it, for the export's report and `paired_val`.
fn state_of(report: &Report, training: &TrainingConfig, data: &Prepared) -> State {
    State {
        epoch: report.history.len(),
        history: report.history.clone(),
        best_epoch: report.model.best_epoch,
        averaged: report
            .model
            .averaged_epochs
            .map_or(0, |[first, last]| last + 1 - first),
        best_score: best_epoch_score(report),
        seconds: report.model.training_seconds,
        ..State::fresh(
            training,
            data.dataset.fingerprint(),
            &report.model.backend,
            &report.model.hardware,
        )
    }
}

/// `network` with its `recorded` offsets (fitted at the old views and side) taken out of the
/// classifier's biases and fitted again, to the photos they were fitted to before.
fn refit_offsets(
    network: Network,
    recorded: Option<DecisionOffsets>,
    config: &ModelConfig,
    data: &Prepared,
    fit: OffsetFit,
) -> Result<BestNetwork> {
    let old: Vec<f32> = recorded.map_or_else(Vec::new, |o| o.offsets);
    let network = if old.is_empty() {
        network
    } else {
        network.with_class_offsets(&old.iter().map(|o| -o).collect::<Vec<_>>())
    };
    with_fitted_offsets(network, config, data, fit)
}

/// The figure that chose the best epoch, as a run's state holds it: that epoch's validation
/// balanced accuracy at one view, from the report's history (the report's own validation
/// figure is the exported model's, after its views and offsets). A report whose history lacks
/// the epoch (`train` always records it) falls back to that.
fn best_epoch_score(report: &Report) -> f64 {
    report
        .history
        .iter()
        .find(|h| h.epoch == report.model.best_epoch)
        .map_or(report.model.validation.balanced_accuracy, |h| {
            h.val_balanced_accuracy
        })
}

/// What the exported model is asked to answer with: another number of views or another input
/// side (`None`: as exported).
struct Answering {
    views: Option<usize>,
    input_size: Option<usize>,
}

impl Answering {
    fn asked(args: &RecalibrateArgs, config: &ModelConfig) -> Self {
        let now = &config.preprocess;
        Answering {
            views: args.views.filter(|&v| v != now.test_time_views),
            input_size: args.input_size.filter(|&s| s != now.input_size),
        }
    }

    fn changed(&self) -> bool {
        self.views.is_some() || self.input_size.is_some()
    }

    /// Set the views in both the model's configuration and the training record (the recipe
    /// names the views it ships with), the input side in the model's only (the record keeps
    /// the side the network trained on), and check the result.
    fn apply(&self, config: &mut ModelConfig, training: &mut TrainingConfig) -> Result<()> {
        if let Some(views) = self.views {
            config.preprocess.test_time_views = views;
            training.preprocess.test_time_views = views;
        }
        if let Some(side) = self.input_size {
            config.preprocess.input_size = side;
        }
        if !self.changed() {
            return Ok(());
        }
        config.validate().map_err(|e| {
            anyhow!(
                "--views {} --input-size {}: {e}",
                config.preprocess.test_time_views,
                config.preprocess.input_size
            )
        })
    }
}

/// `--validation-only`: the figures `train --validation-only` writes, for the exported network
/// answering as asked, in `dirs.run`, with the state `paired_val` reads the split from.
fn validation_only(
    refitted: BestNetwork,
    config: &ModelConfig,
    state: &State,
    data: &Prepared,
    dirs: &Dirs,
    photos: offsets::Fit,
) -> Result<ExitCode> {
    refuse_weights_in(&dirs.run)?;
    std::fs::create_dir_all(&dirs.run)
        .with_context(|| format!("cannot create {}", dirs.run.display()))?;
    let run = TrainedRun {
        config: &state.config,
        state,
        data,
        dirs,
        offsets: photos,
    };
    validation::write(refitted, config, &run)?;
    let path = dirs.run.join(STATE_FILE);
    write_atomic(&path, serde_json::to_string_pretty(state)?.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// `--validation-only` writes `validation.json` and `state.json`: refused into a folder that
/// holds weights (`*.bpk`: a training run, whose state it would replace, or a model folder,
/// which `paired_val` would then read as a run).
fn refuse_weights_in(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".bpk") {
            bail!(
                "{} holds weights ({}): --validation-only writes validation.json and state.json, so give it a folder of its own",
                dir.display(),
                name.to_string_lossy()
            );
        }
    }
    Ok(())
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
    use clap::Parser;

    fn parse(flags: &[&str]) -> Result<RecalibrateArgs, clap::Error> {
        #[derive(Parser)]
        struct Line {
            #[command(flatten)]
            args: RecalibrateArgs,
        }
        let line = std::iter::once("recalibrate").chain(flags.iter().copied());
        Line::try_parse_from(line).map(|l| l.args)
    }

    fn args(flags: &[&str]) -> RecalibrateArgs {
        parse(flags).unwrap()
    }

    #[test]
    fn another_input_side_changes_the_answers_not_the_training_record() {
        let mut training = TrainingConfig::new();
        let mut config = training.model();
        let trained_side = training.preprocess.input_size;
        let whole = training.preprocess.resize_size;
        let asked = Answering::asked(&args(&["--input-size", &whole.to_string()]), &config);
        assert!(asked.changed());
        asked.apply(&mut config, &mut training).unwrap();
        assert_eq!(config.preprocess.input_size, whole);
        assert_eq!(training.preprocess.input_size, trained_side);

        let views = Answering::asked(&args(&["--views", "2"]), &config);
        views.apply(&mut config, &mut training).unwrap();
        assert_eq!(config.preprocess.test_time_views, 2);
        assert_eq!(training.preprocess.test_time_views, 2);
    }

    #[test]
    fn the_sides_and_views_as_exported_change_nothing() {
        let config = TrainingConfig::new().model();
        let side = config.preprocess.input_size.to_string();
        let views = config.preprocess.test_time_views.to_string();
        let same = args(&["--input-size", &side, "--views", &views]);
        assert!(!Answering::asked(&same, &config).changed());
    }

    #[test]
    fn a_side_past_the_resized_square_or_too_small_is_refused() {
        let mut training = TrainingConfig::new();
        let mut config = training.model();
        let past = (training.preprocess.resize_size + 1).to_string();
        let err = Answering::asked(&args(&["--input-size", &past]), &config)
            .apply(&mut config.clone(), &mut training)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be at least input_size"), "{err}");
        let small = Answering::asked(&args(&["--input-size", "16"]), &config);
        let err = small.apply(&mut config, &mut training).unwrap_err();
        assert!(err.to_string().contains("too small"), "{err}");
    }

    #[test]
    fn the_state_holds_the_one_view_figure_that_chose_the_best_epoch() {
        let shipped = paths::model_dir().join(REPORT_FILE);
        let mut report = model_files::read_report(&shipped).unwrap();
        let best = report.model.best_epoch;
        let chose = report.history[best - 1].val_balanced_accuracy;
        assert_eq!(report.history[best - 1].epoch, best);
        assert_eq!(best_epoch_score(&report), chose);
        assert_ne!(chose, report.model.validation.balanced_accuracy);
        report.history.clear();
        let exported = report.model.validation.balanced_accuracy;
        assert_eq!(best_epoch_score(&report), exported);
    }

    #[test]
    fn validation_only_needs_a_folder_to_write_to() {
        assert!(parse(&["--validation-only"]).is_err());
        let with_out = args(&["--validation-only", "--out", "/tmp/x"]);
        assert!(with_out.validation_only);
    }

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
