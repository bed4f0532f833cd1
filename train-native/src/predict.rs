//! `train-native predict`: classify photos with the shipped (or given) weights.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;
use skin_lesion::CLASSES;

use crate::cli::PredictArgs;
use crate::model_files;
use crate::paths;

#[derive(Serialize)]
struct Line<'a> {
    file: String,
    top: &'a str,
    probabilities: BTreeMap<&'a str, f32>,
}

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
        let result = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}")).and_then(|bytes| classifier.classify_bytes(&bytes).map_err(|e| e.to_string()));
        match result {
            Ok(prediction) => {
                if args.json {
                    let probabilities = CLASSES.iter().zip(prediction.probabilities).map(|(c, p)| (c.code, p)).collect();
                    println!("{}", serde_json::to_string(&Line { file, top: prediction.top(), probabilities })?);
                } else {
                    let top = &CLASSES[prediction.top_index()];
                    println!("{file}: {} ({}) {:.1}%", top.code, top.name, 100.0 * prediction.probabilities[prediction.top_index()]);
                    for (class, p) in CLASSES.iter().zip(prediction.probabilities) {
                        println!("  {:<6} {:>6.2}%  {}", class.code, 100.0 * p, class.name);
                    }
                }
            }
            Err(error) => {
                failed += 1;
                if args.json {
                    println!("{}", serde_json::to_string(&ErrorLine { file: file.clone(), error: error.clone() })?);
                }
                eprintln!("error: {file}: {error}");
            }
        }
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
