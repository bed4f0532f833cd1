//! Making the answers honest, fitted once when a model is exported: the temperature of the
//! probabilities, the out-of-distribution score and its threshold, and the "unsure" threshold
//! (all on validation; the feature density on the training split), stored with the model;
//! then measured on the test split and the out-of-distribution set.

mod candidate;
pub mod density;
pub mod ood_choice;
pub mod ood_set;
pub mod patient;
pub mod saliency;
pub mod selective;
pub mod shift;
pub mod temperature;

use std::collections::BTreeMap;

use anyhow::Result;
use burn::prelude::*;
use rayon::prelude::*;
use skin_lesion::answer::{AnswerConfig, OodConfig};
use skin_lesion::report::{KindFigures, OodCandidate, OodReport, OodSetFigures};
use skin_lesion::weights::Storage;
use skin_lesion::{Answer, Classifier, ModelConfig, Network, Photo, ViewSums, weights};

use crate::data::Prepared;
use crate::quantise;
use crate::score::{self, Images, answers_of};
use candidate::{Candidate, TrainFeatures, ViewMeans, auroc, candidates, flagged};
use ood_choice::choose;
pub use ood_choice::{CLASS_LIMIT, FLAGGED_SHARE, ood_rule};
use ood_set::Picture;

/// How many views of each training photo the feature density is fitted on: the photo as
/// given. The mean of all 8 views (the widget's answer) was fitted before; it took 5 of the
/// end of a run's 22 minutes, and the documented command ran over its 45-minute budget
/// (docs/experiments.md, "The feature density at one view", for the rule that chose this).
/// Validation and every later photo are still scored on the mean of the model's views, and
/// the threshold is set on validation's scores, so only the density's shape changes.
pub const DENSITY_VIEWS: usize = 1;

/// How many training photos of each class the class scales are fitted on, at every view of
/// the model ([`density::per_class_sample`]). Fitted at one view with the density, the scales
/// left the rare classes' validation photos about 30% further out than the naevi's, since the
/// mean of 8 views pulls a naevus nearer its centre than a vascular lesion (docs/experiments.md,
/// "Why rare classes are refused more"); 100 a class at 8 views is about 5,400 views, under a
/// minute and a half of the end of a run.
pub const SCALE_PHOTOS: usize = 100;

/// A model made honest: its config (with the answer settings) and weights (with the feature
/// density when the chosen score needs it), and how the score was chosen.
pub struct FittedAnswer {
    pub config: ModelConfig,
    pub weights: Vec<u8>,
    pub candidates: Vec<OodCandidate>,
    pub choice: String,
    /// The chosen score, in words.
    pub name: String,
    /// What the chosen score falls short of ([`ood_choice::warnings`]); empty when nothing.
    pub warnings: Vec<String>,
    /// What patient data adds (the tables are in `config` when its weight is not 0).
    pub patient: patient::Fit,
    /// The network's sums over every view of each validation photo (the same network as in
    /// `weights`): the final answers on validation come from these, not from a second pass.
    pub val_sums: Vec<ViewSums>,
}

/// The sums over every view of pictures given as files (through the same decoding).
fn picture_sums(classifier: &Classifier, pictures: &[Picture]) -> Result<Vec<ViewSums>> {
    let views = classifier.config().preprocess.test_time_views;
    let sums: Vec<Vec<ViewSums>> = pictures
        .par_iter()
        .map(|picture| {
            let input = classifier
                .prepare(Photo::Encoded(&picture.bytes))
                .map_err(|e| anyhow::anyhow!("{}: {e}", picture.id))?;
            Ok(classifier.view_sums(&input, 1, 0..views)?)
        })
        .collect::<Result<_>>()?;
    Ok(sums.into_iter().flatten().collect())
}

