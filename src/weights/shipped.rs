//! The model committed in `web/model/` is what the page loads: it must load into the
//! architecture and agree with its own report.

use std::path::PathBuf;

use burn::tensor::Device;

use super::{CONFIG_FILE, REPORT_FILE, WEIGHTS_FILE};
use crate::report::Report;
use crate::{CLASSES, Classifier, Photo, classes};

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web/model")
}

fn shipped() -> Classifier {
    let dir = model_dir();
    let config =
        std::fs::read_to_string(dir.join(CONFIG_FILE)).expect("web/model/config.json is committed");
    let weights = std::fs::read(dir.join(WEIGHTS_FILE)).expect("web/model/model.bpk is committed");
    Classifier::from_files(&config, &weights, Device::flex()).expect("shipped weights load")
}

#[test]
fn shipped_weights_load_and_classify() {
    let classifier = shipped();
    let answer = classifier
        .classify_batch(&vec![0.0; classifier.input_len()], 1)
        .unwrap()
        .remove(0);
    assert!((answer.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4);
}

#[test]
fn shipped_weights_are_small_enough_for_a_web_page() {
    let bytes = std::fs::metadata(model_dir().join(WEIGHTS_FILE))
        .unwrap()
        .len();
    // A guard against growth: the Lite0 with its 1x1 convolutions and the density's whitening
    // at 8 bits is 4.68 MB (2.70 MB gzip since its 8-bit layers hold 4-bit steps, 4.09 MB
    // before), against issue 19's 5 MB gzip for the whole first visit (README, "Measured
    // figures of the browser app"); at f16 it was 8.08 MB.
    assert!(bytes < 5_000_000, "model.bpk is {bytes} bytes");
}

#[test]
fn the_shipped_config_is_signed_for_the_shipped_weights_and_an_edit_is_refused() {
    let dir = model_dir();
    let json = std::fs::read_to_string(dir.join(CONFIG_FILE)).unwrap();
    let weights = std::fs::read(dir.join(WEIGHTS_FILE)).unwrap();
    assert!(super::config_for(&json, &weights).is_ok());
    let mut edited: serde_json::Value = serde_json::from_str(&json).unwrap();
    edited["answer"]["unsure_below"] = 0.2.into();
    assert!(matches!(
        super::config_for(&edited.to_string(), &weights),
        Err(super::WeightsError::Checksum(_))
    ));
}

#[test]
fn the_shipped_file_is_what_an_export_of_its_own_weights_writes() {
    // So a re-export of the same weights (`recalibrate`, a `--resume`d export) keeps the file
    // byte for byte, its checksum with it, and the copy returning visitors have cached.
    let dir = model_dir();
    let json = std::fs::read_to_string(dir.join(CONFIG_FILE)).unwrap();
    let weights = std::fs::read(dir.join(WEIGHTS_FILE)).unwrap();
    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(dir.join(REPORT_FILE)).unwrap()).unwrap();
    let config = super::config_for(&json, &weights).unwrap();
    // Every tensor as stored, the feature density included.
    let stored = super::load_stored(&config, &weights, &Device::flex(), false).unwrap();
    let again = super::to_shipped_bytes(&config, stored, report.model.training.storage).unwrap();
    assert_eq!(again.len(), weights.len());
    assert!(
        again == weights,
        "re-exporting the shipped weights changes model.bpk"
    );
}

#[test]
fn report_describes_the_shipped_weights() {
    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(model_dir().join(REPORT_FILE)).unwrap())
            .unwrap();
    assert_eq!(report.metrics.classes, classes::class_codes());
    let weights = std::fs::read(model_dir().join(WEIGHTS_FILE)).unwrap();
    let digest = super::sha256(&weights);
    assert_eq!(
        report.model.weights_sha256, digest,
        "report.json names other weights"
    );
    assert_eq!(
        report.model.parameters,
        burn::module::Module::num_params(shipped().model())
    );
    let total: usize = report.metrics.confusion_matrix.0.iter().flatten().sum();
    assert_eq!(
        total,
        report.model.split_counts["test"].iter().sum::<usize>()
    );
    // A regression floor at the project's first bar (the from-scratch model shipped before
    // the pretrained one scored 0.678 / 0.618 / 0.932): a retrained model must not ship worse.
    assert!(
        report.metrics.balanced_accuracy >= 0.65,
        "balanced accuracy {}",
        report.metrics.balanced_accuracy
    );
    assert!(
        report.metrics.macro_f1 >= 0.60,
        "macro F1 {}",
        report.metrics.macro_f1
    );
    assert!(
        report.metrics.macro_auc.unwrap_or(0.0) >= 0.92,
        "macro AUC {:?}",
        report.metrics.macro_auc
    );
    // `cargo run -p train-native -- train` must train what ships: the default recipe.
    assert_eq!(
        report.model.training,
        crate::TrainingConfig::new(),
        "the default recipe is not the shipped model's"
    );
    // The page must run the model as it was measured.
    assert_eq!(
        report.model.test_time_views,
        shipped().config().preprocess.test_time_views,
        "report.json and config.json disagree on views"
    );
}

