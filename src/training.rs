//! The training recipe: one typed configuration whose defaults are the shipped model's.
//!
//! As in burn's guide, the whole recipe is one [`TrainingConfig`] holding the network's
//! [`NetworkConfig`] and the [`PreprocessConfig`]; `train-native`'s command line (or
//! `train --config recipe.json`) overrides fields of it, checkpoints keep it so that `--resume`
//! can refuse other settings, and `report.json` records it as it was.

use burn::config::Config;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::model::lite0::{Lite0Config, MaskCells};
use crate::model::{ClassName, ham10000_classes};
use crate::weights::Storage;
use crate::{ModelConfig, NetworkConfig, PreprocessConfig};

/// How the lesions are split into train / validation / test.
#[derive(Config, Debug, PartialEq)]
pub struct SplitConfig {
    /// Seed of the split (and, in training, of the initial weights and the sampling).
    #[config(default = 42)]
    pub seed: u64,
    /// Fraction of lesions held out for validation (model selection).
    #[config(default = 0.15)]
    pub val_fraction: f64,
    /// Fraction of lesions held out for the final test.
    #[config(default = 0.15)]
    pub test_fraction: f64,
    /// Use only the first N metadata rows (quick experiments and smoke tests).
    pub limit: Option<usize>,
}

/// Training-time changes to each photo. Beyond the colour jitter, what other cameras and
/// clinics do to a photo (colour balance, focus, compression, sensor noise, magnification):
/// off by default, since they cost validation accuracy on HAM10000 (README, "What was tried").
#[derive(Config, Debug, PartialEq)]
pub struct AugmentConfig {
    /// Brightness, contrast and saturation jitter (0.15 = ±15%).
    #[config(default = 0.15)]
    pub colour: f32,
    /// Colour-balance jitter: red and blue gains of `exp(±cast)` (0.15 = ×0.86..×1.16).
    #[config(default = 0.0)]
    pub cast: f32,
    /// Probability of a slight Gaussian blur (sigma 0.3 to 1.2 pixels).
    #[config(default = 0.0)]
    pub blur: f32,
    /// Probability of sensor noise (sigma 2 to 10 of 255).
    #[config(default = 0.0)]
    pub noise: f32,
    /// Probability of JPEG compression at quality 30 to 90.
    #[config(default = 0.0)]
    pub jpeg: f32,
    /// Random crop size down to `1 - scale` of the square (then resized): the lesion a little
    /// larger, as with another dermatoscope's magnification.
    #[config(default = 0.0)]
    pub scale: f32,
    /// Probability of random erasing (Zhong et al. 2020) after the crop: a rectangle of 2-25%
    /// of the crop, its sides in a ratio of 1:2 to 2:1, filled with random colours, so that no
    /// single part of a lesion decides the class. `None` (every recipe written before this
    /// field, read from its JSON as such): none. At 0.5 it cost 3.5 points of run N's
    /// validation mean (run RE in docs/experiments.md).
    pub erase: Option<f32>,
}

/// Which single epoch's weights a run ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShippedEpoch {
    /// The epoch with the best validation balanced accuracy at one view.
    #[default]
    Best,
    /// The last epoch, where the cosine schedule has brought the learning rate near zero:
    /// chooses nothing on validation, where the best of epochs whose one-view figures differ
    /// by a point from one to the next is partly luck (run Z picked its 7th of 17 by the
    /// fourth digit). Measured on runs N, X, Y and Z (run ZL in docs/experiments.md): no
    /// better than the best epoch after the views and offsets, so not the default.
    Last,
}

