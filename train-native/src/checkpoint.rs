//! Atomic checkpoints, so an interrupted run resumes exactly where it stopped (`--resume`).
//!
//! Each epoch writes `model-epochN.bpk` and `optim-epochN.bpk` (and `best-epochN.bpk` when the
//! epoch is the best so far, `average-epochN.bpk` when it is one of the epochs a run averages),
//! then replaces `state.json` (atomically) to point at them, then
//! deletes the files it no longer names. Whenever the run is killed, `state.json` names a
//! complete, consistent set: the best weights it names are always the ones it describes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use skin_lesion::report::EpochRecord;
use skin_lesion::{Network, TrainingConfig, weights};

use crate::fsutil::write_atomic;
use crate::quantise::trained::FourBitLayers;

/// Everything needed to continue a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub config: TrainingConfig,
    /// [`crate::data::Dataset::fingerprint`] of the data the run trains on.
    pub data_fingerprint: String,
    /// Last completed epoch (1-based; 0 before the first).
    pub epoch: usize,
    pub history: Vec<EpochRecord>,
    /// The best epoch so far (its weights are `best-epochN.bpk`) and its validation balanced
    /// accuracy.
    pub best_epoch: usize,
    pub best_score: f64,
    /// Training seconds so far, across resumptions.
    pub seconds: f64,
    pub backend: String,
    pub hardware: String,
    /// Epochs and seconds of the earlier run `--init` started from (empty / 0 without one).
    pub earlier_history: Vec<EpochRecord>,
    pub earlier_seconds: f64,
    /// How many epochs' weights `average-epochN.bpk` (N = `epoch`) is the mean of, for a run
    /// that averages its last epochs (`average_epochs`); 0 before the first of them.
    #[serde(default)]
    pub averaged: usize,
}

impl State {
    /// The state of a run before its first epoch.
    pub fn fresh(
        config: &TrainingConfig,
        data_fingerprint: String,
        backend: &str,
        hardware: &str,
    ) -> Self {
        State {
            config: config.clone(),
            data_fingerprint,
            epoch: 0,
            history: Vec::new(),
            best_epoch: 0,
            best_score: f64::NEG_INFINITY,
            seconds: 0.0,
            backend: backend.into(),
            hardware: hardware.into(),
            earlier_history: Vec::new(),
            earlier_seconds: 0.0,
            averaged: 0,
        }
    }

    /// The epochs the shipped weights are the mean of (first, last), once a run that averages
    /// has averaged any; in [`full_history`](Self::full_history) numbering.
    pub fn averaged_epochs(&self) -> Option<(usize, usize)> {
        let last = self.full_last_epoch();
        (self.averaged > 0).then(|| (last + 1 - self.averaged, last))
    }

    /// All epochs, the earlier stage's first, numbered on from them.
    pub fn full_history(&self) -> Vec<EpochRecord> {
        let offset = self.earlier_history.len();
        let later = self.history.iter().map(|h| EpochRecord {
            epoch: h.epoch + offset,
            ..h.clone()
        });
        self.earlier_history.iter().cloned().chain(later).collect()
    }

    /// The best epoch in [`full_history`](Self::full_history) numbering.
    pub fn full_best_epoch(&self) -> usize {
        self.best_epoch + self.earlier_history.len()
    }

    /// The epoch whose weights the run ships, for a recipe that ships its last epoch rather
    /// than its best (`shipped_epoch`), in [`full_history`](Self::full_history) numbering;
    /// `None` otherwise.
    pub fn last_epoch_shipped(&self) -> Option<usize> {
        (self.config.ships_last_epoch() && self.averaged == 0).then_some(self.full_last_epoch())
    }

    /// The last completed epoch in [`full_history`](Self::full_history) numbering.
    fn full_last_epoch(&self) -> usize {
        self.epoch + self.earlier_history.len()
    }

    /// Training seconds of every stage.
    pub fn total_seconds(&self) -> f64 {
        self.seconds + self.earlier_seconds
    }
}

pub const STATE_FILE: &str = "state.json";

pub fn model_file(dir: &Path, epoch: usize) -> PathBuf {
    dir.join(format!("model-epoch{epoch}.bpk"))
}

