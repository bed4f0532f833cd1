use burn::prelude::*;

use super::*;
use crate::Classifier;

fn small() -> LesionNetConfig {
    LesionNetConfig::new().with_base_width(4).with_stages(3).with_input_size(32).with_resize_size(36)
}

fn input(config: &LesionNetConfig, batch: usize) -> Vec<f32> {
    let n = batch * 3 * config.input_size * config.input_size;
    (0..n).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect()
}

#[test]
fn round_trip_gives_identical_outputs() {
    let device = Device::flex();
    let config = small();
    let model = config.init(&device);
    let original = Classifier::new(model.clone(), config.clone(), device.clone());
    let bytes = to_bytes(model).unwrap();
    let loaded = Classifier::from_bytes(&config_to_json(&config), &bytes, device).unwrap();
    let x = input(&config, 3);
    assert_eq!(original.probabilities(&x, 3), loaded.probabilities(&x, 3));
}

#[test]
fn half_precision_weights_are_half_the_size_and_load_as_f32() {
    let device = Device::flex();
    // Wide enough (25k parameters) that the tensors, not the names in the header, set the size.
    let config = small().with_stem(Some(2)).with_base_width(16);
    let model = config.init(&device);
    let full = to_bytes(model.clone()).unwrap();
    let half = to_half_bytes(&config, model.clone()).unwrap();
    assert!(half.len() < full.len() * 6 / 10, "{} vs {} bytes", half.len(), full.len());
    let loaded = from_bytes(&config, &half, &device).unwrap();
    let x = Tensor::<4>::from_data(TensorData::new(input(&config, 2), [2, 3, 32, 32]), &device);
    let a: Vec<f32> = model.probabilities(x.clone()).into_data().try_to_vec::<f32>().unwrap();
    let out = loaded.probabilities(x.clone());
    assert_eq!(out.dtype(), burn::tensor::DType::F32);
    let b: Vec<f32> = out.into_data().try_to_vec::<f32>().unwrap();
    let worst = a.iter().zip(&b).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 5e-3, "f16 weights moved a probability by {worst}");
    // Loading the same half-precision bytes again gives the same outputs, to the bit.
    let again = from_bytes(&config, &half, &device).unwrap();
    let c: Vec<f32> = again.probabilities(x).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(b, c);
}

#[test]
fn a_network_with_a_stem_round_trips() {
    let device = Device::flex();
    let config = small().with_stem(Some(2));
    let model = config.init(&device);
    let original = Classifier::new(model.clone(), config.clone(), device.clone());
    let bytes = to_bytes(model).unwrap();
    let loaded = Classifier::from_bytes(&config_to_json(&config), &bytes, device.clone()).unwrap();
    let x = input(&config, 2);
    assert_eq!(original.probabilities(&x, 2), loaded.probabilities(&x, 2));
    // The same weights without the stem are another architecture.
    assert!(matches!(from_bytes(&small(), &bytes, &device), Err(WeightsError::Mismatch(_))));
}

#[test]
fn configs_written_before_the_stem_and_views_existed_still_load() {
    let old = r#"{"input_size":64,"resize_size":72,"base_width":24,"stages":4,"convs_per_stage":1,"dropout":0.3}"#;
    let config = config_from_json(old).unwrap();
    assert_eq!(config.stem, None);
    assert_eq!(config.views(), 1);
    assert_eq!(config.base_width, 24);
}

#[test]
fn a_config_with_an_impossible_view_count_is_refused() {
    let bad = r#"{"input_size":64,"resize_size":72,"base_width":24,"stages":4,"convs_per_stage":1,"dropout":0.3,"test_time_views":3}"#;
    let err = config_from_json(bad).unwrap_err();
    assert!(err.to_string().contains("test_time_views"), "{err}");
}

#[test]
fn weights_for_another_architecture_are_refused() {
    let device = Device::flex();
    let bytes = to_bytes(small().init(&device)).unwrap();
    let wider = small().with_base_width(8);
    let err = from_bytes(&wider, &bytes, &device).unwrap_err();
    assert!(matches!(err, WeightsError::Mismatch(_)), "{err}");
    let deeper = small().with_stages(4).with_input_size(32);
    assert!(matches!(from_bytes(&deeper, &bytes, &device), Err(WeightsError::Mismatch(_))));
}

#[test]
fn corrupt_weights_are_refused() {
    let device = Device::flex();
    let config = small();
    let bytes = to_bytes(config.init(&device)).unwrap();
    for bad in [&b""[..], &b"not a burnpack file at all, sorry"[..], &bytes[..bytes.len() / 2]] {
        let err = from_bytes(&config, bad, &device).unwrap_err();
        assert!(matches!(err, WeightsError::Corrupt(_) | WeightsError::Mismatch(_)), "{err}");
    }
}

#[test]
fn config_json_round_trips_and_is_validated() {
    let config = small();
    assert_eq!(config_from_json(&config_to_json(&config)).unwrap(), config);
    assert!(matches!(config_from_json("{"), Err(WeightsError::Config(_))));
    let bad = config_to_json(&config.with_stages(0));
    assert!(matches!(config_from_json(&bad), Err(WeightsError::Config(_))));
}
