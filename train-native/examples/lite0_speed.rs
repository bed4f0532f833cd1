//! Training throughput of EfficientNet-Lite0 fine-tuned whole (forward, backward and AdamW on
//! random batches, a new 7-class head), the measurement issue 19's recipe rests on: burn's
//! grouped-convolution backward is the step's suspected bottleneck.
//!
//! `cargo run --release -p train-native --example lite0_speed [-- [--batch N] [--steps N]
//!   [--height H] [--width W] [--frozen N]]` (defaults: batch 32, 5 steps, 120x160, nothing
//!   frozen, on the CPU; `--frozen N` freezes the stem and the first N of the 16 blocks)
//!
//! Its PyTorch twin, `lite0_speed_torch.py` beside it, prints the same `train <N> img/s`.

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use skin_lesion::model::lite0::Lite0Config;

const USAGE: &str =
    "usage: lite0_speed [--batch N] [--steps N] [--height H] [--width W] [--frozen N]";

fn main() {
    let (mut batch, mut steps, mut height, mut width, mut frozen) = (32, 5, 120, 160, 0);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value: usize = args
            .next()
            .and_then(|v| v.parse().ok())
            .filter(|&v| v > 0 || arg == "--frozen")
            .unwrap_or_else(|| {
                eprintln!("{arg} needs a positive whole number\n{USAGE}");
                std::process::exit(2)
            });
        match arg.as_str() {
            "--batch" => batch = value,
            "--steps" => steps = value,
            "--height" => height = value,
            "--width" => width = value,
            "--frozen" => frozen = value,
            _ => {
                eprintln!("unknown option {arg}\n{USAGE}");
                std::process::exit(2)
            }
        }
    }
    let device = Device::flex().autodiff();
    device.seed(0);
    let mut model = Lite0Config::new()
        .init(7, None, &device)
        .freeze_first(frozen);
    let mut optim = AdamWConfig::new().with_weight_decay(1e-4).init();
    let loss_fn = CrossEntropyLossConfig::new()
        .with_smoothing(Some(0.05))
        .init(&device);
    let x = Tensor::<4>::random(
        [batch, 3, height, width],
        burn::tensor::Distribution::Default,
        &device,
    );
    let labels: Vec<i64> = (0..batch as i64).map(|i| i % 7).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), &device);
    let mut started = Instant::now();
    for step in 0..steps + 1 {
        if step == 1 {
            started = Instant::now();
        }
        let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
        let _: f32 = loss.into_scalar();
    }
    let rate = (steps * batch) as f64 / started.elapsed().as_secs_f64();
    println!("burn flex: Lite0 at {height}x{width}, batch {batch}, {frozen} blocks frozen");
    println!("train {rate:.1} img/s");
}
