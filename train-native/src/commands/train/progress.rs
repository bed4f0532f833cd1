//! Epoch and batch progress bars, and log lines that survive them.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use skin_lesion::TrainingConfig;

/// The two bars of a run.
pub struct Progress {
    bars: MultiProgress,
    pub epochs: ProgressBar,
    pub batches: ProgressBar,
}

impl Progress {
    /// Bars for `config`'s epochs, starting after `done` of them.
    pub fn new(config: &TrainingConfig, done: usize) -> Self {
        let bars = MultiProgress::new();
        let epochs = bars.add(ProgressBar::new(config.epochs as u64).with_position(done as u64));
        epochs.set_style(
            ProgressStyle::with_template(
                "epoch {pos}/{len} {bar:30} elapsed {elapsed} ETA {eta} {msg}",
            )
            .expect("template"),
        );
        let steps = config.steps_per_epoch();
        let batches = bars.add(ProgressBar::new(steps as u64));
        batches.set_style(
            ProgressStyle::with_template("  batch {pos}/{len} {bar:30} {msg} ETA {eta}")
                .expect("template"),
        );
        Self {
            bars,
            epochs,
            batches,
        }
    }

    /// A line above the bars, or plainly on stderr when they are hidden (not a terminal), so
    /// logs of unattended runs still show every epoch.
    pub fn log(&self, line: String) {
        if self.bars.is_hidden() || self.bars.println(&line).is_err() {
            eprintln!("{line}");
        }
    }

    pub fn finish(&self) {
        self.batches.finish_and_clear();
        self.epochs.finish();
    }
}
