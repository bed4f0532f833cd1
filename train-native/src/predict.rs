//! `train-native predict`: classify photos with the shipped (or given) weights.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;
use skin_lesion::{Answer, CLASSES, Classifier, Photo};

use crate::cli::PredictArgs;
use crate::model_files;
use crate::paths;

/// One photo's answer, as `--json` prints it.
#[derive(Serialize)]
struct Line<'a> {
    file: String,
    top: &'a str,
    /// Calibrated probabilities by class code.
    probabilities: BTreeMap<&'a str, f32>,
    out_of_distribution: bool,
    ood_score: f32,
    unsure: bool,
    /// The two candidates when unsure.
    #[serde(skip_serializing_if = "Option::is_none")]
    unsure_between: Option<[&'a str; 2]>,
}

/// A photo that could not be classified.
#[derive(Serialize)]
struct ErrorLine {
    file: String,
    error: String,
}

pub fn run(args: &PredictArgs) -> Result<ExitCode> {
    let weights = paths::weights_or_default(args.weights.as_deref());
    let classifier = model_files::load(&weights)?.classifier;
    let mut failed = 0;
    for path in &args.images {
        let file = path.display().to_string();
        match classify(&classifier, path) {
            Ok(answer) if args.json => println!("{}", serde_json::to_string(&line(file, &answer))?),
            Ok(answer) => print_table(&file, &answer),
            Err(error) => {
                failed += 1;
                if args.json {
                    println!(
                        "{}",
                        serde_json::to_string(&ErrorLine {
                            file: file.clone(),
                            error: error.clone()
                        })?
                    );
                }
                eprintln!("error: {file}: {error}");
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Read and classify one file; any failure is that file's error, in words.
fn classify(classifier: &Classifier, path: &std::path::Path) -> Result<Answer, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))?;
    classifier
        .classify(Photo::Encoded(&bytes))
        .map_err(|e| e.to_string())
}

fn line(file: String, answer: &Answer) -> Line<'static> {
    Line {
        file,
        top: CLASSES[answer.top].code,
        probabilities: CLASSES
            .iter()
            .zip(answer.probabilities)
            .map(|(c, p)| (c.code, p))
            .collect(),
        out_of_distribution: answer.out_of_distribution,
        ood_score: answer.ood_score,
        unsure: answer.unsure,
        unsure_between: answer
            .unsure
            .then(|| [CLASSES[answer.top].code, CLASSES[answer.runner_up].code]),
    }
}

fn print_table(file: &str, answer: &Answer) {
    let top = &CLASSES[answer.top];
    let second = &CLASSES[answer.runner_up];
    if answer.out_of_distribution {
        println!(
            "{file}: this does not look like a dermatoscopy photo of a skin lesion (score {:.1}), so the model cannot classify it; its answer would have been:",
            answer.ood_score
        );
    }
    if answer.unsure {
        println!(
            "{file}: unsure between {} ({}) and {} ({})",
            top.code, top.name, second.code, second.name
        );
    } else {
        println!(
            "{file}: {} ({}) {:.1}%",
            top.code,
            top.name,
            100.0 * answer.probabilities[answer.top]
        );
    }
    for (class, p) in CLASSES.iter().zip(answer.probabilities) {
        println!("  {:<6} {:>6.2}%  {}", class.code, 100.0 * p, class.name);
    }
}
