//! Loading a model folder: `model.bpk` with `config.json` (and `report.json`) beside it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use skin_lesion::Classifier;
use skin_lesion::report::Report;
use skin_lesion::weights::{CONFIG_FILE, REPORT_FILE};

use crate::evaluate::require;

/// A loaded model and, when present, its report.
pub struct Loaded {
    pub classifier: Classifier,
    pub report: Option<Report>,
}

/// The split a model was trained with.
pub struct SplitSettings {
    pub seed: u64,
    pub val_fraction: f64,
    pub test_fraction: f64,
    pub limit: Option<usize>,
}

impl Loaded {
    /// The split recorded in the report, or the training defaults.
    pub fn split_settings(&self) -> SplitSettings {
        let training = self.report.as_ref().map(|r| &r.model.training);
        let get = |key: &str| training.and_then(|t| t.get(key));
        SplitSettings {
            seed: get("seed").and_then(|v| v.as_u64()).unwrap_or(42),
            val_fraction: get("val_fraction").and_then(|v| v.as_f64()).unwrap_or(0.15),
            test_fraction: get("test_fraction").and_then(|v| v.as_f64()).unwrap_or(0.15),
            limit: get("limit").and_then(|v| v.as_u64()).map(|v| v as usize),
        }
    }
}

fn beside(weights: &Path, name: &str) -> PathBuf {
    weights.parent().unwrap_or(Path::new(".")).join(name)
}

/// Load `weights` and the `config.json` beside it onto the CPU.
pub fn load(weights: &Path) -> Result<Loaded> {
    require(weights, "weights file")?;
    let config_path = beside(weights, CONFIG_FILE);
    require(&config_path, "model config")?;
    let config = std::fs::read_to_string(&config_path).with_context(|| format!("cannot read {}", config_path.display()))?;
    let bytes = std::fs::read(weights).with_context(|| format!("cannot read {}", weights.display()))?;
    let classifier = Classifier::from_bytes(&config, &bytes, Device::flex()).with_context(|| format!("cannot load {}", weights.display()))?;
    let report_path = beside(weights, REPORT_FILE);
    let report = if report_path.exists() { Some(read_report(&report_path)?) } else { None };
    Ok(Loaded { classifier, report })
}

/// Parse a `report.json`.
pub fn read_report(path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid report", path.display()))
}