/// Fit the answer settings for `model` (decision offsets already folded in) and return the
/// shipped config and weights, stored as `storage` says and rounded by its plan.
pub fn fit(
    model: Network,
    config: &ModelConfig,
    (storage, plan): (Storage, quantise::Plan),
    data: &Prepared,
    dev: Option<&[Picture]>,
) -> Result<FittedAnswer> {
    let device = Device::flex();
    // Rounded to 8 bits once, here, when stored so: both exports below keep these steps.
    let model = quantise::for_storage(model, &config.preprocess, (storage, plan), data)?;
    // The shipped network as the browser will load it, before it has an answer.
    let shipped_bytes = weights::to_shipped_bytes(config, model.clone(), storage)?;
    let bare = weights::from_bytes(config, &shipped_bytes, &device)?;
    let plain = Classifier::new(bare.clone(), config.clone(), device.clone());
    let val_images = Images::new(&data.dataset, &data.cache, &data.split.val);
    // The shipped weights below hold this same network (the density aside), so these sums
    // serve every later answer on validation.
    let val_sums = score::view_sums(&plain, &val_images)?;
    let val = ViewMeans::of(&val_sums);
    let val_labels = val_images.labels.clone();
    let temperature = temperature::fit(&val.logits, &val_labels);
    eprintln!("temperature fitted on validation: {temperature:.3}");
    let train_images = Images::new(&data.dataset, &data.cache, &data.split.train);
    let views = DENSITY_VIEWS.min(config.preprocess.test_time_views);
    let train = ViewMeans::of(&score::view_sums(&plain.with_views(views)?, &train_images)?);
    let train_labels = &train_images.labels;
    let (scale_means, scale_labels) = scale_features(&plain, data, train_labels)?;
    let train_features = TrainFeatures {
        density: (&train, train_labels),
        scales: (&scale_means, &scale_labels),
    };
    let candidates: Vec<Candidate> = candidates(config)
        .into_iter()
        .map(|(method, stages)| Candidate::fit(method, stages, config, &train_features))
        .collect();
    // The dev pictures go through the network once: the shipped model below has the same
    // network, so its answers come from these sums too.
    let dev_sums = dev
        .map(|pictures| picture_sums(&plain, pictures))
        .transpose()?;
    let (figures, best) = compare(&candidates, &val, &val_labels, dev_sums.as_deref());
    let chosen = &candidates[best];
    let warnings = figures
        .get(best)
        .map(|f| {
            let sizes = data.dataset.class_counts(data.split.val.iter().copied());
            shortfalls(f, config, &sizes)
        })
        .unwrap_or_default();
    let (config, weights, shipped) = with_density(model, config, chosen, temperature, storage)?;
    let answers = answers_of(&shipped, &val_sums)?;
    let scores: Vec<f32> = answers.iter().map(|a| a.ood_score).collect();
    let threshold = density::threshold(&scores, FLAGGED_SHARE);
    if let Some(sums) = &dev_sums {
        let dev: Vec<f32> = answers_of(&shipped, sums)?
            .iter()
            .map(|a| a.ood_score)
            .collect();
        eprintln!(
            "shipped density (as stored): dev AUROC {:.3}, dev refused {:.3}",
            auroc(&dev, &scores),
            flagged(&dev, threshold)
        );
    }
    let unsure_below = selective::choose(&answers, &val_labels);
    eprintln!(
        "out-of-distribution: {} above {threshold:.3}; unsure below {unsure_below:.2}",
        chosen.name()
    );
    let answer = AnswerConfig::new()
        .with_temperature(temperature)
        .with_unsure_below(unsure_below)
        .with_ood(Some(OodConfig::new(
            chosen.method,
            [chosen.features.start, chosen.features.end],
            threshold,
        )));
    let val_patients = data.dataset.patients(&data.split.val);
    let patient = patient::fit(
        (&data.dataset.patients(&data.split.train), train_labels),
        &patient::Scored {
            answers: &answers,
            patients: &val_patients,
            labels: &val_labels,
            codes: &val_images.codes,
        },
        &answer,
    );
    let answer = answer.with_patient(patient.config.clone());
    let choice = if figures.is_empty() {
        "the default (no out-of-distribution set was built)".into()
    } else {
        ood_rule()
    };
    Ok(FittedAnswer {
        config: config.with_answer(Some(answer)),
        weights,
        candidates: figures,
        choice,
        name: chosen.name(),
        warnings,
        patient,
        val_sums,
    })
}

/// The features and labels the class scales are fitted on: [`SCALE_PHOTOS`] training photos
/// of each class at every view of `plain`.
fn scale_features(
    plain: &Classifier,
    data: &Prepared,
    train_labels: &[usize],
) -> Result<(ViewMeans, Vec<usize>)> {
    let start = std::time::Instant::now();
    let indices: Vec<usize> = density::per_class_sample(train_labels, SCALE_PHOTOS)
        .into_iter()
        .map(|position| data.split.train[position])
        .collect();
    let images = Images::new(&data.dataset, &data.cache, &indices);
    let means = ViewMeans::of(&score::view_sums(plain, &images)?);
    eprintln!(
        "class scales: {} training photos at {} views ({:.0} s)",
        indices.len(),
        plain.config().preprocess.test_time_views,
        start.elapsed().as_secs_f64()
    );
    Ok((means, images.labels))
}

