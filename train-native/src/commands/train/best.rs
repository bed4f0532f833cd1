//! The best epoch of a finished run, with its decision offsets fitted on validation: where
//! both the end of a run ([`super::finish`]) and `--validation-only` ([`super::validation`])
//! start.

use std::path::PathBuf;

use anyhow::Result;
use burn::prelude::*;
use skin_lesion::metrics::Metrics;
use skin_lesion::preprocess::Decoded;
use skin_lesion::report::DecisionOffsets;
use skin_lesion::{Classifier, ModelConfig, Network, TrainingConfig};

use crate::checkpoint::{self, State};
use crate::data::Prepared;
use crate::score::{self, Images, ScoredAnswers};
use crate::{offsets, robustness};

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
    /// Which photos the offsets were fitted to.
    pub fit: offsets::Fit,
    /// The validation photos, when the fit under casts decoded them (in split order): kept
    /// so that a later pass under another cast need not decode them again.
    pub val_photos: Option<Vec<Decoded>>,
}

/// A run whose epochs are done, as its end sees it.
pub struct TrainedRun<'a> {
    pub config: &'a TrainingConfig,
    pub state: &'a State,
    pub data: &'a Prepared,
    pub dirs: &'a Dirs,
    /// Which validation photos the per-class decision offsets are fitted to (`--offsets`).
    pub offsets: offsets::Fit,
}

/// Load the weights the run ships (its best epoch, or the mean of its last epochs for a recipe
/// that averages) and fit their decision offsets on validation.
pub fn best_network(run: &TrainedRun) -> Result<BestNetwork> {
    let TrainedRun {
        config,
        state,
        data,
        dirs,
        offsets,
    } = *run;
    let model_config = &config.model();
    let best = checkpoint::validated_network(config, &checkpoint::shipped_file(&dirs.run, state))?;
    let fit = OffsetFit {
        photos: offsets,
        seed: config.split.seed,
    };
    with_fitted_offsets(best, model_config, data, fit)
}

/// How a network's decision offsets are fitted: to which validation photos, and the seed of
/// the cross-fitting's halvings.
#[derive(Debug, Clone, Copy)]
pub struct OffsetFit {
    pub photos: offsets::Fit,
    pub seed: u64,
}

/// `network` scored on validation at `model_config`'s views, with decision offsets fitted
/// to those answers (and, for [`offsets::Fit::Casts`], to its answers under the casts) folded
/// in.
pub fn with_fitted_offsets(
    network: Network,
    model_config: &ModelConfig,
    data: &Prepared,
    fit: OffsetFit,
) -> Result<BestNetwork> {
    let val_images = Images::new(&data.dataset, &data.cache, &data.split.val);
    let classifier = Classifier::new(network.clone(), model_config.clone(), Device::flex());
    let raw = score::score(&classifier, &val_images)?;
    let counts = data.dataset.class_counts(data.split.val.iter().copied());
    let scarce = offsets::scarce_class(&counts, &val_images.codes);
    let wanted = fit.photos != offsets::Fit::None;
    if let (true, Some((code, n))) = (wanted, &scarce) {
        eprintln!(
            "decision offsets left out: class {code} has {n} validation photos, fewer than the {} offsets are fitted on",
            offsets::MIN_PHOTOS_PER_CLASS
        );
    }
    let (fitted, val_photos) = if wanted && scarce.is_none() {
        let (conditions, photos) = conditions(&classifier, data, &raw, fit.photos)?;
        let fitted = offsets::fit(&conditions, &val_images.labels, fit.seed);
        (Some(fitted), photos)
    } else {
        (None, None)
    };
    let model = match &fitted {
        Some(f) => network.with_class_offsets(&f.offsets),
        None => network,
    };
    Ok(BestNetwork {
        model,
        fitted,
        raw,
        fit: fit.photos,
        val_photos,
    })
}

/// The validation logits the offsets are fitted to: `raw`'s, and the same photos' under each
/// of the fit's casts (the whole photos decoded again, at every view); with the decoded
/// photos when the casts needed them.
fn conditions(
    classifier: &Classifier,
    data: &Prepared,
    raw: &ScoredAnswers,
    photos: offsets::Fit,
) -> Result<(offsets::Conditions, Option<Vec<Decoded>>)> {
    let logits = |answers: &[skin_lesion::Answer]| -> Vec<Vec<f32>> {
        answers.iter().map(|a| a.logits.clone()).collect()
    };
    let casts = photos.casts();
    if casts.is_empty() {
        return Ok((offsets::Conditions::clean(logits(&raw.answers)), None));
    }
    let decoded = robustness::decode_all(&data.dataset, &data.split.val)?;
    let mut shifted = Vec::with_capacity(casts.len());
    for cast in casts {
        eprintln!(
            "validation photos under {} for the offsets",
            cast.description()
        );
        let answers = robustness::answers_under(classifier, &decoded, Some(cast))?;
        shifted.push(logits(&answers));
    }
    let conditions = offsets::Conditions::with_shifted(logits(&raw.answers), shifted);
    Ok((conditions, Some(decoded)))
}

impl BestNetwork {
    /// What the report records of the offsets, given the validation figures after them.
    pub fn offsets_record(&self, val: &Metrics) -> Option<DecisionOffsets> {
        self.fitted.as_ref().map(|f| DecisionOffsets {
            offsets: f.offsets.clone(),
            offset_limit: f.limit,
            cross_fit: f.cross_fit.clone(),
            objective: self.fit.objective().unwrap_or_default(),
            casts: self.fit.cast_names(),
            val_balanced_accuracy_before: self.raw.metrics.balanced_accuracy,
            val_macro_f1_before: self.raw.metrics.macro_f1,
            val_balanced_accuracy_after: val.balanced_accuracy,
            val_macro_f1_after: val.macro_f1,
        })
    }
}
