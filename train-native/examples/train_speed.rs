//! Training throughput of the network on the CPU backend: forward, backward and AdamW step
//! on random batches. Prints images per second for a few architectures.
//!
//! `cargo run --release -p train-native --example train_speed -- [base_width stages convs input stem]...`

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use skin_lesion::LesionNetConfig;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let configs: Vec<[usize; 5]> = if args.is_empty() { vec![[24, 4, 1, 64, 1]] } else { args.chunks(5).map(|c| [c[0], c[1], c[2], c[3], c[4]]).collect() };
    let batch = 64;
    for [width, stages, convs, input, stem] in configs {
        let config = LesionNetConfig::new().with_base_width(width).with_stages(stages).with_convs_per_stage(convs).with_input_size(input).with_resize_size(input).with_stem((stem > 1).then_some(stem));
        let device = Device::flex().autodiff();
        let mut model = config.init(&device);
        let mut optim = AdamWConfig::new().init();
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let x = Tensor::<4>::random([batch, 3, input, input], burn::tensor::Distribution::Default, &device);
        let y = Tensor::<1, Int>::from_data(TensorData::new((0..batch as i64).map(|i| i % 7).collect::<Vec<_>>(), [batch]), &device);
        let steps = 12;
        let mut t = Instant::now();
        for step in 0..steps + 2 {
            if step == 2 {
                t = Instant::now();
            }
            let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model, grads);
            let _: f32 = loss.into_scalar();
        }
        let train = (steps * batch) as f64 / t.elapsed().as_secs_f64();
        let valid = model.valid();
        let xv = Tensor::<4>::random([100, 3, input, input], burn::tensor::Distribution::Default, &Device::flex());
        let t = Instant::now();
        for _ in 0..5 {
            let _: Vec<f32> = valid.forward(xv.clone()).into_data().try_to_vec::<f32>().unwrap();
        }
        let infer = 500.0 / t.elapsed().as_secs_f64();
        println!("width {width} stages {stages} convs {convs} input {input} stem {stem}: {} params, train {train:.0} img/s, inference {infer:.0} img/s", valid.num_params());
    }
}
