//! The CLI with the shipped model in `web/model/`: clear errors for missing or mismatched
//! weights, and, when the real data set is beside the checkout, `evaluate` reproducing the
//! committed test figures exactly.

mod common;

use std::path::Path;

use common::{METRIC_KEYS, cli, json, refused};

/// Run where a person keeps their photos, outside any checkout: the built-in shipped model
/// answers, exactly as the checkout's web/model does.
#[test]
fn predict_outside_a_checkout_uses_the_built_in_model() {
    let work = tempfile::tempdir().unwrap();
    let photo = work.path().join("p.png");
    image::RgbImage::from_fn(60, 40, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 6) as u8, 90])
    })
    .save(&photo)
    .unwrap();
    let answer = |dir: &Path| {
        let out = cli()
            .current_dir(dir)
            .args(["predict", "--json"])
            .arg(&photo)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
        line["probabilities"].clone()
    };
    let outside = answer(work.path());
    assert!(
        outside.as_object().is_some_and(|p| p.len() == 7),
        "{outside}"
    );
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    assert_eq!(outside, answer(&checkout));
}

#[test]
fn mismatched_or_missing_weights_are_clear_errors() {
    let work = tempfile::tempdir().unwrap();
    let photo = work.path().join("p.png");
    image::RgbImage::new(8, 8).save(&photo).unwrap();
    let missing = work.path().join("none/model.bpk");
    let out = refused(
        cli()
            .args(["predict", "--weights"])
            .arg(&missing)
            .arg(&photo),
    );
    assert!(out.contains("does not exist"));

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/model");
    let dir = work.path().join("m");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(shipped.join("model.bpk"), dir.join("model.bpk")).unwrap();
    let mut config = json(&shipped.join("config.json"));
    config["network"]["dropout"] = 0.5.into();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let out = refused(
        cli()
            .args(["predict", "--weights"])
            .arg(dir.join("model.bpk"))
            .arg(&photo),
    );
    assert!(out.contains("does not belong"), "{out}");
}

#[test]
#[ignore = "needs HAM10000 in ../shared/ham10000"]
fn evaluate_reproduces_the_shipped_report_on_the_real_data() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = root.join("../shared/ham10000");
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("test.json");
    cli()
        .args(["evaluate", "--split", "test", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let eval = json(&out);
    let report = json(&root.join("web/model/report.json"));
    for key in METRIC_KEYS {
        assert_eq!(
            eval[key], report[key],
            "{key} differs from web/model/report.json"
        );
    }
}
