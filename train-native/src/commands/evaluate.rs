//! `train-native evaluate`, and the printer of a split's figures.

use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use skin_lesion::Answer;
use skin_lesion::metrics::{Calibration, Metrics};
use skin_lesion::report::{Robustness, SaliencyReport};
use skin_lesion::training::SplitConfig;

use crate::cli::{EvalSplit, EvaluateArgs};
use crate::data::cache::ImageCache;
use crate::data::{Dataset, Split, SplitName};
use crate::fsutil::write_atomic;
use crate::model_files;
use crate::score::{self, Images};
use crate::{paths, printout};

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
    #[serde(skip_serializing_if = "Option::is_none")]
    saliency: Option<SaliencyReport>,
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
    let (dataset, name, indices) = photos(args, &loaded)?;
    let classifier = &loaded.classifier;
    let cache = ImageCache::for_dataset(
        &dataset,
        &args.paths,
        classifier.config().preprocess.resize_size,
    )?;
    let bar = ProgressBar::new_spinner()
        .with_style(ProgressStyle::with_template("{spinner} evaluating {msg}").expect("template"));
    bar.set_message(format!("{} images of the {name} split", indices.len()));
    let images = Images::new(&dataset, &cache, &indices);
    let scored = score::score(classifier, &images)?;
    bar.finish_and_clear();
    let probabilities: Vec<&[f32]> = scored
        .answers
        .iter()
        .map(|a| &a.probabilities[..])
        .collect();
    let calibration = Calibration::of(&probabilities, &images.labels);
    println!(
        "{} images ({name}) from {} with {}\n",
        indices.len(),
        dataset.root.display(),
        weights_path.display()
    );
    printout::metrics(&scored.metrics);
    printout::calibration(&calibration);
    let robustness = args
        .corruptions
        .then(|| crate::robustness::evaluate(classifier, &dataset, &indices))
        .transpose()?
        .map(|suite| suite.robustness);
    if let Some(r) = &robustness {
        let ece = r
            .clean_ece
            .map_or(String::new(), |e| format!(", clean ECE {e:.4}"));
        println!(
            "robustness suite at {} view(s): mean balanced accuracy under corruption {:.4} (clean {:.4}{ece})",
            r.views
                .unwrap_or(classifier.config().preprocess.test_time_views),
            r.mean_balanced_accuracy,
            r.clean_balanced_accuracy
        );
    }
    let saliency = saliency(args, classifier, &images, &scored.answers, &dataset)?;
    if let Some(out) = &args.out {
        let json = EvaluationJson {
            metrics: &scored.metrics,
            calibration,
            robustness,
            saliency,
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
        let csv = predictions_csv(&dataset, &indices, &scored.answers);
        write_atomic(path, csv.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("predictions written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// With `--saliency`, the maps scored against the photos' lesion masks, printed.
fn saliency(
    args: &EvaluateArgs,
    classifier: &skin_lesion::Classifier,
    images: &Images,
    answers: &[Answer],
    dataset: &Dataset,
) -> Result<Option<SaliencyReport>> {
    if !args.saliency {
        return Ok(None);
    }
    let report = crate::answer_fit::saliency::evaluate(
        classifier,
        images,
        answers,
        &dataset.records,
        &dataset.root,
    )?;
    match &report {
        Some(s) => printout::saliency(s),
        None => println!(
            "saliency: none of these photos has a lesion mask in {}",
            dataset.root.join(crate::data::masks::MASKS_DIR).display()
        ),
    }
    Ok(report)
}

/// The data set and which of its photos `--split` asks for, with the part's name.
fn photos(
    args: &EvaluateArgs,
    loaded: &model_files::Loaded,
) -> Result<(Dataset, &'static str, Vec<usize>)> {
    let data_dir = args.paths.data.clone().unwrap_or_else(paths::default_data);
    // The model's own classes, in its order: a photo of another class is an error.
    let dataset = Dataset::load(&data_dir, Some(&loaded.classifier.config().classes))?;
    if args.split == EvalSplit::All {
        let all = (0..dataset.records.len()).collect();
        return Ok((dataset, "all", all));
    }
    let config = split_config(args, loaded.split_config());
    let dataset = dataset.limited(config.limit);
    let parts = Split::new(&dataset.records, &config)?;
    let part = match args.split {
        EvalSplit::Test => SplitName::Test,
        EvalSplit::Val => SplitName::Val,
        _ => SplitName::Train,
    };
    eprintln!(
        "split: lesion-grouped, seed {}, val {}, test {}",
        config.seed, config.val_fraction, config.test_fraction
    );
    let indices = parts.part(part).to_vec();
    Ok((dataset, part.as_str(), indices))
}

/// One row per photo: its ids, true and predicted class, and each class's probability (for
/// error analysis, or for joining with the metadata CSV's other columns).
pub fn predictions_csv(dataset: &Dataset, indices: &[usize], answers: &[Answer]) -> String {
    let codes = dataset.codes();
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
