//! `train-native train`: class-balanced epochs, AdamW with warm-up and cosine decay, per-epoch
//! validation, best-by-balanced-accuracy selection and atomic checkpoints (`session.rs`); then,
//! once, the decision offsets, the answer's calibration, the test evaluation and the export
//! of the browser model ([`finish`]).

mod average;
pub mod best;
pub mod finish;
pub mod init;
mod progress;
mod schedule;
mod session;
pub mod step;
pub mod validation;

use std::process::ExitCode;

use anyhow::{Result, anyhow};

use crate::backend;
use crate::cli::TrainArgs;
use crate::data::prepare;
use crate::paths;

pub use schedule::learning_rate;
pub use session::Session;

/// `train-native train`.
pub fn run(args: &TrainArgs) -> Result<ExitCode> {
    let config = args.recipe.config()?;
    if args.show_config {
        println!("{}", serde_json::to_string_pretty(&config)?);
        return Ok(ExitCode::SUCCESS);
    }
    config
        .validate()
        .map_err(|e| anyhow!("invalid training options: {e}"))?;
    let dirs = best::Dirs {
        run: args.run_dir.clone().unwrap_or_else(paths::default_run_dir),
        out: args.out.clone().unwrap_or_else(paths::model_dir),
        ood: args.ood_dir.clone(),
    };
    let data = prepare(&config, &args.paths)?;
    let config = config.for_classes(&data.dataset.classes);
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
    let ended = best::TrainedRun {
        config: &config,
        state: session.state(),
        data: &data,
        dirs: &dirs,
        offsets: args.offsets,
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
