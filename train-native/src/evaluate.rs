//! Scoring a model on a set of cached images, and `train-native evaluate`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use skin_lesion::metrics::{Metrics, classification_report, confusion_table};
use skin_lesion::{LesionNet, classes::class_codes};

use crate::checkpoint::write_atomic;
use crate::cli::{EvalSplit, EvaluateArgs, PathArgs};
use crate::data::cache::{self, ImageCache};
use crate::data::{Dataset, Split, SplitName, batch};
use crate::model_files;
use crate::paths;

/// Images per inference batch. Fixed, so every evaluation of the same model computes the
/// same floating-point sums and reproduces its figures exactly.
pub const EVAL_BATCH: usize = 100;

/// Metrics plus mean (unweighted) cross-entropy of a model on some images.
pub struct Scored {
    pub metrics: Metrics,
    pub loss: f64,
    /// Per-image class probabilities.
    pub probabilities: Vec<Vec<f32>>,
}

/// Run `model` over the central crops of `indices`, averaging its logits over `views`
/// orientations of each ([`skin_lesion::model::views`]), and score it against `labels`.
pub fn score(model: &LesionNet, cache: &ImageCache, indices: &[usize], labels: &[usize], input_size: usize, views: usize, device: &Device) -> Result<Scored> {
    if indices.is_empty() {
        bail!("no images to evaluate");
    }
    let mut probabilities = Vec::with_capacity(indices.len());
    for chunk in indices.chunks(EVAL_BATCH) {
        let x = batch::inputs(cache, chunk, input_size, None, device);
        let p: Vec<f32> = model.probabilities_views(x, views).into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        probabilities.extend(p.chunks_exact(skin_lesion::NUM_CLASSES).map(<[f32]>::to_vec));
    }
    let loss = probabilities.iter().zip(labels).map(|(p, &l)| -(p[l].max(1e-12) as f64).ln()).sum::<f64>() / labels.len() as f64;
    let metrics = Metrics::from_predictions(&class_codes(), labels, &probabilities);
    Ok(Scored { metrics, loss, probabilities })
}

/// Print the confusion matrix and scikit-learn-style report.
pub fn print(metrics: &Metrics) {
    println!("confusion matrix (rows: true class, columns: predicted)\n{}", confusion_table(metrics));
    println!("{}", classification_report(metrics));
    println!(
        "balanced accuracy {:.4}  macro F1 {:.4}  macro AUC {}  accuracy {:.4}",
        metrics.balanced_accuracy,
        metrics.macro_f1,
        metrics.macro_auc.map_or("n/a".into(), |a| format!("{a:.4}")),
        metrics.accuracy
    );
}

/// The decoded-image cache for a data set, honouring `--cache-dir` / `--no-cache`.
pub fn load_cache(dataset: &Dataset, paths: &PathArgs, side: usize) -> Result<ImageCache> {
    cache::check_side(side)?;
    let dir = if paths.no_cache { None } else { Some(paths.cache_dir.clone().unwrap_or_else(cache::default_dir)) };
    ImageCache::load_or_build(&dataset.records, side, dir.as_deref())
}

/// What `evaluate --out` writes: the report's metric keys plus what was evaluated.
#[derive(Serialize)]
struct EvaluationJson<'a> {
    #[serde(flatten)]
    metrics: &'a Metrics,
    split: &'a str,
    images: usize,
    data: String,
    weights: String,
    loss: f64,
}

/// `train-native evaluate`.
pub fn run(args: &EvaluateArgs) -> Result<ExitCode> {
    let weights_path = paths::weights_or_default(args.weights.as_deref());
    let loaded = model_files::load(&weights_path)?;
    let data_dir = args.paths.data.clone().unwrap_or_else(paths::default_data);
    let mut dataset = Dataset::load(&data_dir)?;
    let (name, indices): (&str, Vec<usize>) = match args.split {
        EvalSplit::All => ("all", (0..dataset.records.len()).collect()),
        split => {
            let saved = loaded.split_settings();
            if let Some(limit) = saved.limit {
                dataset.records.truncate(limit);
            }
            let seed = args.seed.unwrap_or(saved.seed);
            let val = args.val_fraction.unwrap_or(saved.val_fraction);
            let test = args.test_fraction.unwrap_or(saved.test_fraction);
            let parts = Split::new(&dataset.records, val, test, seed)?;
            let part = match split {
                EvalSplit::Test => SplitName::Test,
                EvalSplit::Val => SplitName::Val,
                _ => SplitName::Train,
            };
            eprintln!("split: lesion-grouped, seed {seed}, val {val}, test {test}");
            (part.as_str(), parts.part(part).to_vec())
        }
    };
    let config = loaded.classifier.config().clone();
    let cache = load_cache(&dataset, &args.paths, config.resize_size)?;
    let labels: Vec<usize> = indices.iter().map(|&i| dataset.records[i].label).collect();
    let bar = ProgressBar::new_spinner().with_style(ProgressStyle::with_template("{spinner} evaluating {msg}").expect("template"));
    bar.set_message(format!("{} images of the {name} split", indices.len()));
    let scored = score(loaded.classifier.model(), &cache, &indices, &labels, config.input_size, config.views(), loaded.classifier.device())?;
    bar.finish_and_clear();
    println!("{} images ({name}) from {} with {}\n", indices.len(), dataset.root.display(), weights_path.display());
    print(&scored.metrics);
    if let Some(out) = &args.out {
        let json = EvaluationJson {
            metrics: &scored.metrics,
            split: name,
            images: indices.len(),
            data: dataset.root.display().to_string(),
            weights: weights_path.display().to_string(),
            loss: scored.loss,
        };
        write_atomic(out, serde_json::to_string_pretty(&json)?.as_bytes()).with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("metrics written to {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether a path exists, for friendlier errors.
pub fn require(path: &Path, what: &str) -> Result<()> {
    if !path.exists() {
        bail!("{what} {} does not exist", path.display());
    }
    Ok(())
}
