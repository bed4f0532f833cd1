//! Where a run's weights start: ImageNet's for a pretrained architecture, random ones for the
//! from-scratch network, or `--init`'s: a run's `best-epochN.bpk` or a model folder (its
//! `model.bpk`), carrying the earlier run's history and time. A network trained on another
//! class list keeps everything but its classifier, which starts afresh for the new classes:
//! fine-tuning the shipped model on a few hundred photos of one's own.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::prelude::*;
use skin_lesion::model::ClassName;
use skin_lesion::report::StartedFrom;
use skin_lesion::weights::{self, CONFIG_FILE, REPORT_FILE, WEIGHTS_FILE};
use skin_lesion::{Network, TrainingConfig};

use crate::checkpoint::{self, State};
use crate::pretrained;

/// The weights file `--init` names: a model folder's `model.bpk`, or the file itself.
pub fn weights_file(init: &Path) -> PathBuf {
    if init.is_dir() {
        init.join(WEIGHTS_FILE)
    } else {
        init.to_path_buf()
    }
}

/// The network a run starts from, and its state with the earlier run's history and time.
pub fn start(
    config: &TrainingConfig,
    fresh: Network,
    mut state: State,
    device: &Device,
) -> Result<(Network, State)> {
    let Some(init) = &config.init else {
        let dir = pretrained::default_dir();
        return Ok((
            pretrained::starting_network(&config.model(), fresh, &dir, device)?,
            state,
        ));
    };
    let file = weights_file(init);
    let bytes =
        std::fs::read(&file).with_context(|| format!("cannot read --init {}", file.display()))?;
    let own = own_classes(&file)?.unwrap_or_else(|| config.model().classes);
    let wanted = config.model();
    // A shipped model.bpk carries a feature density the network has no place for: left out.
    let model =
        weights::network_from_bytes(&wanted.clone().with_classes(own.clone()), &bytes, device)
            .with_context(|| format!("cannot start from {}", file.display()))?;
    let model = if own == wanted.classes {
        model
    } else {
        eprintln!(
            "{} answers with {} classes; a new classifier starts for the {} of this data",
            file.display(),
            own.len(),
            wanted.classes.len()
        );
        model.with_new_head(wanted.classes.len(), config.network.dropout(), device)
    };
    carry_history(&file, &mut state)?;
    eprintln!(
        "starting from {} ({} earlier epochs)",
        file.display(),
        state.earlier_history.len()
    );
    Ok((model, state))
}

/// The classes of the network in `file`: its model folder's `config.json`'s, or those of the
/// run whose `state.json` is beside it; `None` when neither is there.
fn own_classes(file: &Path) -> Result<Option<Vec<ClassName>>> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let config = dir.join(CONFIG_FILE);
    if config.is_file() {
        let text = std::fs::read_to_string(&config)
            .with_context(|| format!("cannot read {}", config.display()))?;
        let config = weights::config_from_json(&text)
            .with_context(|| format!("{} is not a model's config", config.display()))?;
        return Ok(Some(config.classes));
    }
    let state = dir.join(checkpoint::STATE_FILE);
    if state.is_file() {
        return Ok(Some(checkpoint::read_state(&state)?.config.model().classes));
    }
    Ok(None)
}

/// The earlier run's history and training time, from the `state.json` beside `file` or, in a
/// model folder, its `report.json`.
fn carry_history(file: &Path, state: &mut State) -> Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let (run_state, report) = (dir.join(checkpoint::STATE_FILE), dir.join(REPORT_FILE));
    if run_state.is_file() {
        let earlier = checkpoint::read_state(&run_state)?;
        // All of the earlier run's time counts, even the epochs after its best.
        state.earlier_history = earlier.full_history();
        state.earlier_seconds = earlier.total_seconds();
    } else if report.is_file() {
        let earlier = crate::model_files::read_report(&report)?;
        state.earlier_history = earlier.history;
        state.earlier_seconds = earlier.model.training_seconds;
    }
    Ok(())
}

/// What the report says a run with `--init` started from.
pub fn started_from(config: &TrainingConfig) -> Result<Option<StartedFrom>> {
    let Some(init) = &config.init else {
        return Ok(None);
    };
    let file = weights_file(init);
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let classes = own_classes(&file)?.unwrap_or_else(|| config.model().classes);
    let new_head = classes != config.model().classes;
    Ok(Some(StartedFrom {
        weights: file.display().to_string(),
        sha256: weights::sha256(&bytes),
        classes: classes.into_iter().map(|c| c.code).collect(),
        new_head,
    }))
}
