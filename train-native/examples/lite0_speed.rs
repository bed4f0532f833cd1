//! Training throughput of EfficientNet-Lite0 fine-tuned whole (forward, backward and AdamW on
//! random batches, a new 7-class head), the measurement issue 19's recipe rests on: burn's
//! grouped-convolution backward is the step's suspected bottleneck.
//!
//! `cargo run --release -p train-native --example lite0_speed [-- [--batch N] [--steps N]
//!   [--height H] [--width W] [--frozen N] [--parts N] [--four-bit 0|1]]` (defaults: batch 32, 5
//!   steps, 120x160, nothing frozen, one part, on the CPU; `--frozen N` freezes the stem and the
//!   first N of the 16 blocks; `--parts N` cuts each batch into N parts run side by side, as
//!   `train --batch-parts N` does, through the trainer's own step; `--four-bit 1` runs each step
//!   through the 4-bit steps, as `train --four-bit true` does)
//!
//! Its PyTorch twin, `lite0_speed_torch.py` beside it, prints the same `train <N> img/s`.

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::AdamWConfig;
use burn::prelude::*;
use skin_lesion::model::lite0::Lite0Config;
use skin_lesion::{Network, PreprocessConfig};
use train_native::commands::train::step::{Batch, Objective, gradients};
use train_native::quantise::trained::FourBitLayers;

const USAGE: &str = "usage: lite0_speed [--batch N] [--steps N] [--height H] [--width W] [--frozen N] [--parts N] [--four-bit 0|1]";

fn main() {
    // As `train` runs (src/allocator.rs).
    train_native::allocator::keep_freed_memory();
    let (mut batch, mut steps, mut height, mut width, mut frozen) = (32, 5, 120, 160, 0);
    let (mut parts, mut four_bit) = (1, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value: usize = args
            .next()
            .and_then(|v| v.parse().ok())
            .filter(|&v| match arg.as_str() {
                "--frozen" => true,
                "--four-bit" => v <= 1,
                _ => v > 0,
            })
            .unwrap_or_else(|| {
                let what = match arg.as_str() {
                    "--four-bit" => "0 or 1",
                    "--frozen" => "a whole number",
                    _ => "a positive whole number",
                };
                eprintln!("{arg} needs {what}\n{USAGE}");
                std::process::exit(2)
            });
        match arg.as_str() {
            "--batch" => batch = value,
            "--steps" => steps = value,
            "--height" => height = value,
            "--width" => width = value,
            "--frozen" => frozen = value,
            "--parts" => parts = value,
            "--four-bit" => four_bit = value == 1, // 0 or 1, checked above
            _ => {
                eprintln!("unknown option {arg}\n{USAGE}");
                std::process::exit(2)
            }
        }
    }
    let device = Device::flex().autodiff();
    device.seed(0);
    let mut model = Network::Lite0(
        Lite0Config::new()
            .init(7, None, &device)
            .freeze_first(frozen),
    );
    let preprocess = PreprocessConfig::new()
        .with_input_size(height)
        .with_resize_size(height);
    let layers = four_bit.then(|| FourBitLayers::of(&model.valid(), &preprocess).expect("layers"));
    let mut optim = AdamWConfig::new().with_weight_decay(1e-4).init();
    let loss_fn = CrossEntropyLossConfig::new()
        .with_smoothing(Some(0.05))
        .init(&device);
    let x: Vec<f32> = Tensor::<4>::random(
        [batch, 3, height, width],
        burn::tensor::Distribution::Default,
        &Device::flex(),
    )
    .into_data()
    .try_into_vec::<f32>()
    .expect("f32 inputs");
    let labels: Vec<usize> = (0..batch).map(|i| i % 7).collect();
    let class_weights = [1.0; 7];
    let mut started = Instant::now();
    for step in 0..steps + 1 {
        if step == 1 {
            started = Instant::now();
        }
        let objective = Objective {
            model: &model,
            loss_fn: &loss_fn,
            class_weights: &class_weights,
            device: &device,
            four_bit: layers.as_ref(),
            mask_weight: 0.0,
        };
        let inputs = Batch {
            inputs: x.clone(),
            labels: &labels,
            size: [height, width],
            masks: None,
        };
        let grads = gradients(&objective, inputs, parts).expect("a step").grads;
        model = optim.step(1e-3, model, grads);
    }
    let rate = (steps * batch) as f64 / started.elapsed().as_secs_f64();
    println!(
        "burn flex: Lite0 at {height}x{width}, batch {batch} in {parts} part(s), {frozen} blocks frozen"
    );
    println!("train {rate:.1} img/s");
}
