//! Writing the browser model: `model.bpk`, `config.json`, `report.json` and the plots.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use sha2::{Digest, Sha256};
use skin_lesion::metrics::Metrics;
use skin_lesion::preprocess::{MEAN, STD};
use skin_lesion::report::{Calibration, ModelCard, Normalization, Report};
use skin_lesion::weights::{self, CONFIG_FILE, REPORT_FILE, WEIGHTS_FILE};
use skin_lesion::{LesionNetConfig, classes::class_codes};

use crate::checkpoint::{State, write_atomic};
use crate::cli::TrainArgs;
use crate::data::{Dataset, Split, SplitName};
use crate::plots;

/// File names of the plots inside the model folder.
pub const CURVES_FILE: &str = "training_curves.svg";
pub const CONFUSION_FILE: &str = "confusion_matrix.svg";

pub struct Export<'a> {
    pub args: &'a TrainArgs,
    pub state: &'a State,
    pub dataset: &'a Dataset,
    pub split: &'a Split,
    pub config: &'a LesionNetConfig,
    pub weights: &'a [u8],
    pub val: &'a Metrics,
    pub test: &'a Metrics,
    pub calibration: Option<Calibration>,
    pub out_dir: &'a Path,
}

/// Build the report (everything but the metrics comes from the run itself).
pub fn report(e: &Export) -> Report {
    let mut split_counts = BTreeMap::new();
    let mut split_lesions = BTreeMap::new();
    for name in [SplitName::Train, SplitName::Val, SplitName::Test] {
        let part = e.split.part(name);
        split_counts.insert(name.as_str().to_string(), e.dataset.class_counts(part.iter().copied()));
        let lesions: std::collections::HashSet<_> = part.iter().map(|&i| &e.dataset.records[i].lesion_id).collect();
        split_lesions.insert(name.as_str().to_string(), lesions.len());
    }
    let model = e.config.init(&burn::tensor::Device::flex());
    let hyper = &e.args.hyper;
    Report {
        metrics: e.test.clone(),
        history: e.state.full_history(),
        model: ModelCard {
            architecture: e.config.architecture_name(),
            input_size: [3, e.config.input_size, e.config.input_size],
            preprocessing: format!(
                "decode (EXIF orientation applied) → central square → resize to {r}x{r} (triangle filter) → central {s}x{s} crop → RGB/255, minus mean, over std{views}",
                r = e.config.resize_size,
                s = e.config.input_size,
                views = match e.config.views() {
                    1 => String::new(),
                    n => format!("; the network's logits are averaged over {n} flips/rotations of the crop"),
                }
            ),
            normalization: Normalization { mean: MEAN, std: STD },
            test_time_views: e.config.views(),
            parameters: burn::module::Module::num_params(&model),
            weights_file: WEIGHTS_FILE.into(),
            weights_bytes: e.weights.len() as u64,
            weights_sha256: format!("{:x}", Sha256::digest(e.weights)),
            training_seconds: (e.state.total_seconds() * 10.0).round() / 10.0,
            hardware: e.state.hardware.clone(),
            backend: e.state.backend.clone(),
            dataset: format!(
                "HAM10000 (Tschandl et al. 2018, doi:10.1038/sdata.2018.161), {} images of {} lesions",
                e.dataset.records.len(),
                split_lesions.values().sum::<usize>()
            ),
            dataset_license: "CC BY-NC-SA 4.0".into(),
            split_method: format!(
                "grouped by lesion_id (no lesion in two parts), stratified by class; {:.0}% / {:.0}% / {:.0}% of lesions for train / validation / test; the test split is used once, after model selection on validation balanced accuracy",
                100.0 * (1.0 - hyper.val_fraction - hyper.test_fraction),
                100.0 * hyper.val_fraction,
                100.0 * hyper.test_fraction
            ),
            split_seed: hyper.seed,
            split_counts,
            split_lesions,
            training: serde_json::to_value(hyper).expect("hyper-parameters serialise"),
            best_epoch: e.state.full_best_epoch(),
            validation: e.val.clone(),
            calibration: e.calibration.clone(),
        },
    }
}

/// Write everything into `out_dir`, each file atomically.
pub fn export(e: &Export) -> Result<()> {
    let report = report(e);
    let dir = e.out_dir;
    write_atomic(&dir.join(WEIGHTS_FILE), e.weights)?;
    write_atomic(&dir.join(CONFIG_FILE), weights::config_to_json(e.config).as_bytes())?;
    write_atomic(&dir.join(REPORT_FILE), serde_json::to_string_pretty(&report)?.as_bytes())?;
    write_plots(&report, dir)?;
    eprintln!("exported {WEIGHTS_FILE}, {CONFIG_FILE}, {REPORT_FILE}, {CURVES_FILE} and {CONFUSION_FILE} to {}", dir.display());
    Ok(())
}

/// Draw `report`'s training curves and confusion matrix into `dir`.
pub fn write_plots(report: &Report, dir: &Path) -> Result<()> {
    write_atomic(&dir.join(CURVES_FILE), plots::training_curves(&report.history)?.as_bytes())?;
    write_atomic(&dir.join(CONFUSION_FILE), plots::confusion_matrix(&report.metrics, &class_codes())?.as_bytes())?;
    Ok(())
}

/// `train-native plot`: redraw the plots from a model folder's report.json.
pub fn replot(args: &crate::cli::PlotArgs) -> Result<std::process::ExitCode> {
    let dir = args.model.clone().unwrap_or_else(crate::paths::model_dir);
    let report = crate::model_files::read_report(&dir.join(REPORT_FILE))?;
    write_plots(&report, &dir)?;
    eprintln!("redrew {CURVES_FILE} and {CONFUSION_FILE} in {}", dir.display());
    Ok(std::process::ExitCode::SUCCESS)
}