/// Every `step`th photo of HAM10000 beside the checkout, in metadata order: its bytes and its
/// `dx` code.
fn ham10000_sample(step: usize) -> Vec<(Vec<u8>, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/ham10000");
    let csv = std::fs::read_to_string(root.join("HAM10000_metadata.csv"))
        .expect("../shared/ham10000 beside the checkout");
    csv.lines()
        .skip(1)
        .step_by(step)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let path = root.join("images").join(format!("{}.jpg", fields[1]));
            (std::fs::read(path).unwrap(), fields[2].to_string())
        })
        .collect()
}

#[test]
#[ignore = "needs HAM10000 in ../shared/ham10000"]
fn shipped_model_is_trained_not_random() {
    // Every 25th photo of the data set (all parts of the split): a trained model gets most of
    // them right and uses several classes; a random or collapsed one does neither.
    let classifier = shipped();
    let (mut right, mut total) = (0, 0);
    let mut predicted = std::collections::HashSet::new();
    for (bytes, dx) in ham10000_sample(25) {
        let answer = classifier.classify(Photo::Encoded(&bytes)).unwrap();
        assert!((answer.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        let top = CLASSES[answer.top].code;
        right += usize::from(top == dx);
        total += 1;
        predicted.insert(top);
    }
    assert!(right as f64 / total as f64 > 0.5, "{right}/{total} right");
    assert!(predicted.len() >= 4, "only predicts {predicted:?}");
}

/// Training optimises [`crate::Network::forward`]; inference and export run
/// [`crate::Network::outputs`]. The two are written apart (the pooled features are built
/// differently), so their logits are compared on real photos: a change to one path that the
/// other misses shows here, not as a shipped model answering differently from how it trained.
#[test]
#[ignore = "needs HAM10000 in ../shared/ham10000"]
fn training_and_inference_forward_paths_agree_on_photos() {
    use burn::prelude::*;
    let classifier = shipped();
    let photos = ham10000_sample(500);
    let mut inputs = Vec::new();
    for (bytes, _) in &photos {
        inputs.extend(classifier.prepare(Photo::Encoded(bytes)).unwrap());
    }
    let size = classifier.config().preprocess.input_size;
    let device = Device::flex();
    let x = Tensor::<4>::from_data(
        TensorData::new(inputs, [photos.len(), 3, size, size]),
        &device,
    );
    let values = |t: Tensor<2>| t.into_data().try_into_vec_as::<f32>().unwrap();
    let trained = values(classifier.model().forward(x.clone()));
    let inferred = values(classifier.model().outputs(x).logits);
    assert_eq!(trained.len(), photos.len() * crate::CLASSES.len());
    let worst = trained
        .iter()
        .zip(&inferred)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-4, "the two paths' logits differ by {worst}");
}

/// The shipped network loads to the floats burn's own path gives, bit for bit: burn's
/// dequantisation of each 8-bit tensor and a cast of each f16 one. Loading turns the 8-bit
/// tensors into f32 in the file, run by run (`weights/dequantise.rs`), and the f16 ones after
/// reading the record; any difference here would be a network that answers differently from
/// the one measured.
#[test]
fn the_shipped_weights_load_to_burns_own_floats() {
    use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
    use burn::prelude::*;
    use burn::tensor::DType;

    struct BurnsDequantise;
    impl ModuleMapper for BurnsDequantise {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| match t.dtype() {
                DType::QFloat(_) => t.dequantize(),
                _ => t,
            })
        }
    }
    #[derive(Default)]
    struct Floats(Vec<(DType, Vec<u32>)>);
    impl ModuleVisitor for Floats {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let data = param.val().into_data();
            let bits = data
                .as_slice::<f32>()
                .map(|v| v.iter().map(|x| x.to_bits()).collect());
            self.0.push((data.dtype(), bits.unwrap_or_default()));
        }
    }
    let floats = |network: crate::Network| {
        let mut floats = Floats::default();
        network.visit(&mut floats);
        floats.0
    };

    let dir = model_dir();
    let json = std::fs::read_to_string(dir.join(CONFIG_FILE)).unwrap();
    let weights = std::fs::read(dir.join(WEIGHTS_FILE)).unwrap();
    let config = super::config_for(&json, &weights).unwrap();
    let device = Device::flex();
    let ours = floats(super::from_bytes(&config, &weights, &device).unwrap());
    let stored = super::load_stored(&config, &weights, &device, false).unwrap();
    let burns = floats(stored.map(&mut BurnsDequantise));
    assert!(ours.len() > 100, "{} tensors", ours.len());
    assert!(
        ours.iter()
            .all(|(dtype, bits)| *dtype == DType::F32 && !bits.is_empty())
    );
    assert!(ours == burns, "a tensor loads to other floats than burn's");
}