/// Everything that determines the trained model. A resumed run must use the same values,
/// except the preprocessing's `test_time_views`, which only the export uses.
#[derive(Config, Debug, PartialEq)]
pub struct TrainingConfig {
    /// The network: a pretrained backbone to fine-tune (the shipped EfficientNet-Lite0), or
    /// the from-scratch CNN (`LesionNetConfig`'s defaults are its last shipped recipe).
    #[config(default = "NetworkConfig::Lite0(Lite0Config::new().with_dropout(0.3))")]
    pub network: NetworkConfig,
    /// Of a pretrained network, how many of its first blocks (and its stem) keep the weights
    /// and batch-norm statistics it was pretrained with: the most generic filters, and each
    /// frozen block a backward pass saved. 0 fine-tunes every layer.
    #[config(default = 6)]
    pub frozen_blocks: usize,
    /// How a photo becomes the network's input, and the views the answer averages: 128-pixel
    /// crops of the 144-pixel central square, 8 views (`PreprocessConfig`'s own defaults, 64 of
    /// 72 and 8 views, are the from-scratch network's; 8 views since run H, docs/experiments.md).
    #[config(
        default = "PreprocessConfig::new().with_input_size(128).with_resize_size(144).with_test_time_views(8)"
    )]
    pub preprocess: PreprocessConfig,
    /// The lesion-grouped split.
    #[config(default = "SplitConfig::new()")]
    pub split: SplitConfig,
    /// Epochs to train: 17, the shipped recipe's (run N in docs/experiments.md: 17 epochs of
    /// 80-83 s at 4-bit steps with two batch parts, and a 21-minute end, came to 44.6 minutes
    /// here; the network trained at 4-bit steps was still gaining at run K's 15th and last).
    #[config(default = 17)]
    pub epochs: usize,
    /// Images per training step.
    #[config(default = 32)]
    pub batch_size: usize,
    /// Parts each batch is cut into, run side by side on the cores, their gradients added:
    /// 2, the shipped recipe's (`None`, as in every recipe written before this field and in
    /// the from-scratch network's: the whole batch in one pass). flex spreads one pass over the
    /// cores poorly, so two parts train about 1.7 times as many images a second on 2 cores
    /// (docs/throughput.md); the trained norms then normalise over each part, not the whole
    /// batch. Lite0 only.
    #[config(default = "Some(2)")]
    pub batch_parts: Option<usize>,
    /// Ship the mean of the last N epochs' weights (their batch-norm statistics too) instead
    /// of the best epoch: stochastic weight averaging (Izmailov et al. 2018) over the small
    /// learning rates at the end of the cosine schedule. Those epochs differ by about a point
    /// of validation balanced accuracy from one to the next (run D's epochs 12-15: 0.735,
    /// 0.726, 0.730, 0.721), so the best of them is partly luck; their mean chooses nothing
    /// on validation. Unset (the shipped recipe): the best epoch by validation balanced
    /// accuracy.
    pub average_epochs: Option<usize>,
    /// Which single epoch's weights a run ships ([`ShippedEpoch`]): `None` (the shipped recipe
    /// and every recipe before this field) is the best epoch by validation balanced accuracy
    /// at one view. An export setting: a finished run can be exported again with the other.
    pub shipped_epoch: Option<ShippedEpoch>,
    /// Images drawn per epoch (about half the training split: more, shorter epochs give
    /// finer-grained model selection on validation).
    #[config(default = 3500)]
    pub epoch_size: usize,
    /// Peak learning rate of AdamW (cosine decay after a linear warm-up).
    #[config(default = 1e-3)]
    pub lr: f64,
    /// Epochs of linear learning-rate warm-up.
    #[config(default = 1)]
    pub warmup_epochs: usize,
    /// AdamW weight decay.
    #[config(default = 1e-4)]
    pub weight_decay: f32,
    /// Label smoothing of the cross-entropy loss.
    #[config(default = 0.05)]
    pub label_smoothing: f32,
    /// Class balance: classes are sampled in proportion to count^p and the loss weighs them by
    /// count^-p, so every class counts equally in expectation. 1 = natural sampling with
    /// inverse-frequency loss weights, 0 = fully balanced sampling with plain loss.
    #[config(default = 0.5)]
    pub sampling_power: f64,
    /// How training photos are changed; flips, rotations and random crops are always on.
    #[config(default = "AugmentConfig::new().with_cast(0.08)")]
    pub augment: AugmentConfig,
    /// How the exported weights' numbers are stored: f16, or the layer weights at 8 bits
    /// (half the download of a large network): 8 bits, the shipped recipe's. The from-scratch
    /// network has only f16 (`--architecture lesion-net` switches to it).
    #[config(default = "Storage::Q8")]
    pub storage: Storage,
    /// `Some(true)`: the layers the 8-bit storage rounds train at their nearest 4-bit steps
    /// (quantisation-aware training, straight-through gradients onto float weights), and the
    /// export stores those steps. Rounding trained weights to 4 bits afterwards moved too many
    /// answers (docs/experiments.md, "4-bit steps in the 8-bit file"); a network trained on
    /// the steps need not. `Some(true)` is the shipped recipe's (run N); `None` (every recipe
    /// before this field, read from its JSON as such) or `false`: float weights. Needs the
    /// 8-bit storage: an f16 file would hold the float weights, not the steps measured.
    #[config(default = "Some(true)")]
    pub four_bit: Option<bool>,
    /// Weight of a second loss beside the classification: a training-only 1x1 convolution on
    /// Lite0's activations ([`Self::mask_cells`]) guesses, for each of their cells, the
    /// share of the cell on the lesion, against the photo's lesion mask (HAM10000's
    /// `masks_200x150`) cropped, rotated and flipped with it (a sigmoid cross-entropy, the
    /// mean over cells and photos). The convolution is dropped at the export. `None` (the
    /// shipped recipe, and every recipe before this field) or 0: no masks read.
    pub mask_loss: Option<f64>,
    /// The cells the mask loss guesses ([`MaskCells`]): `None` (every recipe before this
    /// field) is the head's.
    pub mask_cells: Option<MaskCells>,
    /// The classes, in the order of the network's outputs: `None` is HAM10000's seven. A run
    /// on other data sets it from the data (`--classes` fixes it beforehand).
    pub classes: Option<Vec<ClassName>>,
    /// Start from these weights (a `best.bpk` of an earlier run) instead of random (or, for a
    /// pretrained architecture, ImageNet) ones: a second stage with a fresh learning-rate
    /// cycle.
    pub init: Option<PathBuf>,
}

