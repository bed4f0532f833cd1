//! `train --validation-only`: the end of a run for choosing between recipes. It computes what
//! a run's choice rests on (the best epoch with its decision offsets, at every view the model
//! averages, on the validation photos as they are and under the warm colour cast) and nothing
//! that would spend the test split or replace the exported model. The figures go to the
//! terminal and to `validation.json` in the run folder, with each validation photo's class, so
//! that `--example paired_val` can set the run against an exported model without exporting it
//! (an export scores the test split); `train --resume` without the flag later finishes the
//! same run as usual.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use skin_lesion::metrics::Metrics;
use skin_lesion::model::ClassName;
use skin_lesion::{Classifier, ModelConfig};

use super::best::{BestNetwork, TrainedRun, best_network};
use crate::data::Prepared;
use crate::data::classes::index as class_index;
use crate::data::corrupt::WARM_CAST;
use crate::fsutil::write_atomic;
use crate::score::ScoredAnswers;
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
    /// The epoch whose figures they are, for a recipe that ships its last epoch
    /// (`shipped_epoch`); `None`: the best epoch's, or the averaged epochs'.
    pub last_epoch_shipped: Option<usize>,
    pub views: usize,
    /// The side of the network's input: the central part of the resized square it answers on.
    pub input_size: usize,
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
    /// The same three after offsets fitted on the other half of validation
    /// (`cross_fitted_answers`): without the in-sample fit's optimism.
    pub cross_fitted_balanced_accuracy: f64,
    pub cross_fitted_macro_f1: f64,
    pub cross_fitted_mean: f64,
    pub warm_cast_balanced_accuracy: f64,
    pub training_seconds: f64,
    pub backend: String,
    /// Each validation photo's class after the offsets, in the split's order.
    pub answers: Vec<PhotoAnswer>,
    /// Each validation photo's class after offsets fitted on the other half of validation
    /// ([`offsets::cross_fitted_tops`]; without offsets, `answers` again): what
    /// `paired_val --cross-fitted` compares, free of the in-sample fit's optimism.
    pub cross_fitted_answers: Vec<PhotoAnswer>,
}

/// One validation photo's answer in [`Figures`]: its image id and the code of its class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoAnswer {
    pub image: String,
    pub top: String,
}

/// Recorded `answers` as indices into `classes`, checked photo by photo against the photos
/// they must answer (`images`, the split's validation photos in order): a run of another
/// split, data set or class list is refused rather than compared.
pub fn recorded_tops(
    answers: &[PhotoAnswer],
    images: &[&str],
    classes: &[ClassName],
) -> Result<Vec<usize>> {
    if answers.len() != images.len() {
        bail!(
            "the run recorded {} validation answers; this split has {} photos",
            answers.len(),
            images.len()
        );
    }
    answers
        .iter()
        .zip(images)
        .map(|(answer, &image)| {
            if answer.image != image {
                bail!(
                    "the run's answers are for other photos ({} where the split has {image})",
                    answer.image
                );
            }
            class_index(classes, &answer.top).with_context(|| {
                format!("{image}: class {} is not one of the data set's", answer.top)
            })
        })
        .collect()
}

/// Score the run's best epoch on validation and write [`FILE`].
pub fn report(run: &TrainedRun) -> Result<()> {
    write(best_network(run)?, &run.config.model(), run)
}

/// Write [`FILE`] in `run`'s run folder for `best`, a network with its offsets fitted on
/// validation, answering with `model_config`: the run's own, or `recalibrate`'s at another
/// input side.
pub fn write(best: BestNetwork, model_config: &ModelConfig, run: &TrainedRun) -> Result<()> {
    let BestNetwork {
        model,
        fitted,
        raw,
        fit,
        val_photos,
    } = best;
    let TrainedRun {
        state, data, dirs, ..
    } = *run;
    let Answered {
        clean,
        crossed,
        answers,
        cross_fitted_answers,
    } = answered(&raw, fitted.as_ref(), data);
    // The warm cast needs the photos run again (decoded once: the casts fit may have decoded
    // them already).
    let classifier = Classifier::new(model, model_config.clone(), Device::flex());
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
        last_epoch_shipped: state.last_epoch_shipped(),
        views: model_config.preprocess.test_time_views,
        input_size: model_config.preprocess.input_size,
        offsets: fitted.as_ref().map(|f| f.offsets.clone()),
        offset_limit: fitted.map(|f| f.limit),
        offset_casts: fit.cast_names(),
        balanced_accuracy: clean.balanced_accuracy,
        macro_f1: clean.macro_f1,
        mean: offsets::objective(&clean),
        cross_fitted_balanced_accuracy: crossed.balanced_accuracy,
        cross_fitted_macro_f1: crossed.macro_f1,
        cross_fitted_mean: offsets::objective(&crossed),
        warm_cast_balanced_accuracy: warm.balanced_accuracy,
        training_seconds: state.total_seconds(),
        backend: state.backend.clone(),
        answers,
        cross_fitted_answers,
    };
    eprintln!(
        "validation only (test split not looked at): {}; {} views after offsets: balanced \
         accuracy {:.4}, macro F1 {:.4}, mean {:.4} (after the other half's offsets: {:.4}, \
         {:.4}, {:.4}); under the warm cast: balanced accuracy {:.4}",
        super::finish::shipped_weights(state),
        figures.views,
        figures.balanced_accuracy,
        figures.macro_f1,
        figures.mean,
        figures.cross_fitted_balanced_accuracy,
        figures.cross_fitted_macro_f1,
        figures.cross_fitted_mean,
        figures.warm_cast_balanced_accuracy
    );
    let path: PathBuf = dirs.run.join(FILE);
    write_atomic(&path, serde_json::to_string_pretty(&figures)?.as_bytes())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The validation photos answered after the offsets fitted on all of them and after those