pub fn optim_file(dir: &Path, epoch: usize) -> PathBuf {
    dir.join(format!("optim-epoch{epoch}.bpk"))
}

/// The weights of the run's best epoch.
pub fn best_file(dir: &Path, epoch: usize) -> PathBuf {
    dir.join(format!("best-epoch{epoch}.bpk"))
}

/// The mean of the weights of the epochs a run has averaged so far, up to `epoch`.
pub fn average_file(dir: &Path, epoch: usize) -> PathBuf {
    dir.join(format!("average-epoch{epoch}.bpk"))
}

/// The network a run validated, from one of its weight files (`best-epochN.bpk`,
/// `average-epochN.bpk`), as it validated it: a `four_bit` run checkpoints the float weights
/// the optimiser moves, but trains and validates at their 4-bit steps, so those are applied.
/// What the end of a run exports and what the studies in `examples/` score.
/// Without the mask head a run with a mask loss trains: it is not part of what ships.
pub fn validated_network(config: &TrainingConfig, path: &Path) -> Result<Network> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let network = training_network(config, &bytes, &Device::flex())?.without_mask_head();
    if config.trains_four_bit() {
        Ok(FourBitLayers::of(&network, &config.preprocess)?.rounded(network))
    } else {
        Ok(network)
    }
}

/// A run's weights file (a checkpoint, a best epoch's, an average) as the run trains the
/// network: with the mask head of a recipe with a mask loss, whose files carry it.
pub fn training_network(config: &TrainingConfig, bytes: &[u8], device: &Device) -> Result<Network> {
    let network = config.model().init(device);
    let network = if config.mask_weight() > 0.0 {
        network
            .with_mask_head(config.mask_cells(), device)
            .map_err(|e| anyhow!(e))?
    } else {
        network
    };
    Ok(weights::from_bytes_into(network, bytes, device)?)
}

/// The weights file a finished run ships: its best epoch's, its last epoch's for a recipe
/// that ships that (`shipped_epoch`), or the mean of its last epochs' for a run that averages
/// them (`average_epochs`).
pub fn shipped_file(dir: &Path, state: &State) -> PathBuf {
    match state.averaged {
        0 if state.last_epoch_shipped().is_some() => model_file(dir, state.epoch),
        0 => best_file(dir, state.best_epoch),
        _ => average_file(dir, state.epoch),
    }
}

/// One epoch's files.
pub struct Checkpoint<'a> {
    pub model: &'a [u8],
    pub optim: &'a [u8],
    /// The model's weights as the new best, when this epoch is the best so far.
    pub best: Option<&'a [u8]>,
    /// The mean of the averaged epochs' weights, this one's included, when it is one of them.
    pub average: Option<&'a [u8]>,
}

/// Save epoch `state.epoch`'s files, then commit the state that names them, then remove the
/// files it no longer names.
pub fn save(dir: &Path, state: &State, previous_best: usize, files: Checkpoint) -> Result<()> {
    write_atomic(&model_file(dir, state.epoch), files.model)?;
    write_atomic(&optim_file(dir, state.epoch), files.optim)?;
    if let Some(best) = files.best {
        write_atomic(&best_file(dir, state.epoch), best)?;
    }
    if let Some(average) = files.average {
        write_atomic(&average_file(dir, state.epoch), average)?;
    }
    write_atomic(
        &dir.join(STATE_FILE),
        serde_json::to_string_pretty(state)?.as_bytes(),
    )?;
    if state.epoch > 1 {
        let _ = std::fs::remove_file(model_file(dir, state.epoch - 1));
        let _ = std::fs::remove_file(optim_file(dir, state.epoch - 1));
        let _ = std::fs::remove_file(average_file(dir, state.epoch - 1));
    }
    if previous_best != state.best_epoch && previous_best > 0 {
        let _ = std::fs::remove_file(best_file(dir, previous_best));
    }
    Ok(())
}

/// A saved run: its state, the last epoch's model and optimizer bytes, and the mean of the
/// epochs averaged so far (when any are).
pub struct Saved {
    pub state: State,
    pub model: Vec<u8>,
    pub optim: Vec<u8>,
    pub average: Option<Vec<u8>>,
}

