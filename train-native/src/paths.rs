//! Default locations, found at run time from the working directory.
//!
//! Why not from where the binary was compiled: a binary built in one checkout and run in
//! another read the first checkout's model and data. The workspace is the nearest folder at
//! or above the working directory that holds both `web/model` and `train-native`; outside any
//! checkout, the working directory itself.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The workspace root (the folder holding `web/` and `train-native/`).
pub fn workspace() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    workspace_from(&cwd).unwrap_or(cwd)
}

/// The nearest folder at or above `start` that looks like this project's workspace.
pub fn workspace_from(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("web/model").is_dir() && dir.join("train-native").is_dir())
        .map(Path::to_path_buf)
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

/// Decoded-image caches, beside the training runs and out of git.
pub fn default_cache_dir() -> PathBuf {
    workspace().join("train-native/runs/cache")
}

/// The out-of-distribution picture set, where `train-native/ood/build.py` writes it.
pub fn default_ood_dir() -> PathBuf {
    workspace().join("train-native/runs/ood")
}

/// `weights`, or the shipped `web/model/model.bpk`.
pub fn weights_or_default(weights: Option<&Path>) -> PathBuf {
    weights.map_or_else(
        || model_dir().join(skin_lesion::weights::WEIGHTS_FILE),
        Path::to_path_buf,
    )
}

/// A friendlier error than the OS's when a path the user gave does not exist.
pub fn require(path: &Path, what: &str) -> Result<()> {
    if !path.exists() {
        bail!("{what} {} does not exist", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_is_found_above_the_working_directory() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("web/model")).unwrap();
        std::fs::create_dir_all(root.path().join("train-native/src")).unwrap();
        let inside = root.path().join("train-native/src");
        assert_eq!(workspace_from(&inside).as_deref(), Some(root.path()));
        let outside = tempfile::tempdir().unwrap();
        assert_eq!(workspace_from(outside.path()), None);
    }
}
