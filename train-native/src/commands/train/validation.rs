//! `train --validation-only`: the end of a run for choosing between recipes. It computes what
//! a run's choice rests on (the best epoch with its decision offsets, at every view the model
//! averages, on the validation photos as they are and under the warm colour cast) and nothing
//! that would spend the test split or replace the exported model. The figures go to the
//! terminal and to `validation.json` in the run folder; `train --resume` without the flag
//! later finishes the same run as usual.

use std::path::PathBuf;

use anyhow::Result;
use burn::prelude::*;
use serde::Serialize;
use skin_lesion::Classifier;

use super::best::{BestNetwork, TrainedRun, best_network};
use crate::data::corrupt::WARM_CAST;
use crate::fsutil::write_atomic;
use crate::{offsets, robustness};

/// The file in the run folder the figures are written to.
pub const FILE: &str = "validation.json";

/// What `validation.json` holds.
#[derive(Debug, Serialize)]
pub struct Figures {
    pub best_epoch: usize,
    /// The best epoch's balanced accuracy at one view (what chose it).
    pub best_epoch_balanced_accuracy: f64,
    /// The first and last epoch whose mean the figures below are of, for a recipe that
    /// averages (`average_epochs`); `None`: they are the best epoch's.
    pub averaged_epochs: Option<[usize; 2]>,
    pub views: usize,
    /// The decision offsets fitted on validation and their range chosen by cross-fitting
    /// (`None` without offsets): what a later `--resume` folds into the exported model.
    pub offsets: Option<Vec<f32>>,
    pub offset_limit: Option<f32>,
    /// The colour casts the offsets were fitted under as well (`--offsets casts`).
    pub offset_casts: Vec<String>,
    pub balanced_accuracy: f64,
    pub macro_f1: f64,
    /// The mean of the two: the figure the project's rules compare.
    pub mean: f64,
    pub warm_cast_balanced_accuracy: f64,
    pub training_seconds: f64,
    pub backend: String,
}

/// Score the run's best epoch on validation and write [`FILE`].
pub fn report(run: &TrainedRun) -> Result<()> {
    let BestNetwork {
        model,
        fitted,
        raw,
        fit,
        val_photos,
    } = best_network(run)?;
    let TrainedRun {
        config,
        state,
        data,
        dirs,
        ..
    } = *run;
    // The offsets only shift the mean logits, so the clean figures after them come from the
    // answers `best_network` already has; the warm cast needs the photos run again (decoded
    // once: the casts fit may have decoded them already).
    let logits: Vec<Vec<f32>> = raw.answers.iter().map(|a| a.logits.clone()).collect();
    let none = vec![0.0; data.dataset.classes.len()];
    let shift = fitted.as_ref().map_or(&none, |f| &f.offsets);
    let clean = offsets::metrics_with(&logits, &data.dataset.labels(&data.split.val), shift);
    let classifier = Classifier::new(model, config.model(), Device::flex());
    let photos = match val_photos {
        Some(photos) => photos,
        None => robustness::decode_all(&data.dataset, &data.split.val)?,
    };
    let (warm, _) = robustness::metrics_under(
        &classifier,
        &data.dataset,
        &data.split.val,
        &photos,
        &WARM_CAST,
    )?;
    let figures = Figures {
        best_epoch: state.full_best_epoch(),
        best_epoch_balanced_accuracy: state.best_score,
        averaged_epochs: state.averaged_epochs().map(|(first, last)| [first, last]),
        views: config.preprocess.test_time_views,
        offsets: fitted.as_ref().map(|f| f.offsets.clone()),
        offset_limit: fitted.map(|f| f.limit),
        offset_casts: fit.cast_names(),
        balanced_accuracy: clean.balanced_accuracy,
        macro_f1: clean.macro_f1,
        mean: offsets::objective(&clean),
        warm_cast_balanced_accuracy: warm.balanced_accuracy,
        training_seconds: state.total_seconds(),
        backend: state.backend.clone(),
    };
    eprintln!(
        "validation only (test split not looked at): {}; {} views after offsets: balanced \
         accuracy {:.4}, macro F1 {:.4}, mean {:.4}; under the warm cast: balanced accuracy {:.4}",
        super::finish::shipped_weights(state),
        figures.views,
        figures.balanced_accuracy,
        figures.macro_f1,
        figures.mean,
        figures.warm_cast_balanced_accuracy
    );
    let path: PathBuf = dirs.run.join(FILE);
    write_atomic(&path, serde_json::to_string_pretty(&figures)?.as_bytes())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
