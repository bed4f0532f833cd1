//! Atomic checkpoints, so an interrupted run resumes where it stopped (`--resume`).
//!
//! Each epoch writes `model-epochN.bpk` and `optim-epochN.bpk`, then replaces `state.json`
//! (atomically) to point at them, then deletes the previous epoch's files. Whenever the run is
//! killed, `state.json` names a complete, consistent pair.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use skin_lesion::report::EpochRecord;

use crate::cli::Hyper;

/// Everything needed to continue a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub hyper: Hyper,
    /// Last completed epoch (1-based; 0 before the first).
    pub epoch: usize,
    pub history: Vec<EpochRecord>,
    /// Epoch of `best.bpk` and its validation balanced accuracy.
    pub best_epoch: usize,
    pub best_score: f64,
    /// Training seconds so far, across resumptions.
    pub seconds: f64,
    pub backend: String,
    pub hardware: String,
    /// Epochs and seconds of the earlier run `--init` started from (empty / 0 without one).
    #[serde(default)]
    pub earlier_history: Vec<EpochRecord>,
    #[serde(default)]
    pub earlier_seconds: f64,
}

impl State {
    /// All epochs, the earlier stage's first, numbered on from them.
    pub fn full_history(&self) -> Vec<EpochRecord> {
        let offset = self.earlier_history.len();
        let later = self.history.iter().map(|h| EpochRecord { epoch: h.epoch + offset, ..h.clone() });
        self.earlier_history.iter().cloned().chain(later).collect()
    }

    /// The best epoch in [`full_history`](Self::full_history) numbering.
    pub fn full_best_epoch(&self) -> usize {
        self.best_epoch + self.earlier_history.len()
    }

    /// Training seconds of every stage.
    pub fn total_seconds(&self) -> f64 {
        self.seconds + self.earlier_seconds
    }
}

pub const STATE_FILE: &str = "state.json";
pub const BEST_FILE: &str = "best.bpk";

/// Write `bytes` to `path` atomically (temp file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub fn model_file(dir: &Path, epoch: usize) -> PathBuf {
    dir.join(format!("model-epoch{epoch}.bpk"))
}

pub fn optim_file(dir: &Path, epoch: usize) -> PathBuf {
    dir.join(format!("optim-epoch{epoch}.bpk"))
}

/// Save epoch `state.epoch`'s model and optimizer, then commit the state.
pub fn save(dir: &Path, state: &State, model: &[u8], optim: &[u8]) -> Result<()> {
    write_atomic(&model_file(dir, state.epoch), model)?;
    write_atomic(&optim_file(dir, state.epoch), optim)?;
    write_atomic(&dir.join(STATE_FILE), serde_json::to_string_pretty(state)?.as_bytes())?;
    if state.epoch > 1 {
        let _ = std::fs::remove_file(model_file(dir, state.epoch - 1));
        let _ = std::fs::remove_file(optim_file(dir, state.epoch - 1));
    }
    Ok(())
}

/// The saved state of the run in `dir`, if any, checked against this run's settings.
pub fn load(dir: &Path, hyper: &Hyper) -> Result<Option<(State, Vec<u8>, Vec<u8>)>> {
    let path = dir.join(STATE_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let state: State = serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))?;
    if &state.hyper != hyper {
        bail!(
            "the run in {} was started with other settings:\n  saved: {}\n  now:   {}\nresume with the same options, or use another --run-dir",
            dir.display(),
            serde_json::to_string(&state.hyper)?,
            serde_json::to_string(hyper)?
        );
    }
    if state.epoch == 0 {
        return Ok(Some((state, Vec::new(), Vec::new())));
    }
    let model = std::fs::read(model_file(dir, state.epoch)).with_context(|| format!("checkpoint of epoch {} is missing", state.epoch))?;
    let optim = std::fs::read(optim_file(dir, state.epoch)).with_context(|| format!("optimizer state of epoch {} is missing", state.epoch))?;
    Ok(Some((state, model, optim)))
}