/// A run's `state.json` at `path`.
pub fn read_state(path: &Path) -> Result<State> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is damaged or from an older trainer", path.display()))
}

/// The saved state of the run in `dir`, if any, checked against this run's settings and data.
pub fn load(dir: &Path, config: &TrainingConfig, data_fingerprint: &str) -> Result<Option<Saved>> {
    let path = dir.join(STATE_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let state = read_state(&path)?;
    if !config.continues(&state.config) {
        bail!(
            "the run in {} was started with other settings:\n  {}\nresume with the saved values \
             (as options, e.g. --epochs N, or in a --config file), or use another --run-dir",
            dir.display(),
            config.differences_from(&state.config).join("\n  ")
        );
    }
    if state.data_fingerprint != data_fingerprint {
        bail!(
            "the run in {} was trained on other data (the images or their metadata changed since): \
             resuming would mix two data sets; start a new run with another --run-dir",
            dir.display()
        );
    }
    if state.epoch == 0 {
        return Ok(Some(Saved {
            state,
            model: Vec::new(),
            optim: Vec::new(),
            average: None,
        }));
    }
    let model = std::fs::read(model_file(dir, state.epoch))
        .with_context(|| format!("checkpoint of epoch {} is missing", state.epoch))?;
    let optim = std::fs::read(optim_file(dir, state.epoch))
        .with_context(|| format!("optimizer state of epoch {} is missing", state.epoch))?;
    let average = (state.averaged > 0)
        .then(|| std::fs::read(average_file(dir, state.epoch)))
        .transpose()
        .with_context(|| format!("the averaged weights of epoch {} are missing", state.epoch))?;
    Ok(Some(Saved {
        state,
        model,
        optim,
        average,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use skin_lesion::PreprocessConfig;
    use skin_lesion::training::ShippedEpoch;

    #[test]
    fn a_four_bit_run_is_scored_at_its_steps_and_a_float_run_as_saved() {
        let float = TrainingConfig::new()
            .with_four_bit(None)
            .with_preprocess(
                PreprocessConfig::new()
                    .with_input_size(32)
                    .with_resize_size(36),
            )
            .with_classes(Some(skin_lesion::model::ham10000_classes()[..3].to_vec()));
        let four_bit = float.clone().with_four_bit(Some(true));
        let saved = float.model().init(&Device::flex());
        let saved_bytes = weights::to_bytes(saved.clone()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("best-epoch3.bpk");
        std::fs::write(&path, &saved_bytes).unwrap();
        let loaded = |config: &TrainingConfig| values(&validated_network(config, &path).unwrap());
        assert_eq!(loaded(&float), values(&saved));
        let layers = FourBitLayers::of(&saved, &four_bit.preprocess).unwrap();
        let steps = values(&layers.rounded(saved.clone()));
        assert_ne!(steps, values(&saved));
        assert_eq!(loaded(&four_bit), steps);
    }

    /// Every float parameter of `network`, in visiting order.
    fn values(network: &Network) -> Vec<f32> {
        struct Collect(Vec<f32>);
        impl burn::module::ModuleVisitor for Collect {
            fn visit_float<const D: usize>(
                &mut self,
                param: &burn::module::Param<burn::Tensor<D>>,
            ) {
                let data = param.val().into_data().try_into_vec_as::<f32>();
                self.0.extend(data.expect("f32 parameters"));
            }
        }
        let mut collect = Collect(Vec::new());
        burn::module::Module::visit(network, &mut collect);
        collect.0
    }

    #[test]
    fn a_run_ships_its_best_or_last_epoch_or_the_mean_it_averaged() {
        let mut state = State::fresh(&TrainingConfig::new(), "data".into(), "flex", "cpu");
        state.epoch = 17;
        state.best_epoch = 16;
        let dir = Path::new("run");
        assert_eq!(shipped_file(dir, &state), best_file(dir, 16));
        assert_eq!(state.last_epoch_shipped(), None);
        state.config.shipped_epoch = Some(ShippedEpoch::Last);
        assert_eq!(shipped_file(dir, &state), model_file(dir, 17));
        assert_eq!(state.last_epoch_shipped(), Some(17));
        state.averaged = 4;
        assert_eq!(shipped_file(dir, &state), average_file(dir, 17));
    }
}
