//! `train-native predict`: classify photos with the shipped (or given) weights.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;
use skin_lesion::model::DescribedClass;
use skin_lesion::{Answer, Classifier, Patient, Photo};

use crate::cli::PredictArgs;
use crate::model_files;

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
    /// The patient data the answer includes (`age, sex, body site`), when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    patient_data: Option<String>,
}

/// A photo that could not be classified.
#[derive(Serialize)]
struct ErrorLine {
    file: String,
    error: String,
}

pub fn run(args: &PredictArgs) -> Result<ExitCode> {
    let patient = patient(args)?;
    let classifier = model_files::load_or_built_in(args.weights.as_deref())?
        .0
        .classifier;
    let used = match classifier.answer_config().patient {
        Some(_) if !patient.is_unknown() => Some(patient.given()),
        None if !patient.is_unknown() => {
            eprintln!(
                "warning: this model has no patient tables: --age, --sex and --site are ignored"
            );
            None
        }
        _ => None,
    };
    let classes = classifier.config().described_classes();
    let mut failed = 0;
    for path in &args.images {
        let file = path.display().to_string();
        match classify(&classifier, path, &patient) {
            Ok(answer) if args.json => println!(
                "{}",
                serde_json::to_string(&line(file, &answer, &classes, used.clone()))?
            ),
            Ok(answer) => print_table(&file, &answer, &classes, used.as_deref()),
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

/// The patient data of `--age`, `--sex` and `--site`, refused before any photo is read when
/// a field cannot be used.
fn patient(args: &PredictArgs) -> Result<Patient> {
    let text = |field: &Option<String>| field.clone().unwrap_or_default();
    Patient::parse(&text(&args.age), &text(&args.sex), &text(&args.site))
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Read and classify one file; any failure is that file's error, in words.
fn classify(
    classifier: &Classifier,
    path: &std::path::Path,
    patient: &Patient,
) -> Result<Answer, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))?;
    let answer = classifier
        .classify(Photo::Encoded(&bytes))
        .map_err(|e| e.to_string())?;
    Ok(answer.with_patient(&classifier.answer_config(), patient))
}

fn line<'a>(
    file: String,
    answer: &Answer,
    classes: &'a [DescribedClass],
    patient_data: Option<String>,
) -> Line<'a> {
    Line {
        file,
        top: &classes[answer.top].code,
        probabilities: classes
            .iter()
            .zip(&answer.probabilities)
            .map(|(c, &p)| (c.code.as_str(), p))
            .collect(),
        out_of_distribution: answer.out_of_distribution,
        ood_score: answer.ood_score,
        unsure: answer.unsure,
        unsure_between: answer.unsure.then(|| {
            [
                &classes[answer.top].code[..],
                &classes[answer.runner_up].code[..],
            ]
        }),
        patient_data,
    }
}

fn print_table(file: &str, answer: &Answer, classes: &[DescribedClass], patient: Option<&str>) {
    let top = &classes[answer.top];
    let second = &classes[answer.runner_up];
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
    for (class, p) in classes.iter().zip(&answer.probabilities) {
        println!("  {:<6} {:>6.2}%  {}", class.code, 100.0 * p, class.name);
    }
    if let Some(fields) = patient {
        println!("  (with the patient's {fields})");
    }
}
