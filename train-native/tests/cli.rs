//! The CLI end to end on a small fixture: train (with an interruption and a resume), evaluate
//! reproducing the report, predict.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::Fixture;
use serde_json::Value;

fn cli() -> Command {
    Command::cargo_bin("train-native").unwrap()
}

/// 8 lesions per class, 2 photos each.
fn fixture() -> Fixture {
    let mut rows = Vec::new();
    for (c, dx) in ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"].iter().enumerate() {
        for lesion in 0..8 {
            for photo in 0..2 {
                rows.push((format!("HAM_{c}{lesion}"), format!("ISIC_{c}{lesion}{photo}"), *dx));
            }
        }
    }
    let rows: Vec<(&str, &str, &str)> = rows.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), *c)).collect();
    Fixture::new(&rows)
}

fn train_args(data: &Path, work: &Path) -> Vec<String> {
    let s = |p: PathBuf| p.display().to_string();
    [
        "train", "--backend", "cpu", "--epochs", "3", "--batch-size", "16", "--lr", "0.01", "--epoch-size", "64",
        "--input-size", "16", "--resize-size", "20", "--base-width", "4", "--stages", "2",
        "--val-fraction", "0.25", "--test-fraction", "0.25",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain(["--data".into(), s(data.to_path_buf()), "--run-dir".into(), s(work.join("run")), "--out".into(), s(work.join("model")), "--cache-dir".into(), s(work.join("cache"))])
    .collect()
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn train_resume_evaluate_predict() {
    let fx = fixture();
    let work = tempfile::tempdir().unwrap();
    let args = train_args(fx.dir(), work.path());

    // Interrupted after epoch 1: a checkpoint, no export.
    cli().args(&args).args(["--stop-after-epoch", "1"]).assert().success();
    let state = json(&work.path().join("run/state.json"));
    assert_eq!(state["epoch"], 1);
    assert!(!work.path().join("model/model.bpk").exists());

    // Starting again without --resume would lose the run: refused.
    let out = cli().args(&args).assert().failure().get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&out).contains("--resume"));
    // Resuming with other settings is refused too.
    let mut other = args.clone();
    other[4] = "5".into();
    let out = cli().args(&other).arg("--resume").assert().failure().get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&out).contains("other settings"));

    // A view count that is not a whole set of flips/rotations is refused before any work.
    let out = cli().args(&args).args(["--resume", "--views", "3"]).assert().failure().get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&out).contains("must be one of [1, 2, 4, 8]"), "{}", String::from_utf8_lossy(&out));

    cli().args(&args).arg("--resume").assert().success();
    let model = work.path().join("model");
    // The exported model averages 8 views by default, and says so in both files.
    assert_eq!(json(&model.join("config.json"))["test_time_views"], 8);
    for file in ["model.bpk", "config.json", "report.json", "training_curves.svg", "confusion_matrix.svg"] {
        assert!(model.join(file).exists(), "{file} not exported");
    }
    let report = json(&model.join("report.json"));
    assert_eq!(report["history"].as_array().unwrap().len(), 3);
    assert_eq!(report["history"][0], json(&work.path().join("run/state.json"))["history"][0]);
    for key in ["classes", "confusion_matrix", "per_class", "accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "macro_auc"] {
        assert!(!report[key].is_null(), "report.json lacks {key}");
    }
    assert_eq!(report["model"]["test_time_views"], 8);
    for key in ["architecture", "input_size", "parameters", "weights_sha256", "training_seconds", "hardware", "split_seed", "split_counts"] {
        assert!(!report["model"][key].is_null(), "report.json model lacks {key}");
    }
    assert!(std::fs::read_to_string(model.join("confusion_matrix.svg")).unwrap().contains("<svg"));

    // evaluate reproduces the report's test figures exactly.
    let eval_out = work.path().join("eval.json");
    let weights = model.join("model.bpk");
    let stdout = cli()
        .args(["evaluate", "--data"])
        .arg(fx.dir())
        .arg("--weights")
        .arg(&weights)
        .arg("--out")
        .arg(&eval_out)
        .arg("--cache-dir")
        .arg(work.path().join("cache"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8_lossy(&stdout);
    assert!(stdout.contains("precision    recall  f1-score   support"), "{stdout}");
    assert!(stdout.contains("weighted avg"), "{stdout}");
    let eval = json(&eval_out);
    for key in ["confusion_matrix", "per_class", "accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "macro_auc"] {
        assert_eq!(eval[key], report[key], "{key} differs");
    }
    // --split all counts every image.
    cli().args(["evaluate", "--split", "all", "--no-cache", "--data"]).arg(fx.dir()).arg("--weights").arg(&weights).arg("--out").arg(&eval_out).assert().success();
    assert_eq!(json(&eval_out)["images"], 112);

    // predict --json: one object per image; a bad file is reported and the others still run.
    let bad = work.path().join("bad.jpg");
    std::fs::write(&bad, b"not a photo").unwrap();
    let photo = fx.image_path("ISIC_400");
    let out = cli().args(["predict", "--json", "--weights"]).arg(&weights).arg(&photo).arg(&bad).arg(&photo).assert().failure().get_output().clone();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    let probs = lines[0]["probabilities"].as_object().unwrap();
    assert_eq!(probs.keys().cloned().collect::<Vec<_>>(), ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]);
    let sum: f64 = probs.values().map(|v| v.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-4);
    assert_eq!(lines[0], lines[2]);
    assert!(lines[1]["error"].as_str().unwrap().contains("not a supported image"));
}