/// [`ood_choice::warnings`] of the chosen candidate's figures (`sizes` validation photos per
/// class), each printed as it is found: a run whose detector falls short says so in its
/// output as well as in its report.
fn shortfalls(chosen: &OodCandidate, config: &ModelConfig, sizes: &[usize]) -> Vec<String> {
    let codes: Vec<String> = config.classes.iter().map(|c| c.code.clone()).collect();
    let warnings = ood_choice::warnings(chosen, &codes, sizes);
    for warning in &warnings {
        eprintln!(
            "warning: the out-of-distribution score ({}): {warning}",
            chosen.method
        );
    }
    warnings
}

/// Each candidate's figures on validation and the dev pictures, printed, and the index of the
/// one [`ood_rule`] picks; without dev pictures, the first candidate, untested.
fn compare(
    candidates: &[Candidate],
    val: &ViewMeans,
    val_labels: &[usize],
    dev_sums: Option<&[ViewSums]>,
) -> (Vec<OodCandidate>, usize) {
    let Some(sums) = dev_sums else {
        eprintln!(
            "warning: the out-of-distribution set is not built (train-native/ood/build.py): using the first candidate, {}, untested",
            candidates[0].name()
        );
        return (Vec::new(), 0);
    };
    let dev = ViewMeans::of(sums);
    let figures: Vec<OodCandidate> = candidates
        .iter()
        .map(|c| c.figures(val, val_labels, &dev))
        .collect();
    for f in &figures {
        eprintln!(
            "out-of-distribution candidate {}: dev AUROC {:.3}, dev refused {:.3}, validation refused per class {:.3?}",
            f.method, f.dev_auroc, f.dev_flagged, f.val_flagged_by_class
        );
    }
    let best = choose(&figures);
    (figures, best)
}

/// The network (as [`quantise::for_storage`] left it) with `chosen`'s density (when it uses
/// one) and a provisional answer whose threshold is still open, as shipped weights and as the
/// classifier that loads them: the thresholds are then set on the scores of these weights,
/// not of the f32 fit.
fn with_density(
    bare: Network,
    config: &ModelConfig,
    chosen: &Candidate,
    temperature: f32,
    storage: Storage,
) -> Result<(ModelConfig, Vec<u8>, Classifier)> {
    let device = Device::flex();
    let network = match &chosen.density {
        Some(density) => bare.with_density(Some(density.to_module(&device))),
        None => bare,
    };
    let provisional = AnswerConfig::new()
        .with_temperature(temperature)
        .with_ood(Some(OodConfig::new(
            chosen.method,
            [chosen.features.start, chosen.features.end],
            f32::MAX,
        )));
    let config = config.clone().with_answer(Some(provisional));
    let weights = weights::to_shipped_bytes(&config, network, storage)?;
    let shipped = Classifier::new(
        weights::from_bytes(&config, &weights, &device)?,
        config.clone(),
        device,
    );
    Ok((config, weights, shipped))
}

/// The out-of-distribution figures of the shipped `classifier`: validation and test flagged
/// shares, and the report part of the set.
pub fn ood_report(
    classifier: &Classifier,
    calibrated: &FittedAnswer,
    val: &[Answer],
    test: &[Answer],
    set: Option<&[Picture]>,
) -> Result<OodReport> {
    let ood = classifier
        .config()
        .answer
        .as_ref()
        .and_then(|a| a.ood.clone())
        .expect("a calibrated model");
    let share = score::refused_share;
    let set = match set {
        Some(pictures) => {
            let answers = answers_of(classifier, &picture_sums(classifier, pictures)?)?;
            let outside: Vec<f32> = answers.iter().map(|a| a.ood_score).collect();
            let inside: Vec<f32> = test.iter().map(|a| a.ood_score).collect();
            let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
            for (picture, answer) in pictures.iter().zip(&answers) {
                let entry = by_kind.entry(picture.kind.clone()).or_default();
                entry.0 += 1;
                entry.1 += usize::from(answer.out_of_distribution);
            }
            Some(OodSetFigures {
                pictures: pictures.len(),
                auroc: auroc(&outside, &inside),
                flagged: share(&answers),
                by_kind: by_kind
                    .into_iter()
                    .map(|(k, (n, f))| {
                        (
                            k,
                            KindFigures {
                                pictures: n,
                                flagged: f as f64 / n as f64,
                            },
                        )
                    })
                    .collect(),
            })
        }
        None => None,
    };
    Ok(OodReport {
        method: calibrated.name.clone(),
        choice: calibrated.choice.clone(),
        threshold: ood.threshold,
        validation_flagged: share(val),
        test_flagged: share(test),
        candidates: calibrated.candidates.clone(),
        warnings: calibrated.warnings.clone(),
        set,
    })
}

/// Answers of `classifier` on `images`, for scoring.
pub fn answers(classifier: &Classifier, images: &Images) -> Result<Vec<Answer>> {
    answers_of(classifier, &score::view_sums(classifier, images)?)
}
