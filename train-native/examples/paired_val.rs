//! Whether one model beats another on the validation split by more than the split's lesions
//! allow: both answer the same validation photos, and a paired percentile bootstrap over
//! lesions (1,000 resamples, both models scored on each resample's lesions) gives the 95%
//! interval of the difference B - A in balanced accuracy, macro F1 and their mean, the figure
//! the project's rules compare. A mark of a few tenths of a point on one split of 1,120 lesions
//! says little where this interval spans several points. The test split is never read.
//!
//! Each side is an exported model folder (`model.bpk`, `config.json`, `report.json`), which
//! answers here as it ships (its own views, decision offsets and calibration; photo only), or
//! a run folder after `train --validation-only`, whose `validation.json` holds each validation
//! photo's class after its offsets: a candidate can be set against the shipped model before
//! any export, which would score the test split.
//!
//! With `--cross-fitted`, each side's answers are those after offsets fitted on the other half
//! of validation (`cross_fitted_answers` in `validation.json`), not on all of it: offsets
//! fitted on the photos they then score flatter a model by chance, and by a different amount
//! for each (1-2 points of the mean, docs/experiments.md). Both sides must then be run folders (`recalibrate
//! --validation-only --out DIR` makes one of an exported model).
//!
//! `cargo run --release -p train-native --example paired_val -- [--cross-fitted] DIR_A DIR_B`

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use skin_lesion::metrics::Metrics;
use skin_lesion::model::ClassName;
use skin_lesion::training::SplitConfig;
use skin_lesion::weights::WEIGHTS_FILE;
use train_native::checkpoint::{STATE_FILE, read_state};
use train_native::cli::PathArgs;
use train_native::commands::train::validation::{self, PhotoAnswer};
use train_native::data::Dataset;
use train_native::data::cache::ImageCache;
use train_native::data::split::{Split, SplitName};
use train_native::intervals::{self, PairedDifference};
use train_native::model_files::{self, Loaded};
use train_native::score::{self, Images};
use train_native::{offsets, paths};

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let before = args.len();
    args.retain(|a| a != "--cross-fitted");
    let answers = if args.len() < before {
        Answers::CrossFitted
    } else {
        Answers::InSample
    };
    let dirs: Vec<PathBuf> = args.into_iter().map(PathBuf::from).collect();
    let [a, b] = &dirs[..] else {
        bail!(
            "usage: paired_val [--cross-fitted] DIR_A DIR_B (exported model folders, or run folders after train or recalibrate --validation-only)"
        );
    };
    let sides = [Side::open(a, answers)?, Side::open(b, answers)?];
    let split = sides[0].split();
    let classes = sides[0].classes();
    if sides[1].split() != split || sides[1].classes() != classes {
        bail!(
            "{} and {} were trained on other splits or classes: their validation photos differ",
            a.display(),
            b.display()
        );
    }
    let dataset = Dataset::load(&paths::default_data(), Some(&classes))?.limited(split.limit);
    let parts = Split::new(&dataset.records, &split)?;
    let val = parts.part(SplitName::Val);
    let lesions: Vec<&str> = val
        .iter()
        .map(|&i| dataset.records[i].lesion_id.as_str())
        .collect();
    let labels = dataset.labels(val);
    let every: Vec<usize> = (0..val.len()).collect();
    let mut tops = Vec::new();
    for (dir, side) in dirs.iter().zip(&sides) {
        let answers = side.tops(&dataset, val)?;
        let m = intervals::metrics_of(classes.len(), &answers, &labels, &every);
        println!("{}: {}", dir.display(), figures(&m));
        tops.push(answers);
    }
    let d = intervals::paired(classes.len(), (&tops[0], &tops[1]), &labels, &lesions, 1);
    print_difference(&d, val.len(), lesions_in(&lesions));
    Ok(())
}

/// One side of the comparison.
enum Side {
    /// An exported model, which answers the validation photos here.
    Model(Box<Loaded>),
    /// A run folder whose `train --validation-only` recorded its answers.
    Run {
        split: SplitConfig,
        classes: Vec<ClassName>,
        answers: Vec<PhotoAnswer>,
    },
}

/// Which of a run's recorded answers are compared.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answers {
    /// After the offsets fitted on all of validation: the answers the model would ship with.
    InSample,
    /// After offsets fitted on the other half of validation (`--cross-fitted`).
    CrossFitted,
}

