//! Replays every input the fuzzer saved (tests/fuzz-regressions/): each must end in an answer
//! or an error in words, never a panic that escapes, and answers must be finite numbers.

use std::path::Path;

use burn::tensor::Device;
use skin_lesion::weights::{self, CONFIG_FILE, WEIGHTS_FILE};
use skin_lesion::{Classifier, Photo};

fn shipped() -> Classifier {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/model");
    let config = std::fs::read_to_string(dir.join(CONFIG_FILE)).unwrap();
    Classifier::from_files(
        &config,
        &std::fs::read(dir.join(WEIGHTS_FILE)).unwrap(),
        Device::flex(),
    )
    .unwrap()
}

#[test]
fn every_saved_input_is_answered_or_refused_without_a_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let classifier = shipped();
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("photo-") {
            let bytes = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                classifier.classify(Photo::Encoded(&bytes))
            }));
            match outcome {
                Ok(Ok(answer)) => assert!(
                    answer.probabilities.iter().all(|p| p.is_finite()),
                    "{name}: {answer:?}"
                ),
                Ok(Err(error)) => assert!(!error.to_string().is_empty(), "{name}"),
                Err(_) => panic!("{name}: a panic escaped"),
            }
            replayed += 1;
        } else if let Some(stem) = name.strip_suffix(".config.json") {
            let config = std::fs::read_to_string(&path).unwrap();
            let bytes = std::fs::read(dir.join(format!("{stem}.bpk"))).unwrap();
            let outcome = std::panic::catch_unwind(|| {
                let config = weights::config_from_json(&config)?;
                let signed =
                    weights::config_to_json(&weights::signed(&config.with_checksum(None), &bytes));
                Classifier::from_files(&signed, &bytes, Device::flex()).map(|_| ())
            });
            assert!(outcome.is_ok(), "{name}: a panic escaped");
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} saved inputs");
}
