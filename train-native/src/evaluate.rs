//! Scoring a model on a set of cached images, and `train-native evaluate`.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use skin_lesion::metrics::{Calibration, Metrics, classification_report, confusion_table};
use skin_lesion::report::Robustness;
use skin_lesion::training::SplitConfig;
use skin_lesion::{Answer, Classifier, classes::class_codes};

use crate::cli::{EvalSplit, EvaluateArgs};
use crate::data::cache::ImageCache;
use crate::data::{Dataset, Split, SplitName, batch};
use crate::fsutil::write_atomic;
use crate::model_files;
use crate::paths;

/// Images per inference batch. Fixed, so every evaluation of the same model computes the
/// same floating-point sums and reproduces its figures exactly.
pub const EVAL_BATCH: usize = 100;

/// Some cached images and their classes.
pub struct Images<'a> {
    pub cache: &'a ImageCache,
    pub indices: &'a [usize],
    pub labels: Vec<usize>,
}

impl<'a> Images<'a> {
    /// `indices` of `dataset`, read from `cache`.
    pub fn new(dataset: &Dataset, cache: &'a ImageCache, indices: &'a [usize]) -> Self {
        Self {
            cache,
            indices,
            labels: dataset.labels(indices),
        }
    }
}

/// A model's answers on some images, and what they add up to.
pub struct Scored {
    pub metrics: Metrics,
    /// Mean negative log-likelihood of the true class under the answer's probabilities.
    pub loss: f64,
    /// One answer per image, in order.
    pub answers: Vec<Answer>,
}

/// Run `classifier` over the central crops of `images` (every view the model averages) and
/// score its answers.
pub fn score(classifier: &Classifier, images: &Images) -> Result<Scored> {
    if images.indices.is_empty() {
        bail!("no images to evaluate");
    }
    let mut answers = Vec::with_capacity(images.indices.len());
    for chunk in images.indices.chunks(EVAL_BATCH) {
        let inputs = batch::inputs(images.cache, chunk, classifier.config(), None);
        answers.extend(classifier.classify_batch(&inputs, chunk.len())?);
    }
    Ok(scored(answers, &images.labels))
}

/// Metrics and loss of `answers` against `labels`.
pub fn scored(answers: Vec<Answer>, labels: &[usize]) -> Scored {
    let probabilities: Vec<Vec<f32>> = answers.iter().map(|a| a.probabilities.to_vec()).collect();
    let loss = probabilities
        .iter()
        .zip(labels)
        .map(|(p, &l)| -f64::from(p[l].max(1e-12)).ln())
        .sum::<f64>()
        / labels.len() as f64;
    let metrics = Metrics::from_predictions(&class_codes(), labels, &probabilities);
    Scored {
        metrics,
        loss,
        answers,
    }
}

/// Print the confusion matrix and scikit-learn-style report.
pub fn print(metrics: &Metrics) {
    println!(
        "confusion matrix (rows: true class, columns: predicted)\n{}",
        confusion_table(metrics)
    );
    println!("{}", classification_report(metrics));
    println!(
        "balanced accuracy {:.4}  macro F1 {:.4}  macro AUC {}  accuracy {:.4}",
        metrics.balanced_accuracy,
        metrics.macro_f1,
        metrics
            .macro_auc
            .map_or("n/a".into(), |a| format!("{a:.4}")),
        metrics.accuracy
    );
}

