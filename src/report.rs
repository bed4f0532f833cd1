//! `report.json`: the evaluation report the page renders, written by `train-native train`.
//!
//! The metric keys sit at the top level (flattened from [`Metrics`]) so `report.json` and the
//! JSON of `train-native evaluate --out` share them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;

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
    /// Flips/rotations of each photo whose logits are averaged (1 = none); reports written
    /// before test-time views existed used one.
    #[serde(default = "one_view")]
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
    /// The training hyper-parameters, as the CLI received them.
    pub training: serde_json::Value,
    /// The best epoch (by validation balanced accuracy), 1-based.
    pub best_epoch: usize,
    /// The validation figures of the shipped model (best epoch, offsets applied).
    pub validation: Metrics,
    /// Per-class logit offsets fitted on validation and folded into the weights, if any.
    #[serde(default)]
    pub calibration: Option<Calibration>,
}

fn one_view() -> usize {
    1
}

/// Decision offsets chosen on the validation split (see `train-native/src/calibrate.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Added to each class's logit, in model order.
    pub offsets: [f32; crate::NUM_CLASSES],
    /// What the offsets maximise.
    pub objective: String,
    pub val_balanced_accuracy_before: f64,
    pub val_macro_f1_before: f64,
    pub val_balanced_accuracy_after: f64,
    pub val_macro_f1_after: f64,
    /// The offsets were searched in [-limit, limit]; reports written before the range was
    /// cross-fitted used 2.
    #[serde(default = "widest_limit")]
    pub offset_limit: f32,
    /// Each candidate range's objective when fitted on one half of validation and scored on
    /// the other (mean over random halvings); the best one is `offset_limit`.
    #[serde(default)]
    pub cross_fit: Vec<CrossFit>,
}

fn widest_limit() -> f32 {
    2.0
}

/// One offset range's cross-fitted score (see `train-native/src/calibrate.rs`).
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

/// The whole `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Test-split metrics; their keys sit at the top level of the JSON.
    #[serde(flatten)]
    pub metrics: Metrics,
    pub history: Vec<EpochRecord>,
    pub model: ModelCard,
}
