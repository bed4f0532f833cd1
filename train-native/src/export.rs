//! Writing the browser model: `model.bpk`, `config.json`, `report.json` and the plots, as one
//! set that is never seen half-written.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use skin_lesion::ModelConfig;
use skin_lesion::metrics::Metrics;
use skin_lesion::preprocess::{MEAN, STD};
use skin_lesion::report::{DecisionOffsets, ModelCard, Normalization, Report, Sections};
use skin_lesion::weights::{self, CONFIG_FILE, REPORT_FILE, WEIGHTS_FILE};

use crate::checkpoint::State;
use crate::data::Prepared;
use crate::data::SplitName;
use crate::fsutil::write_atomic;
use crate::plots;

/// File names of the plots inside the model folder (the page shows these very files).
pub const CURVES_FILE: &str = "training_curves.svg";
pub const CONFUSION_FILE: &str = "confusion_matrix.svg";
pub const RELIABILITY_FILE: &str = "reliability.svg";
pub const RISK_COVERAGE_FILE: &str = "risk_coverage.svg";

/// What a finished run ships.
pub struct Exported {
    /// The config, signed for `weights`.
    pub config: ModelConfig,
    /// The shipped (f16) weights.
    pub weights: Vec<u8>,
    /// Validation and test figures of exactly these weights.
    pub val: Metrics,
    pub test: Metrics,
    pub offsets: Option<DecisionOffsets>,
    /// The report's sections beyond the headline metrics.
    pub sections: Sections,
}

/// Build the report: the test figures, the run's history and the model card.
pub fn report(e: &Exported, state: &State, data: &Prepared) -> Result<Report> {
    let (dataset, split) = (&data.dataset, &data.split);
    let mut split_counts = BTreeMap::new();
    let mut split_lesions = BTreeMap::new();
    for name in [SplitName::Train, SplitName::Val, SplitName::Test] {
        let part = split.part(name);
        split_counts.insert(
            name.as_str().to_string(),
            dataset.class_counts(part.iter().copied()),
        );
        let lesions: HashSet<_> = part
            .iter()
            .map(|&i| &dataset.records[i].lesion_id)
            .collect();
        split_lesions.insert(name.as_str().to_string(), lesions.len());
    }
    let config = &e.config;
    let training = &state.config;
    let (val_fraction, test_fraction) = (training.split.val_fraction, training.split.test_fraction);
    Ok(Report {
        metrics: e.test.clone(),
        sections: e.sections.clone(),
        history: state.full_history(),
        model: ModelCard {
            architecture: config.architecture_name(),
            input_size: [
                3,
                config.preprocess.input_size,
                config.preprocess.input_size,
            ],
            preprocessing: preprocessing(config),
            normalization: Normalization {
                mean: MEAN,
                std: STD,
            },
            test_time_views: config.preprocess.test_time_views,
            parameters: burn::module::Module::num_params(
                &config.init(&burn::tensor::Device::flex()),
            ),
            weights_file: WEIGHTS_FILE.into(),
            weights_bytes: e.weights.len() as u64,
            weights_sha256: weights::sha256(&e.weights),
            training_seconds: (state.total_seconds() * 10.0).round() / 10.0,
            hardware: state.hardware.clone(),
            backend: state.backend.clone(),
            dataset: dataset.description(),
            dataset_license: dataset.licence(),
            split_method: format!(
                "grouped by lesion_id (no lesion in two parts), stratified by class; {:.0}% / {:.0}% / {:.0}% of lesions for train / validation / test; the test split is used once, after model selection on validation balanced accuracy",
                100.0 * (1.0 - val_fraction - test_fraction),
                100.0 * val_fraction,
                100.0 * test_fraction
            ),
            split_seed: training.split.seed,
            split_counts,
            split_lesions,
            training: training.clone(),
            starting_weights: crate::pretrained::starting_weights(&training.network),
            started_from: crate::commands::train::init::started_from(training)?,
            best_epoch: state.full_best_epoch(),
            averaged_epochs: state.averaged_epochs().map(|(first, last)| [first, last]),
            last_epoch_shipped: state.last_epoch_shipped(),
            validation: e.val.clone(),
            decision_offsets: e.offsets.clone(),
            answer: config.answer.clone(),
        },
    })
}

/// How a photo becomes the network's input, in words.
fn preprocessing(config: &ModelConfig) -> String {
    let views = match config.preprocess.test_time_views {
        1 => String::new(),
        n => format!("; the network's logits are averaged over {n} flips/rotations of the crop"),
    };
    let constancy = if config.preprocess.colour_constancy {
        " → colour constancy (Shades of Gray, p = 6, to HAM10000's average light)"
    } else {
        ""
    };
    format!(
        "decode (EXIF orientation applied) → central square → resize to {r}x{r} (triangle filter){constancy} → central {s}x{s} crop → RGB/255, minus mean, over std{views}",
        r = config.preprocess.resize_size,
        s = config.preprocess.input_size,
    )
}