/// The part of a run's `validation.json` read here.
#[derive(Deserialize)]
struct Recorded {
    best_epoch: usize,
    answers: Vec<PhotoAnswer>,
    #[serde(default)]
    cross_fitted_answers: Option<Vec<PhotoAnswer>>,
}

impl Side {
    fn open(dir: &Path, which: Answers) -> Result<Self> {
        let recorded = dir.join(validation::FILE);
        if !recorded.is_file() {
            if which == Answers::CrossFitted {
                bail!(
                    "{} is no run folder: an exported model answers with offsets fitted on all of validation; `recalibrate --validation-only --model {} --out DIR` makes a run folder of it",
                    dir.display(),
                    dir.display()
                );
            }
            return load(dir).map(|m| Self::Model(Box::new(m)));
        }
        let state = read_state(&dir.join(STATE_FILE))?;
        let text = std::fs::read_to_string(&recorded)
            .with_context(|| format!("cannot read {}", recorded.display()))?;
        let again = format!(
            "write it again (`train --resume --validation-only --run-dir {0}` for a run, `recalibrate --validation-only --model MODEL_DIR --out {0}` for an exported model)",
            dir.display()
        );
        let Recorded {
            best_epoch,
            answers,
            cross_fitted_answers,
        } = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} holds no answers per photo (written before it did?): {again}",
                recorded.display()
            )
        })?;
        if best_epoch != state.full_best_epoch() {
            bail!(
                "{} is of epoch {best_epoch}, but the run has since trained on (best epoch {}): {again}",
                recorded.display(),
                state.full_best_epoch()
            );
        }
        let answers = match which {
            Answers::InSample => answers,
            Answers::CrossFitted => cross_fitted_answers.with_context(|| {
                format!(
                    "{} holds no cross-fitted answers (written before it did): {again}",
                    recorded.display()
                )
            })?,
        };
        Ok(Self::Run {
            split: state.config.split.clone(),
            classes: state.config.model().classes,
            answers,
        })
    }

    fn split(&self) -> SplitConfig {
        match self {
            Self::Model(m) => m.split_config(),
            Self::Run { split, .. } => split.clone(),
        }
    }

    fn classes(&self) -> Vec<ClassName> {
        match self {
            Self::Model(m) => m.classifier.config().classes.clone(),
            Self::Run { classes, .. } => classes.clone(),
        }
    }

    /// The class of each validation photo `val` (indices into `dataset`), in that order.
    fn tops(&self, dataset: &Dataset, val: &[usize]) -> Result<Vec<usize>> {
        let answers = match self {
            Self::Model(model) => {
                let side = model.classifier.config().preprocess.resize_size;
                let cache = ImageCache::for_dataset(dataset, &PathArgs::default(), side)?;
                let scored = score::score(&model.classifier, &Images::new(dataset, &cache, val))?;
                return Ok(scored.answers.iter().map(|a| a.top).collect());
            }
            Self::Run { answers, .. } => answers,
        };
        let images: Vec<&str> = val
            .iter()
            .map(|&i| dataset.records[i].image_id.as_str())
            .collect();
        validation::recorded_tops(answers, &images, &dataset.classes)
    }
}

fn load(dir: &Path) -> Result<Loaded> {
    let loaded = model_files::load(&dir.join(WEIGHTS_FILE))?;
    if loaded.report.is_none() {
        bail!("{} has no report.json: its split is unknown", dir.display());
    }
    Ok(loaded)
}

fn figures(m: &Metrics) -> String {
    format!(
        "validation balanced accuracy {:.4}, macro F1 {:.4}, mean {:.4}",
        m.balanced_accuracy,
        m.macro_f1,
        offsets::objective(m)
    )
}

fn lesions_in(lesions: &[&str]) -> usize {
    lesions
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

fn print_difference(d: &PairedDifference, photos: usize, lesions: usize) {
    let range = |r: [f64; 2]| format!("{:+.4} to {:+.4}", r[0], r[1]);
    println!(
        "B - A, 95% paired bootstrap over {lesions} lesions ({photos} photos, {} resamples):\n  balanced accuracy {}\n  macro F1 {}\n  mean {}\n  B's mean ahead in {:.1}% of resamples",
        intervals::RESAMPLES,
        range(d.balanced_accuracy),
        range(d.macro_f1),
        range(d.mean),
        100.0 * d.b_ahead
    );
}
