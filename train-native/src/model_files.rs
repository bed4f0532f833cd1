//! Loading a model folder: `model.bpk` with `config.json` (and `report.json`) beside it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use skin_lesion::Classifier;
use skin_lesion::report::Report;
use skin_lesion::training::SplitConfig;
use skin_lesion::weights::{CONFIG_FILE, REPORT_FILE};

use crate::paths::require;

/// A loaded model and, when present, its report.
pub struct Loaded {
    pub classifier: Classifier,
    pub report: Option<Report>,
}

impl Loaded {
    /// The split recorded in the report, or the training default.
    pub fn split_config(&self) -> SplitConfig {
        self.report
            .as_ref()
            .map_or_else(SplitConfig::new, |r| r.model.training.split.clone())
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
    let config = std::fs::read_to_string(&config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let bytes =
        std::fs::read(weights).with_context(|| format!("cannot read {}", weights.display()))?;
    let classifier = Classifier::from_files(&config, &bytes, Device::flex())
        .with_context(|| format!("cannot load {}", weights.display()))?;
    let report_path = beside(weights, REPORT_FILE);
    let report = if report_path.exists() {
        Some(read_report(&report_path)?)
    } else {
        None
    };
    Ok(Loaded { classifier, report })
}

/// The shipped model, compiled into the binary: what `predict` and `explain` use when run
/// outside a checkout, where no `web/model/` is found.
const BUILT_IN_CONFIG: &str = include_str!("../../web/model/config.json");
const BUILT_IN_WEIGHTS: &[u8] = include_bytes!("../../web/model/model.bpk");
const BUILT_IN_REPORT: &str = include_str!("../../web/model/report.json");

/// `weights` when given; else the checkout's `web/model/model.bpk` when there is one (a
/// retrained model there wins); else the built-in shipped model. Also says which it loaded.
pub fn load_or_built_in(weights: Option<&Path>) -> Result<(Loaded, String)> {
    let default = crate::paths::weights_or_default(None);
    match weights {
        Some(path) => Ok((load(path)?, path.display().to_string())),
        None if default.exists() => Ok((load(&default)?, default.display().to_string())),
        None => {
            let classifier =
                Classifier::from_files(BUILT_IN_CONFIG, BUILT_IN_WEIGHTS, Device::flex())
                    .context("the built-in model does not load")?;
            let report = serde_json::from_str(BUILT_IN_REPORT).context("the built-in report")?;
            let loaded = Loaded {
                classifier,
                report: Some(report),
            };
            Ok((loaded, "the built-in model".into()))
        }
    }
}

/// Parse a `report.json`.
pub fn read_report(path: &Path) -> Result<Report> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid report", path.display()))
}

/// A model folder's files as the studies in `examples/` read them: its report, the
/// `config.json` text and the `model.bpk` bytes.
pub struct Folder {
    pub dir: PathBuf,
    pub report: Report,
    pub config_json: String,
    pub weights: Vec<u8>,
}

impl Folder {
    /// The folder named by the first command-line argument, or the shipped model's.
    pub fn from_args() -> Result<Self> {
        let dir = std::env::args()
            .nth(1)
            .map_or_else(crate::paths::model_dir, PathBuf::from);
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
        };
        let config_json = String::from_utf8(read(CONFIG_FILE)?)
            .with_context(|| format!("{CONFIG_FILE} is not UTF-8"))?;
        Ok(Self {
            report: read_report(&dir.join(REPORT_FILE))?,
            config_json,
            weights: read(skin_lesion::weights::WEIGHTS_FILE)?,
            dir,
        })
    }
}
