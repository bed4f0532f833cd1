//! The end of a run, once: decision offsets, the answer's calibration and thresholds (on
//! validation), then the test split scored once in every way the report shows, and the model
//! exported for the browser.

use anyhow::Result;
use burn::prelude::*;
use skin_lesion::metrics::{Calibration, Metrics};
use skin_lesion::report::{DecisionOffsets, Sections};
use skin_lesion::weights::{self, config_to_json};
use skin_lesion::{Classifier, ModelConfig, Network};

use super::best::{Dirs, TrainedRun, best_network};
use crate::answer_fit::{self, ood_set, patient, selective};
use crate::checkpoint::State;
use crate::data::Prepared;
use crate::export::{self, Exported};
use crate::score::{Images, ScoredAnswers, answers_of, scored};
use crate::{intervals, printout, quantise, robustness};

/// Fit and measure everything, then export the best epoch.
pub fn finish(run: &TrainedRun) -> Result<()> {
    let best = best_network(run)?;
    let record = |val: &Metrics| best.offsets_record(val);
    calibrate_and_export(
        best.model.clone(),
        &run.config.model(),
        run.state,
        run.data,
        run.dirs,
        record,
    )
}

/// From a network with its decision offsets folded in to the exported model: fit the answer
/// settings, score validation and test with the weights exactly as the browser loads them,
/// measure everything the report shows, and export. `offsets` records the decision offsets
/// given the validation figures after them.
pub fn calibrate_and_export(
    model: Network,
    model_config: &ModelConfig,
    state: &State,
    data: &Prepared,
    dirs: &Dirs,
    offsets: impl FnOnce(&Metrics) -> Option<DecisionOffsets>,
) -> Result<()> {
    let val_images = Images::new(&data.dataset, &data.cache, &data.split.val);
    let ood_dir = dirs
        .ood
        .clone()
        .unwrap_or_else(crate::paths::default_ood_dir);
    let dev = ood_set::load(&ood_dir, "dev")?;
    let storage = (state.config.storage, quantise::plan_for(&state.config));
    let calibrated = answer_fit::fit(model, model_config, storage, data, dev.as_deref())?;
    let signed = weights::signed(&calibrated.config, &calibrated.weights);
    // From here on, the model exactly as the browser loads it.
    let classifier = Classifier::from_files(
        &config_to_json(&signed),
        &calibrated.weights,
        Device::flex(),
    )?;
    let val = scored(
        answers_of(&classifier, &calibrated.val_sums)?,
        &val_images.labels,
        &val_images.codes,
    );
    let offsets = offsets(&val.metrics);
    if let Some(o) = &offsets {
        eprintln!(
            "validation: balanced accuracy {:.4} -> {:.4}, macro F1 {:.4} -> {:.4}",
            o.val_balanced_accuracy_before,
            o.val_balanced_accuracy_after,
            o.val_macro_f1_before,
            o.val_macro_f1_after
        );
    }
    let test_images = Images::new(&data.dataset, &data.cache, &data.split.test);
    let test = scored(
        answer_fit::answers(&classifier, &test_images)?,
        &test_images.labels,
        &test_images.codes,
    );
    eprintln!("\n{}; test split:\n", shipped_weights(state));
    printout::metrics(&test.metrics);
    let sections = test_sections(
        &classifier,
        data,
        &test_images,
        &test,
        &val,
        &calibrated,
        &ood_dir,
    )?;
    printout::sections(&sections);
    let exported = Exported {
        config: signed,
        weights: calibrated.weights,
        val: val.metrics,
        test: test.metrics,
        offsets,
        sections,
    };
    export::export(&exported, state, data, &dirs.out)
}

/// The report's sections on the test split (and the out-of-distribution set).
fn test_sections(
    classifier: &Classifier,
    data: &Prepared,
    images: &Images,
    test: &ScoredAnswers,
    val: &ScoredAnswers,
    calibrated: &answer_fit::FittedAnswer,
    ood_dir: &std::path::Path,
) -> Result<Sections> {
    let probabilities: Vec<&[f32]> = test.answers.iter().map(|a| &a.probabilities[..]).collect();
    let calibration = Calibration::of(&probabilities, &images.labels);
    let predicted: Vec<usize> = test.answers.iter().map(|a| a.top).collect();
    let lesions: Vec<&str> = images
        .indices
        .iter()
        .map(|&i| data.dataset.records[i].lesion_id.as_str())
        .collect();
    let intervals =
        intervals::bootstrap(images.codes.len(), &predicted, &images.labels, &lesions, 1);
    let report_set = ood_set::load(ood_dir, "report")?;
    let ood = answer_fit::ood_report(
        classifier,
        calibrated,
        &val.answers,
        &test.answers,
        report_set.as_deref(),
    )?;
    let threshold = classifier.answer_config().unsure_below;
    let selective = selective::report(&test.answers, &images.labels, threshold);
    let saliency = answer_fit::saliency::evaluate(
        classifier,
        images,
        &test.answers,
        &data.dataset.records,
        &data.dataset.root,
    )?;
    let suite = robustness::evaluate(classifier, &data.dataset, images.indices)?;
    let (val_patients, test_patients) = (
        data.dataset.patients(&data.split.val),
        data.dataset.patients(images.indices),
    );
    let val_labels = data.dataset.labels(&data.split.val);
    let patient = patient::report(&patient::ReportInputs {
        config: classifier.answer_config(),
        fit: &calibrated.patient,
        val: patient::Scored {
            answers: &val.answers,
            patients: &val_patients,
            labels: &val_labels,
            codes: &images.codes,
        },
        test: patient::Scored {
            answers: &test.answers,
            patients: &test_patients,
            labels: &images.labels,
            codes: &images.codes,
        },
        test_lesions: &lesions,
        warm_cast: &suite.warm_cast,
    });
    Ok(Sections {
        calibration,
        intervals: Some(intervals),
        ood: Some(ood),
        selective: Some(selective),
        saliency,
        robustness: Some(suite.robustness),
        patient: Some(patient),
    })
}

/// Which weights a run ships, in words: the mean of its last epochs, its last epoch, or its
/// best epoch.
pub fn shipped_weights(state: &State) -> String {
    if let Some(last) = state.last_epoch_shipped() {
        return format!(
            "last epoch {last} (best by validation balanced accuracy at one view: epoch {}, {:.4})",
            state.full_best_epoch(),
            state.best_score
        );
    }
    match state.averaged_epochs() {
        Some((first, last)) => format!("the mean of epochs {first}-{last}"),
        None => format!(
            "best epoch {} (validation balanced accuracy {:.4})",
            state.full_best_epoch(),
            state.best_score
        ),
    }
}
