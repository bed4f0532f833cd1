//! Whether one exported model beats another on the validation split by more than the split's
//! lesions allow: both answer the same validation photos as they ship (their own views,
//! decision offsets and calibration; photo only), and a paired percentile bootstrap over
//! lesions (1,000 resamples, both models scored on each resample's lesions) gives the 95%
//! interval of the difference B - A in balanced accuracy, macro F1 and their mean, the figure
//! the project's rules compare. A mark of a few tenths of a point on one split of 1,120 lesions
//! says little where this interval spans several points. The test split is never read.
//!
//! `cargo run --release -p train-native --example paired_val -- MODEL_DIR_A MODEL_DIR_B`

use std::path::PathBuf;

use anyhow::{Result, bail};
use skin_lesion::metrics::Metrics;
use skin_lesion::weights::WEIGHTS_FILE;
use train_native::cli::PathArgs;
use train_native::data::Dataset;
use train_native::data::cache::ImageCache;
use train_native::data::split::{Split, SplitName};
use train_native::intervals::{self, PairedDifference};
use train_native::model_files::{self, Loaded};
use train_native::score::{self, Images};
use train_native::{offsets, paths};

fn main() -> Result<()> {
    let dirs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let [a, b] = &dirs[..] else {
        bail!(
            "usage: paired_val MODEL_DIR_A MODEL_DIR_B (folders with model.bpk, config.json and report.json)"
        );
    };
    let models = [load(a)?, load(b)?];
    let split = models[0].split_config();
    let classes = models[0].classifier.config().classes.clone();
    if models[1].split_config() != split || models[1].classifier.config().classes != classes {
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
    let mut tops = Vec::new();
    for (dir, model) in dirs.iter().zip(&models) {
        let side = model.classifier.config().preprocess.resize_size;
        let cache = ImageCache::for_dataset(&dataset, &PathArgs::default(), side)?;
        let scored = score::score(&model.classifier, &Images::new(&dataset, &cache, val))?;
        println!("{}: {}", dir.display(), figures(&scored.metrics));
        tops.push(scored.answers.iter().map(|a| a.top).collect::<Vec<_>>());
    }
    let labels = dataset.labels(val);
    let d = intervals::paired(classes.len(), (&tops[0], &tops[1]), &labels, &lesions, 1);
    print_difference(&d, val.len(), lesions_in(&lesions));
    Ok(())
}

fn load(dir: &std::path::Path) -> Result<Loaded> {
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