impl TrainingConfig {
    /// The model this recipe trains, before its answer is fitted.
    pub fn model(&self) -> ModelConfig {
        let classes = self.classes.clone().unwrap_or_else(ham10000_classes);
        ModelConfig::new(self.network.clone(), self.preprocess.clone()).with_classes(classes)
    }

    /// The recipe for data of classes `classes`: HAM10000's seven stay `None`, as in every
    /// recipe written before class lists could change.
    pub fn for_classes(self, classes: &[ClassName]) -> Self {
        let own = (classes != ham10000_classes().as_slice()).then(|| classes.to_vec());
        self.with_classes(own)
    }

    /// Whether the run ships its last epoch rather than its best ([`Self::shipped_epoch`]).
    pub fn ships_last_epoch(&self) -> bool {
        self.shipped_epoch == Some(ShippedEpoch::Last)
    }

    /// Whether the rounded layers train at 4-bit steps ([`Self::four_bit`]).
    pub fn trains_four_bit(&self) -> bool {
        self.four_bit == Some(true)
    }

    /// The mask loss's weight ([`Self::mask_loss`]; 0 when unset).
    pub fn mask_weight(&self) -> f64 {
        self.mask_loss.unwrap_or(0.0)
    }

    /// The cells the mask loss guesses ([`Self::mask_cells`]; the head's when unset).
    pub fn mask_cells(&self) -> MaskCells {
        self.mask_cells.unwrap_or_default()
    }

    /// Parts each batch is cut into ([`Self::batch_parts`]; 1 when unset).
    pub fn parts(&self) -> usize {
        self.batch_parts.unwrap_or(1)
    }

    /// Optimiser steps in one epoch (the last batch may be short).
    pub fn steps_per_epoch(&self) -> usize {
        self.epoch_size.div_ceil(self.batch_size)
    }

    /// Whether a checkpoint made with `saved` can be continued with `self`: every field the
    /// same except the export-only ones (the view count, the storage and the epoch shipped).
    pub fn continues(&self, saved: &TrainingConfig) -> bool {
        &self.with_export_settings_of(saved) == self
    }

    /// What a resumed run could not change but `self` changes from `saved`, one line a field:
    /// `path: saved X, now Y`, by dotted path into the recipe's JSON (`epochs`,
    /// `augment.cast`, ...). A refused `--resume` names these, so the options to give back
    /// are plain rather than two recipes to compare by eye; empty when [`Self::continues`].
    pub fn differences_from(&self, saved: &TrainingConfig) -> Vec<String> {
        let json = |c: &TrainingConfig| serde_json::to_value(c).expect("a recipe is JSON");
        let mut lines = Vec::new();
        let resumed = self.with_export_settings_of(saved);
        json_differences("", &json(&resumed), &json(self), &mut lines);
        lines
    }

    /// `saved` with `self`'s export-only settings: what a resumed run trains and exports.
    pub fn with_export_settings_of(&self, saved: &TrainingConfig) -> TrainingConfig {
        let mut resumed = saved.clone();
        resumed.preprocess.test_time_views = self.preprocess.test_time_views;
        resumed.storage = self.storage;
        resumed.shipped_epoch = self.shipped_epoch;
        resumed
    }

