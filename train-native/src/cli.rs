//! Command-line arguments. `train` is the default subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};
use skin_lesion::LesionNetConfig;
use skin_lesion::model::views::VIEW_COUNTS;

use crate::backend::BackendChoice;

#[derive(Debug, Parser)]
#[command(
    name = "train-native",
    version,
    about = "Train, evaluate and run the HAM10000 skin-lesion classifier on a desktop GPU or CPU",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `train`, the default subcommand.
    #[command(flatten)]
    pub train: TrainArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train on HAM10000, evaluate on the held-out test split and export the browser model.
    Train(TrainArgs),
    /// Evaluate weights on a split (or every image) of a HAM10000-layout folder.
    Evaluate(EvaluateArgs),
    /// Classify photos and print the seven class probabilities.
    Predict(PredictArgs),
    /// Redraw the plots of a model folder from its report.json.
    Plot(PlotArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PlotArgs {
    /// The model folder holding report.json [default: web/model].
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

/// Where the data, checkpoints and outputs live.
#[derive(Debug, Clone, Args)]
pub struct PathArgs {
    /// HAM10000 folder: HAM10000_metadata.csv plus the images anywhere below it
    /// [default: $HAM10000_DIR, else ../shared/ham10000 beside the workspace].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Folder for decoded-image caches [default: train-native/runs/cache].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Decode every image afresh instead of using the cache.
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    /// Checkpoint folder of this run [default: train-native/runs/default].
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Where to export the trained model, report and plots [default: web/model].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run from its last checkpoint in --run-dir.
    #[arg(long)]
    pub resume: bool,
    /// Where to train.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Ship the best epoch as it is, without per-class decision offsets fitted on validation.
    #[arg(long)]
    pub no_calibrate: bool,
    /// Flips/rotations of each photo the exported model averages (1, 2, 4 or 8). Only the
    /// export uses it (per-epoch validation looks at one view), so a finished run can be
    /// re-exported with another count through --resume.
    #[arg(long, default_value_t = 8, value_parser = parse_views)]
    pub views: usize,
    /// Stop after this epoch as if interrupted (tests the resume path).
    #[arg(long, hide = true)]
    pub stop_after_epoch: Option<usize>,
    #[command(flatten)]
    pub hyper: Hyper,
}

/// Everything that determines the trained model. A resumed run must use the same values.
#[derive(Debug, Clone, Args, Serialize, Deserialize, PartialEq)]
pub struct Hyper {
    /// Epochs to train.
    #[arg(long, default_value_t = 90)]
    pub epochs: usize,
    /// Images per training step.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Images drawn per epoch (about half the training split: more, shorter epochs give
    /// finer-grained model selection on validation).
    #[arg(long, default_value_t = 3500)]
    pub epoch_size: usize,
    /// Peak learning rate of AdamW (cosine decay after a linear warm-up).
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Epochs of linear learning-rate warm-up.
    #[arg(long, default_value_t = 1)]
    pub warmup_epochs: usize,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f32,
    /// Label smoothing of the cross-entropy loss.
    #[arg(long, default_value_t = 0.05)]
    pub label_smoothing: f32,
    /// Class balance: classes are sampled in proportion to count^p and the loss weighs them by
    /// count^-p, so every class counts equally in expectation. 1 = natural sampling with
    /// inverse-frequency loss weights, 0 = fully balanced sampling with plain loss.
    #[arg(long, default_value_t = 0.5)]
    pub sampling_power: f64,
    /// Brightness/contrast/saturation jitter (0.15 = ±15%); flips, rotations and random crops
    /// are always on.
    #[arg(long, default_value_t = 0.15)]
    pub color_jitter: f32,
    /// Seed of the split, the initial weights and the sampling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of lesions held out for validation (model selection).
    #[arg(long, default_value_t = 0.15)]
    pub val_fraction: f64,
    /// Fraction of lesions held out for the final test.
    #[arg(long, default_value_t = 0.15)]
    pub test_fraction: f64,
    /// Start from these weights (a `best.bpk` of an earlier run) instead of random ones: a
    /// second stage with a fresh learning-rate cycle. The earlier run's history and training
    /// time, read from the `state.json` beside the file, are carried into the report.
    #[arg(long, value_name = "FILE")]
    pub init: Option<std::path::PathBuf>,
    /// Use only the first N metadata rows (quick experiments and smoke tests).
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// The architecture.
#[derive(Debug, Clone, Args, Serialize, Deserialize, PartialEq)]
pub struct ModelArgs {
    /// Side of the network input in pixels.
    #[arg(long, default_value_t = 64)]
    pub input_size: usize,
    /// Side the photo's central square is resized to before cropping.
    #[arg(long, default_value_t = 72)]
    pub resize_size: usize,
    /// Channels of the first stage (doubled at each later stage).
    #[arg(long, default_value_t = 32)]
    pub base_width: usize,
    /// Number of stages.
    #[arg(long, default_value_t = 4)]
    pub stages: usize,
    /// Convolutions per stage.
    #[arg(long, default_value_t = 1)]
    pub convs_per_stage: usize,
    /// Dropout before the classifier.
    #[arg(long, default_value_t = 0.3)]
    pub dropout: f64,
    /// Stride of a patchify stem before the first stage (1 = no stem).
    #[arg(long, default_value_t = 2)]
    #[serde(default = "no_stem")]
    pub stem: usize,
}

/// `--views`: one of [`VIEW_COUNTS`].
fn parse_views(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if VIEW_COUNTS.contains(&n) => Ok(n),
        _ => Err(format!("must be one of {VIEW_COUNTS:?}")),
    }
}

/// What runs recorded before `--stem` existed used.
fn no_stem() -> usize {
    1
}

impl ModelArgs {
    pub fn config(&self) -> LesionNetConfig {
        LesionNetConfig::new()
            .with_input_size(self.input_size)
            .with_resize_size(self.resize_size)
            .with_base_width(self.base_width)
            .with_stages(self.stages)
            .with_convs_per_stage(self.convs_per_stage)
            .with_dropout(self.dropout)
            .with_stem((self.stem > 1).then_some(self.stem))
    }
}

#[derive(Debug, Clone, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    /// Which images: a split of the lesion-grouped split, or every image in --data.
    #[arg(long, value_enum, default_value_t = EvalSplit::Test)]
    pub split: EvalSplit,
    /// Weights file (burnpack); config.json is read beside it [default: web/model/model.bpk].
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Write the metrics as JSON here.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Split seed and fractions [default: those in the report.json beside the weights].
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub val_fraction: Option<f64>,
    #[arg(long)]
    pub test_fraction: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalSplit {
    Test,
    Val,
    Train,
    /// Every image in the folder (an external test set).
    All,
}

#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// Print one JSON object per image instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Weights file (burnpack); config.json is read beside it [default: web/model/model.bpk].
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Photos to classify.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
}