/// Write the model, config, report and plots into `out`.
pub fn export(e: &Exported, state: &State, data: &Prepared, out: &Path) -> Result<()> {
    let report = report(e, state, data)?;
    let mut files = vec![
        (WEIGHTS_FILE.to_string(), e.weights.clone()),
        (
            CONFIG_FILE.to_string(),
            weights::config_to_json(&e.config).into_bytes(),
        ),
        (
            REPORT_FILE.to_string(),
            serde_json::to_string_pretty(&report)?.into_bytes(),
        ),
    ];
    files.extend(plot_files(&report)?);
    publish(out, &files)?;
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    eprintln!("exported {} to {}", names.join(", "), out.display());
    Ok(())
}

/// Every plot of `report`, as (file name, SVG).
pub fn plot_files(report: &Report) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = vec![
        (
            CURVES_FILE.into(),
            plots::training_curves(&report.history)?.into_bytes(),
        ),
        (
            CONFUSION_FILE.into(),
            plots::confusion_matrix(&report.metrics, &report.metrics.classes)?.into_bytes(),
        ),
        (
            RELIABILITY_FILE.into(),
            plots::reliability(&report.sections.calibration)?.into_bytes(),
        ),
    ];
    if let Some(selective) = &report.sections.selective {
        files.push((
            RISK_COVERAGE_FILE.into(),
            plots::risk_coverage(selective)?.into_bytes(),
        ));
    }
    Ok(files)
}

/// Replace `dir` with a folder holding exactly `files` (and any other files `dir` already
/// held), so that readers see the old set or the new one, never a mix: the new set is written
/// and flushed in a sibling folder, which then takes `dir`'s place by two renames.
pub fn publish(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    if dir.is_dir()
        && dir
            .read_dir()?
            .any(|e| e.is_ok_and(|e| e.file_type().is_ok_and(|t| t.is_dir())))
    {
        bail!(
            "{} holds sub-folders: export into a folder of its own",
            dir.display()
        );
    }
    let staging = sibling(dir, "new")?;
    let retired = sibling(dir, "old")?;
    for stale in [&staging, &retired] {
        if stale.exists() {
            std::fs::remove_dir_all(stale)
                .with_context(|| format!("cannot remove {}", stale.display()))?;
        }
    }
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let ours: HashSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    if dir.is_dir() {
        // Keep what else the folder holds (a README, other plots): it moves with the set.
        for entry in
            std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let entry = entry?;
            let name = entry.file_name();
            if entry.file_type()?.is_dir() || ours.contains(name.to_string_lossy().as_ref()) {
                continue;
            }
            std::fs::copy(entry.path(), staging.join(&name))
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    for (name, bytes) in files {
        write_atomic(&staging.join(name), bytes)?;
    }
    if dir.exists() {
        std::fs::rename(dir, &retired)
            .with_context(|| format!("cannot move {} aside", dir.display()))?;
    }
    std::fs::rename(&staging, dir)
        .with_context(|| format!("cannot move the new model into {}", dir.display()))?;
    if retired.exists() {
        std::fs::remove_dir_all(&retired)
            .with_context(|| format!("cannot remove {}", retired.display()))?;
    }
    Ok(())
}

/// `dir` with `.suffix` appended to its name, beside it.
fn sibling(dir: &Path, suffix: &str) -> Result<PathBuf> {
    let name = dir
        .file_name()
        .with_context(|| format!("{} is not a folder name", dir.display()))?;
    Ok(dir.with_file_name(format!("{}.{suffix}", name.to_string_lossy())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(version: &str) -> Vec<(String, Vec<u8>)> {
        ["model.bpk", "config.json"]
            .iter()
            .map(|n| (n.to_string(), format!("{n} {version}").into_bytes()))
            .collect()
    }

    #[test]
    fn publishing_replaces_the_set_and_keeps_other_files() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("model");
        publish(&dir, &files("v1")).unwrap();
        std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
        publish(&dir, &files("v2")).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("model.bpk")).unwrap(),
            "model.bpk v2"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("config.json")).unwrap(),
            "config.json v2"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
            "mine"
        );
        let left: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("model")],
            "no staging folder is left behind"
        );
    }

    #[test]
    fn an_interrupted_export_leaves_the_old_set_whole() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("model");
        publish(&dir, &files("v1")).unwrap();
        // An export killed while writing: its staging folder holds part of the new set.
        let staging = root.path().join("model.new");
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(staging.join("model.bpk"), b"model.bpk v2").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("model.bpk")).unwrap(),
            "model.bpk v1"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("config.json")).unwrap(),
            "config.json v1"
        );
        // The next export clears it.
        publish(&dir, &files("v3")).unwrap();
        assert!(!staging.exists());
        assert_eq!(
            std::fs::read_to_string(dir.join("config.json")).unwrap(),
            "config.json v3"
        );
    }
}