/// fitted on the other half: the figures and each photo's class.
struct Answered {
    clean: Metrics,
    crossed: Metrics,
    answers: Vec<PhotoAnswer>,
    cross_fitted_answers: Vec<PhotoAnswer>,
}

/// The offsets only shift the mean logits, so the answers after them come from the answers
/// `raw` already holds; without offsets, both sets of answers are the network's own.
fn answered(raw: &ScoredAnswers, fitted: Option<&offsets::Fitted>, data: &Prepared) -> Answered {
    let logits: Vec<Vec<f32>> = raw.answers.iter().map(|a| a.logits.clone()).collect();
    let labels = data.dataset.labels(&data.split.val);
    let classes = data.dataset.classes.len();
    let none = vec![0.0; classes];
    let tops = offsets::tops_with(&logits, fitted.map_or(&none, |f| &f.offsets));
    let crossed = fitted.map_or(&tops, |f| &f.cross_fitted_tops);
    Answered {
        clean: offsets::metrics_of_tops(&tops, &labels, classes),
        crossed: offsets::metrics_of_tops(crossed, &labels, classes),
        answers: photo_answers(&tops, data),
        cross_fitted_answers: photo_answers(crossed, data),
    }
}

/// The validation photos' classes `tops` (in the split's order) as recorded answers.
fn photo_answers(tops: &[usize], data: &Prepared) -> Vec<PhotoAnswer> {
    tops.iter()
        .zip(&data.split.val)
        .map(|(&top, &i)| PhotoAnswer {
            image: data.dataset.records[i].image_id.clone(),
            top: data.dataset.classes[top].code.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(image: &str, top: &str) -> PhotoAnswer {
        PhotoAnswer {
            image: image.into(),
            top: top.into(),
        }
    }

    fn classes() -> Vec<ClassName> {
        ["akiec", "nv", "vasc"]
            .map(|code| ClassName::new(code, code))
            .to_vec()
    }

    #[test]
    fn recorded_answers_become_class_indices_in_the_splits_order() {
        let answers = [answer("ISIC_1", "vasc"), answer("ISIC_2", "akiec")];
        let tops = recorded_tops(&answers, &["ISIC_1", "ISIC_2"], &classes()).unwrap();
        assert_eq!(tops, [2, 0]);
    }

    #[test]
    fn answers_of_other_photos_counts_or_classes_are_refused() {
        let answers = [answer("ISIC_1", "nv"), answer("ISIC_2", "nv")];
        let err = |images: &[&str], answers: &[PhotoAnswer]| {
            recorded_tops(answers, images, &classes())
                .unwrap_err()
                .to_string()
        };
        assert!(err(&["ISIC_1"], &answers).contains("2 validation answers"));
        assert!(err(&["ISIC_2", "ISIC_1"], &answers).contains("other photos (ISIC_1"));
        let unknown = [answer("ISIC_1", "nv"), answer("ISIC_2", "mel")];
        assert!(err(&["ISIC_1", "ISIC_2"], &unknown).contains("class mel"));
    }

    #[test]
    fn validation_json_round_trips_its_answers() {
        let answers = vec![answer("ISIC_1", "nv")];
        let text = serde_json::to_string(&answers).unwrap();
        assert_eq!(text, r#"[{"image":"ISIC_1","top":"nv"}]"#);
        let back: Vec<PhotoAnswer> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, answers);
    }
}
