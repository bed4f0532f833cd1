use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use skin_lesion::{LesionNetConfig, ModelConfig, PreprocessConfig, weights};

/// 4 classes told apart by colour, 8 images each, 16x16.
fn batch(device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let (n, side) = (32, 16);
    let mut data = Vec::with_capacity(n * 3 * side * side);
    let mut labels = Vec::new();
    for i in 0..n {
        let class = i % 4;
        labels.push(class as i64);
        for c in 0..3 {
            for p in 0..side * side {
                let base =
                    if c == class % 3 { 1.0 } else { -0.5 } * if class == 3 { -1.0 } else { 1.0 };
                data.push(base + ((p * 7 + i * 3) % 11) as f32 / 20.0);
            }
        }
    }
    let x = Tensor::from_data(TensorData::new(data, [n, 3, side, side]), device);
    (x, Tensor::from_data(TensorData::new(labels, [n]), device))
}

#[test]
fn a_few_steps_lower_the_loss_on_the_cpu() {
    let device = Device::flex().autodiff();
    device.seed(1);
    let config = ModelConfig::new(
        LesionNetConfig::new()
            .with_base_width(4)
            .with_stages(2)
            .with_stem(1)
            .with_dropout(0.0),
        PreprocessConfig::new()
            .with_input_size(16)
            .with_resize_size(16),
    );
    let mut model = config.init(&device);
    let mut optim = AdamWConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let (x, y) = batch(&device);
    let mut losses = Vec::new();
    for _ in 0..15 {
        let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.02, model, grads);
    }
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(
        losses[14] < 0.7 * losses[0],
        "loss went {} → {}",
        losses[0],
        losses[14]
    );

    // The trained weights, batch-norm statistics included, survive a round trip exactly.
    let valid = model.valid();
    let bytes = weights::to_bytes(valid.clone()).unwrap();
    let plain = Device::flex();
    let loaded = weights::from_bytes(&config, &bytes, &plain).unwrap();
    let (x, _) = batch(&plain);
    let a: Vec<f32> = valid
        .to_device(&plain)
        .forward(x.clone())
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    let b: Vec<f32> = loaded
        .forward(x)
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    assert_eq!(a, b);
}

/// The shipped weights (f16, 8-bit and 4-bit steps) load on a training device, as `train
/// --init web/model` loads them, as trainable parameters: each one a fresh network trains gets
/// a gradient. Loading turns them into f32 after reading the record; a plain cast would have
/// left computed values in their place, which no optimiser updates.
#[test]
fn shipped_weights_load_as_trainable_parameters() {
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::Gradients;
    /// Per float parameter: whether it requires a gradient, and whether it got one.
    struct Trainable<'a>(&'a Gradients, Vec<(bool, bool)>);
    impl ModuleVisitor for Trainable<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            let got = value.grad(self.0).is_some();
            self.1.push((value.is_require_grad(), got));
        }
    }
    let dir = crate::paths::model_dir();
    let json = std::fs::read_to_string(dir.join(weights::CONFIG_FILE)).unwrap();
    let bytes = std::fs::read(dir.join(weights::WEIGHTS_FILE)).unwrap();
    let config = weights::config_from_json(&json).unwrap().unfitted();
    let device = Device::flex().autodiff();
    let size = config.preprocess.input_size;
    let x = Tensor::<4>::ones([1, 3, size, size], &device);
    let trainable = |model: &skin_lesion::Network| {
        let grads = model.forward(x.clone()).sum().backward();
        let mut visitor = Trainable(&grads, Vec::new());
        model.visit(&mut visitor);
        visitor.1
    };
    let loaded = weights::network_from_bytes(&config, &bytes, &device).unwrap();
    let expected = trainable(&config.init(&device));
    assert!(expected.iter().filter(|(_, got)| *got).count() > 100);
    assert_eq!(trainable(&loaded), expected);
}
