//! Default locations, relative to the workspace this binary was built from.

use std::path::{Path, PathBuf};

/// The workspace root (the folder holding `web/` and `train-native/`).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("train-native sits in the workspace").to_path_buf()
}

/// The data set: `$HAM10000_DIR`, else `../shared/ham10000` beside the workspace.
pub fn default_data() -> PathBuf {
    match std::env::var_os("HAM10000_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace().join("../shared/ham10000"),
    }
}

/// The shipped model folder the page loads: `web/model`.
pub fn model_dir() -> PathBuf {
    workspace().join("web/model")
}

/// Where training runs keep checkpoints.
pub fn default_run_dir() -> PathBuf {
    workspace().join("train-native/runs/default")
}

/// `weights`, or the shipped `web/model/model.bpk`.
pub fn weights_or_default(weights: Option<&Path>) -> PathBuf {
    weights.map_or_else(|| model_dir().join(skin_lesion::weights::WEIGHTS_FILE), Path::to_path_buf)
}