/// What `evaluate --out` writes: the report's metric and calibration keys plus what was
/// evaluated.
#[derive(Serialize)]
struct EvaluationJson<'a> {
    #[serde(flatten)]
    metrics: &'a Metrics,
    #[serde(flatten)]
    calibration: Calibration,
    #[serde(skip_serializing_if = "Option::is_none")]
    robustness: Option<Robustness>,
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
    let dataset = Dataset::load(&data_dir)?;
    let (dataset, name, indices) = match args.split {
        EvalSplit::All => {
            let all = (0..dataset.records.len()).collect();
            (dataset, "all", all)
        }
        split => {
            let config = split_config(args, loaded.split_config());
            let dataset = dataset.limited(config.limit);
            let parts = Split::new(&dataset.records, &config)?;
            let part = match split {
                EvalSplit::Test => SplitName::Test,
                EvalSplit::Val => SplitName::Val,
                _ => SplitName::Train,
            };
            eprintln!(
                "split: lesion-grouped, seed {}, val {}, test {}",
                config.seed, config.val_fraction, config.test_fraction
            );
            (dataset, part.as_str(), parts.part(part).to_vec())
        }
    };
    let classifier = &loaded.classifier;
    let cache = ImageCache::for_dataset(&dataset, &args.paths, classifier.config().resize_size)?;
    let bar = ProgressBar::new_spinner()
        .with_style(ProgressStyle::with_template("{spinner} evaluating {msg}").expect("template"));
    bar.set_message(format!("{} images of the {name} split", indices.len()));
    let scored = score(classifier, &Images::new(&dataset, &cache, &indices))?;
    bar.finish_and_clear();
    println!(
        "{} images ({name}) from {} with {}\n",
        indices.len(),
        dataset.root.display(),
        weights_path.display()
    );
    print(&scored.metrics);
    let probabilities: Vec<[f32; skin_lesion::NUM_CLASSES]> =
        scored.answers.iter().map(|a| a.probabilities).collect();
    let images = Images::new(&dataset, &cache, &indices);
    let calibration = Calibration::of(&probabilities, &images.labels);
    println!(
        "calibration: ECE {:.4}, NLL {:.4}, Brier {:.4}",
        calibration.ece, calibration.nll, calibration.brier
    );
    let robustness = if args.corruptions {
        println!("robustness suite:");
        let r = crate::robustness::evaluate(classifier, &dataset, &indices, &scored.metrics)?
            .robustness;
        println!(
            "mean balanced accuracy under corruption {:.4} (clean {:.4})",
            r.mean_balanced_accuracy, r.clean_balanced_accuracy
        );
        Some(r)
    } else {
        None
    };
    if let Some(out) = &args.out {
        let json = EvaluationJson {
            metrics: &scored.metrics,
            calibration,
            robustness,
            split: name,
            images: indices.len(),
            data: dataset.root.display().to_string(),
            weights: weights_path.display().to_string(),
            loss: scored.loss,
        };
        write_atomic(out, serde_json::to_string_pretty(&json)?.as_bytes())
            .with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("metrics written to {}", out.display());
    }
    if let Some(path) = &args.predictions {
        write_atomic(
            path,
            predictions_csv(&dataset, &indices, &scored.answers).as_bytes(),
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("predictions written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// One row per photo: its ids, true and predicted class, and the seven probabilities (for
/// error analysis, or for joining with the metadata CSV's other columns).
pub fn predictions_csv(dataset: &Dataset, indices: &[usize], answers: &[Answer]) -> String {
    let codes = class_codes();
    let mut csv = format!("image_id,lesion_id,dx,predicted,{}\n", codes.join(","));
    for (&i, answer) in indices.iter().zip(answers) {
        let record = &dataset.records[i];
        let probabilities: Vec<String> = answer
            .probabilities
            .iter()
            .map(|p| format!("{p:.6}"))
            .collect();
        csv.push_str(&format!(
            "{},{},{},{},{}\n",
            record.image_id,
            record.lesion_id,
            codes[record.label],
            codes[answer.top],
            probabilities.join(",")
        ));
    }
    csv
}

/// The model's recorded split with the command line's overrides.
fn split_config(args: &EvaluateArgs, recorded: SplitConfig) -> SplitConfig {
    SplitConfig {
        seed: args.seed.unwrap_or(recorded.seed),
        val_fraction: args.val_fraction.unwrap_or(recorded.val_fraction),
        test_fraction: args.test_fraction.unwrap_or(recorded.test_fraction),
        limit: recorded.limit,
    }
}
