//! `train-native train`: class-balanced epochs, AdamW with warm-up and cosine decay, per-epoch
//! validation, best-by-balanced-accuracy selection and atomic checkpoints ([`session`]); then,
//! once, the decision offsets, the answer's calibration, the test evaluation and the export
//! of the browser model ([`finish`]).

mod finish;
mod progress;
pub mod recalibrate;
mod schedule;
mod session;
pub mod validation;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use skin_lesion::TrainingConfig;

use crate::backend;
use crate::cli::{PathArgs, TrainArgs};
use crate::data::cache::ImageCache;
use crate::data::{Dataset, Split};
use crate::paths;

pub use schedule::learning_rate;
pub use session::Session;

/// The data a run needs before its first step.
pub struct Prepared {
    pub dataset: Dataset,
    pub split: Split,
    pub cache: ImageCache,
}

/// Where a run keeps its checkpoints, finds the out-of-distribution set and writes its model.
pub struct Dirs {
    pub run: PathBuf,
    pub out: PathBuf,
    pub ood: Option<PathBuf>,
}

/// Load the data set, split it and fill the image cache.
pub fn prepare(config: &TrainingConfig, paths: &PathArgs) -> Result<Prepared> {
    let data_dir = paths.data.clone().unwrap_or_else(paths::default_data);
    let dataset = Dataset::load(&data_dir)?.limited(config.split.limit);
    let split = Split::new(&dataset.records, &config.split)?;
    if split.train.is_empty() || split.val.is_empty() || split.test.is_empty() {
        bail!(
            "the split left a part empty (train {}, val {}, test {} images): use more data or larger fractions",
            split.train.len(),
            split.val.len(),
            split.test.len()
        );
    }
    eprintln!(
        "data: {} images of {} lesions in {}; split by lesion (seed {}): train {}, val {}, test {} images",
        dataset.records.len(),
        dataset.lesion_count(),
        dataset.root.display(),
        config.split.seed,
        split.train.len(),
        split.val.len(),
        split.test.len()
    );
    let cache = ImageCache::for_dataset(&dataset, paths, config.model.resize_size)?;
    Ok(Prepared {
        dataset,
        split,
        cache,
    })
}

/// `train-native train`.
pub fn run(args: &TrainArgs) -> Result<ExitCode> {
    let config = args.recipe.config();
    if args.show_config {
        println!("{}", serde_json::to_string_pretty(&config)?);
        return Ok(ExitCode::SUCCESS);
    }
    config
        .validate()
        .map_err(|e| anyhow!("invalid training options: {e}"))?;
    let dirs = Dirs {
        run: args.run_dir.clone().unwrap_or_else(paths::default_run_dir),
        out: args.out.clone().unwrap_or_else(paths::model_dir),
        ood: args.ood_dir.clone(),
    };
    let data = prepare(&config, &args.paths)?;
    let selected = backend::select(args.backend)?;
    let mut session = Session::start(&config, &data, &selected, &dirs.run, args.resume)?;
    let progress = progress::Progress::new(&config, session.state().epoch);
    for epoch in session.state().epoch + 1..=config.epochs {
        session.epoch(epoch, &progress)?;
        if args.stop_after_epoch == Some(epoch) && epoch < config.epochs {
            progress.log(format!(
                "stopped after epoch {epoch}; continue with --resume"
            ));
            return Ok(ExitCode::SUCCESS);
        }
    }
    progress.finish();
    let ended = finish::Ended {
        config: &config,
        state: session.state(),
        data: &data,
        dirs: &dirs,
        with_offsets: !args.no_offsets,
    };
    if args.validation_only {
        validation::report(&ended)?;
    } else {
        finish::finish(&ended)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests;
