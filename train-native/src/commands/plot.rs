//! `train-native plot`: redraw the plots from a model folder's report.json.

use std::process::ExitCode;

use anyhow::Result;
use skin_lesion::weights::REPORT_FILE;

use crate::cli::PlotArgs;
use crate::export::plot_files;
use crate::fsutil::write_atomic;
use crate::{model_files, paths};

/// `train-native plot`: redraw the plots from a model folder's report.json.
pub fn run(args: &PlotArgs) -> Result<ExitCode> {
    let dir = args.model.clone().unwrap_or_else(paths::model_dir);
    let report = model_files::read_report(&dir.join(REPORT_FILE))?;
    for (name, svg) in plot_files(&report)? {
        write_atomic(&dir.join(&name), &svg)?;
    }
    eprintln!("redrew the plots in {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