    /// Checks the recipe can run at all.
    pub fn validate(&self) -> Result<(), String> {
        self.model().validate()?;
        if self.batch_size == 0 || self.epochs == 0 || self.epoch_size == 0 {
            return Err("epochs, batch_size and epoch_size must be at least 1".into());
        }
        let (val, test) = (self.split.val_fraction, self.split.test_fraction);
        if !(0.0..1.0).contains(&val) || !(0.0..1.0).contains(&test) || val + test >= 1.0 {
            return Err(format!(
                "validation ({val}) and test ({test}) fractions must be in [0, 1) and sum to less than 1"
            ));
        }
        if self.frozen_blocks > 0 && !matches!(self.network, NetworkConfig::Lite0(_)) {
            return Err(format!(
                "frozen_blocks {} needs a pretrained network; the from-scratch one trains every layer",
                self.frozen_blocks
            ));
        }
        if let NetworkConfig::Lite0(_) = self.network
            && self.frozen_blocks > crate::model::lite0::BLOCKS
        {
            return Err(format!(
                "frozen_blocks {} exceeds Lite0's {} blocks",
                self.frozen_blocks,
                crate::model::lite0::BLOCKS
            ));
        }
        let parts = self.parts();
        if parts == 0 || parts > self.batch_size {
            return Err(format!(
                "batch_parts {parts} must be between 1 and the batch size {}",
                self.batch_size
            ));
        }
        if parts > 1 && !matches!(self.network, NetworkConfig::Lite0(_)) {
            return Err(format!(
                "batch_parts {parts} needs Lite0; the from-scratch network trains on whole batches"
            ));
        }
        if let Some(n) = self.average_epochs
            && !(1..=self.epochs).contains(&n)
        {
            return Err(format!(
                "average_epochs {n} must be between 1 and the {} epochs",
                self.epochs
            ));
        }
        if self.trains_four_bit() && !matches!(self.network, NetworkConfig::Lite0(_)) {
            return Err(
                "four_bit needs Lite0: the from-scratch network has no 8-bit storage".into(),
            );
        }
        if self.storage == Storage::Q8 && !matches!(self.network, NetworkConfig::Lite0(_)) {
            return Err(
                "the 8-bit storage needs Lite0: the from-scratch network is stored at f16".into(),
            );
        }
        if self.trains_four_bit() && self.storage != Storage::Q8 {
            return Err(
                "four_bit needs the 8-bit storage: an f16 file would hold the float weights, not the 4-bit steps they trained and were measured on".into(),
            );
        }
        if self.trains_four_bit() && self.average_epochs.is_some() {
            return Err(
                "four_bit with average_epochs: the mean of epochs' weights is off the 4-bit steps they trained on".into(),
            );
        }
        if self.ships_last_epoch() && self.average_epochs.is_some() {
            return Err(
                "shipped_epoch last with average_epochs: a run ships one epoch's weights or the mean of its last epochs, not both".into(),
            );
        }
        let mask = self.mask_weight();
        if !(mask.is_finite() && mask >= 0.0) {
            return Err(format!("mask_loss {mask} must be zero or positive"));
        }
        if mask > 0.0 && !matches!(self.network, NetworkConfig::Lite0(_)) {
            return Err("mask_loss needs Lite0: the from-scratch network has no mask head".into());
        }
        if mask == 0.0 && self.mask_cells.is_some() {
            return Err("mask_cells without a mask_loss: no mask head would read them".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("the learning rate {} must be positive", self.lr));
        }
        self.augment.validate()
    }
}

/// Appends `path: saved X, now Y` to `lines` for each leaf where `saved` and `now` differ
/// (a field one of them lacks counts as `null`).
fn json_differences(
    path: &str,
    saved: &serde_json::Value,
    now: &serde_json::Value,
    lines: &mut Vec<String>,
) {
    use serde_json::Value;
    match (saved, now) {
        (Value::Object(a), Value::Object(b)) => {
            let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
            for key in keys {
                let inner = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let field = |o: &'_ serde_json::Map<String, Value>| {
                    o.get(key).cloned().unwrap_or(Value::Null)
                };
                json_differences(&inner, &field(a), &field(b), lines);
            }
        }
        _ if saved != now => lines.push(format!("{path}: saved {saved}, now {now}")),
        _ => {}
    }
}

impl AugmentConfig {
    /// The probability of random erasing ([`Self::erase`]; 0 when unset).
    pub fn erase_probability(&self) -> f32 {
        self.erase.unwrap_or(0.0)
    }

