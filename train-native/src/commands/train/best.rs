//! The best epoch of a finished run, with its decision offsets fitted on validation: where
//! both the end of a run ([`super::finish`]) and `--validation-only` ([`super::validation`])
//! start.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::prelude::*;
use skin_lesion::{Classifier, Network, TrainingConfig, weights};

use crate::checkpoint::{self, State};
use crate::data::Prepared;
use crate::offsets;
use crate::score::{self, Images, ScoredAnswers};

/// Where a run keeps its checkpoints, finds the out-of-distribution set and writes its model.
pub struct Dirs {
    pub run: PathBuf,
    pub out: PathBuf,
    pub ood: Option<PathBuf>,
}

/// The best epoch's network with the decision offsets fitted on validation folded in.
pub struct BestNetwork {
    pub model: Network,
    /// The offsets' fit; `None` when the run ships without offsets.
    pub fitted: Option<offsets::Fitted>,
    /// The best epoch's validation answers and figures before the offsets (every view the
    /// model averages).
    pub raw: ScoredAnswers,
}

/// A run whose epochs are done, as its end sees it.
pub struct TrainedRun<'a> {
    pub config: &'a TrainingConfig,
    pub state: &'a State,
    pub data: &'a Prepared,
    pub dirs: &'a Dirs,
    /// Fit per-class decision offsets on validation (`--no-offsets` turns it off).
    pub with_offsets: bool,
}

/// Load the best epoch of the run and fit its decision offsets on validation.
pub fn best_network(run: &TrainedRun) -> Result<BestNetwork> {
    let TrainedRun {
        config,
        state,
        data,
        dirs,
        with_offsets,
    } = *run;
    let model_config = &config.model();
    let best_path = checkpoint::best_file(&dirs.run, state.best_epoch);
    let best_bytes = std::fs::read(&best_path)
        .with_context(|| format!("cannot read {}", best_path.display()))?;
    let device = Device::flex();
    let best: Network = weights::from_bytes(model_config, &best_bytes, &device)?;
    let val_images = Images::new(&data.dataset, &data.cache, &data.split.val);
    let raw = score::score(
        &Classifier::new(best.clone(), model_config.clone(), device),
        &val_images,
    )?;
    let counts = data.dataset.class_counts(data.split.val.iter().copied());
    let scarce = offsets::scarce_class(&counts, &val_images.codes);
    if let (true, Some((code, n))) = (with_offsets, &scarce) {
        eprintln!(
            "decision offsets left out: class {code} has {n} validation photos, fewer than the {} offsets are fitted on",
            offsets::MIN_PHOTOS_PER_CLASS
        );
    }
    let fitted = (with_offsets && scarce.is_none())
        .then(|| offsets::fit(&raw.answers, &val_images.labels, config.split.seed));
    let model = match &fitted {
        Some(f) => best.with_class_offsets(&f.offsets),
        None => best,
    };
    Ok(BestNetwork { model, fitted, raw })
}
