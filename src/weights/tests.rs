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