    /// Checks every strength is one the augmentation can apply.
    pub fn validate(&self) -> Result<(), String> {
        let a = self;
        let within = |name: &str, value: f32, max: f32| {
            if (0.0..=max).contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "augment.{name} = {value} must be between 0 and {max}"
                ))
            }
        };
        within("colour", a.colour, 0.9)?;
        within("cast", a.cast, 1.0)?;
        within("blur", a.blur, 1.0)?;
        within("noise", a.noise, 1.0)?;
        within("jpeg", a.jpeg, 1.0)?;
        within("scale", a.scale, 0.5)?;
        within("erase", a.erase_probability(), 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LesionNetConfig;

    #[test]
    fn defaults_are_the_shipped_recipe() {
        let config = TrainingConfig::new();
        // web/model/report.json records the shipped recipe; src/weights/shipped.rs checks
        // these defaults against it.
        assert!(!config.preprocess.colour_constancy);
        let NetworkConfig::Lite0(network) = &config.network else {
            panic!("the shipped network is the pretrained Lite0");
        };
        assert_eq!((network.dropout, config.frozen_blocks), (0.3, 6));
        assert_eq!(
            (config.epochs, config.batch_size, config.split.seed),
            (17, 32, 42)
        );
        assert_eq!(
            (
                config.preprocess.input_size,
                config.preprocess.test_time_views
            ),
            (128, 8)
        );
        assert_eq!((config.storage, config.four_bit), (Storage::Q8, Some(true)));
        assert_eq!(config.parts(), 2);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn resuming_allows_another_view_count_only() {
        let saved = TrainingConfig::new();
        let views =
            TrainingConfig::new().with_preprocess(saved.preprocess.clone().with_test_time_views(2));
        assert!(views.continues(&saved));
        let stored = TrainingConfig::new().with_storage(Storage::Q8);
        assert!(stored.continues(&saved));
        assert_eq!(stored.with_export_settings_of(&saved), stored);
        assert!(!TrainingConfig::new().with_epochs(5).continues(&saved));
        let wider =
            TrainingConfig::new().with_network(LesionNetConfig::new().with_base_width(48).into());
        assert!(!wider.continues(&saved));
        let dropout = TrainingConfig::new().with_network(Lite0Config::new().into());
        assert!(!dropout.continues(&saved));
    }

    #[test]
    fn serialises_as_it_is() {
        let config = TrainingConfig::new().with_epochs(3);
        let json = serde_json::to_string(&config).unwrap();
        assert!(json.contains("\"network\":{"), "{json}");
        assert_eq!(
            serde_json::from_str::<TrainingConfig>(&json).unwrap(),
            config
        );
    }

    #[test]
    fn impossible_augmentation_is_refused() {
        let bad = TrainingConfig::new().with_augment(AugmentConfig::new().with_jpeg(1.5));
        assert!(bad.validate().unwrap_err().contains("augment.jpeg"));
        let negative = TrainingConfig::new().with_augment(AugmentConfig::new().with_cast(-0.1));
        assert!(negative.validate().is_err());
        let erase = TrainingConfig::new().with_augment(AugmentConfig::new().with_erase(Some(1.1)));
        assert!(erase.validate().unwrap_err().contains("augment.erase"));
        // A recipe written before erasing reads as erasing nothing.
        let mut json = serde_json::to_value(AugmentConfig::new()).unwrap();
        json.as_object_mut().unwrap().remove("erase");
        let old: AugmentConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old.erase_probability(), 0.0);
        let frozen_scratch = TrainingConfig::new()
            .with_network(LesionNetConfig::new().into())
            .with_batch_parts(None)
            .with_frozen_blocks(3);
        assert!(
            frozen_scratch
                .validate()
                .unwrap_err()
                .contains("pretrained")
        );
        let lite0 = TrainingConfig::new();
        assert!(lite0.clone().with_frozen_blocks(0).validate().is_ok());
        assert!(lite0.with_frozen_blocks(17).validate().is_err());
    }

    #[test]
    fn four_bit_training_needs_lite0_its_8bit_storage_and_its_best_epoch() {
        let four_bit = TrainingConfig::new();
        assert!(four_bit.trains_four_bit() && four_bit.validate().is_ok());
        let float = TrainingConfig::new().with_four_bit(Some(false));
        assert!(!float.trains_four_bit() && float.validate().is_ok());
        assert!(float.clone().with_storage(Storage::F16).validate().is_ok());
        let half = four_bit.clone().with_storage(Storage::F16);
        assert!(half.validate().unwrap_err().contains("8-bit storage"));
        let scratch = four_bit
            .clone()
            .with_network(LesionNetConfig::new().into())
            .with_batch_parts(None)
            .with_frozen_blocks(0);
        assert!(scratch.validate().unwrap_err().contains("Lite0"));
        let scratch_q8 = scratch.with_four_bit(None);
        assert!(scratch_q8.validate().unwrap_err().contains("f16"));
        assert!(scratch_q8.with_storage(Storage::F16).validate().is_ok());
        let averaged = four_bit.clone().with_average_epochs(Some(4));
        assert!(averaged.validate().unwrap_err().contains("average_epochs"));
        // Not an export setting: a run cannot switch it on --resume.
        assert!(!float.continues(&four_bit));
    }

    #[test]
    fn a_mask_loss_is_a_lite0_recipes_and_its_cells_need_it() {
        let plain = TrainingConfig::new();
        assert_eq!(
            (plain.mask_weight(), plain.mask_cells()),
            (0.0, MaskCells::Head)
        );
        let masked = plain.clone().with_mask_loss(Some(0.5));
        assert!(masked.validate().is_ok());
        let fine = masked.clone().with_mask_cells(Some(MaskCells::Sixteenth));
        assert!(fine.validate().is_ok());
        assert_eq!(fine.mask_cells(), MaskCells::Sixteenth);
        let negative = masked.clone().with_mask_loss(Some(-0.5));
        assert!(
            negative
                .validate()
                .unwrap_err()
                .contains("zero or positive")
        );
        let cells_alone = plain.with_mask_cells(Some(MaskCells::Sixteenth));
        assert!(
            cells_alone
                .validate()
                .unwrap_err()
                .contains("without a mask_loss")
        );
        let scratch = masked
            .with_network(LesionNetConfig::new().into())
            .with_batch_parts(None)
            .with_frozen_blocks(0)
            .with_four_bit(None)
            .with_storage(Storage::F16);
        assert!(
            scratch
                .validate()
                .unwrap_err()
                .contains("mask_loss needs Lite0")
        );
        // Not an export setting: a run cannot switch it on --resume.
        assert!(!fine.continues(&fine.clone().with_mask_cells(None)));
    }

    #[test]
    fn the_shipped_epoch_is_the_exports_to_change_and_excludes_averaging() {
        let best = TrainingConfig::new();
        assert!(!best.ships_last_epoch());
        let last = best.clone().with_shipped_epoch(Some(ShippedEpoch::Last));
        assert!(last.ships_last_epoch() && last.validate().is_ok());
        assert!(last.continues(&best) && best.continues(&last));
        let float = last.with_four_bit(Some(false));
        let both = float.with_average_epochs(Some(4));
        assert!(both.validate().unwrap_err().contains("shipped_epoch"));
        // A recipe written before the field reads as shipping its best epoch.
        let mut json = serde_json::to_value(TrainingConfig::new()).unwrap();
        json.as_object_mut().unwrap().remove("shipped_epoch");
        let old: TrainingConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old.shipped_epoch, None);
        let named = serde_json::to_value(Some(ShippedEpoch::Last)).unwrap();
        assert_eq!(named, serde_json::json!("last"));
    }

    #[test]
    fn a_refused_resume_names_each_field_that_differs() {
        // A run started under the defaults before run N (15 epochs, float weights).
        let saved = TrainingConfig::new()
            .with_epochs(15)
            .with_four_bit(None)
            .with_storage(Storage::F16);
        let now = TrainingConfig::new()
            .with_preprocess(TrainingConfig::new().preprocess.with_test_time_views(2));
        // The storage and the views are the export's to change; the rest is named.
        assert_eq!(
            now.differences_from(&saved),
            ["epochs: saved 15, now 17", "four_bit: saved null, now true"]
        );
        let scratch = now
            .clone()
            .with_network(LesionNetConfig::new().with_base_width(16).into());
        let lines = scratch.differences_from(&now);
        for field in ["network.architecture", "network.base_width"] {
            assert!(
                lines.iter().any(|l| l.starts_with(&format!("{field}: "))),
                "{lines:?}"
            );
        }
        assert!(now.differences_from(&now).is_empty());
    }

    #[test]
    fn recipes_written_before_four_bit_read_as_float_training() {
        let mut json = serde_json::to_value(TrainingConfig::new()).unwrap();
        json.as_object_mut().unwrap().remove("four_bit");
        let read: TrainingConfig = serde_json::from_value(json).unwrap();
        assert_eq!(read.four_bit, None);
        assert!(!read.trains_four_bit());
    }
}
