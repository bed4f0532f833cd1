//! Training throughput of the network: forward, backward and AdamW steps on random batches,
//! with the shipped loss (class weights, label smoothing). With no arguments it times the
//! shipped recipe ([`TrainingConfig::new`]) on the backend `train` uses by default and prints
//! `train <N> img/s`. (`infer_speed.rs` times inference.)
//!
//! `cargo run --release -p train-native --example train_speed [-- [--backend cpu|wgpu|auto]
//!   [--batch N] [--steps N] [WIDTH STAGES CONVS INPUT STEM]...]`
//!
//! Its PyTorch twin, `train_speed_torch.py` beside it, prints the same figure for PyTorch.

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use skin_lesion::{LesionNetConfig, ModelConfig, PreprocessConfig, TrainingConfig};
use train_native::backend::{self, BackendChoice};

struct Options {
    backend: BackendChoice,
    batch: usize,
    steps: usize,
    configs: Vec<ModelConfig>,
}

const USAGE: &str = "usage: train_speed [--backend cpu|wgpu|auto] [--batch N] [--steps N] [WIDTH STAGES CONVS INPUT STEM]...";

/// Say what is wrong with the arguments, and how they go, and stop.
fn usage(problem: &str) -> ! {
    eprintln!("{problem}\n{USAGE}");
    std::process::exit(2)
}

/// The from-scratch network's recipe, which this benchmark and its PyTorch twin time.
fn recipe() -> TrainingConfig {
    TrainingConfig::new()
        .with_network(LesionNetConfig::new().into())
        .with_frozen_blocks(0)
        .with_batch_parts(None)
        .with_preprocess(PreprocessConfig::new())
        .with_batch_size(64)
}

fn options() -> Options {
    let recipe = recipe();
    let mut options = Options {
        backend: BackendChoice::Auto,
        batch: recipe.batch_size,
        steps: 20,
        configs: Vec::new(),
    };
    let mut numbers = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        let count = |text: String| {
            text.parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .unwrap_or_else(|| usage(&format!("{text:?} is not a positive whole number")))
        };
        match arg.as_str() {
            "--help" | "-h" => {
                println!("Times training steps on random batches.\n{USAGE}");
                std::process::exit(0)
            }
            "--backend" => {
                let name = value();
                options.backend = clap::ValueEnum::from_str(&name, true)
                    .unwrap_or_else(|_| usage(&format!("no backend {name:?}")))
            }
            "--batch" => options.batch = count(value()),
            "--steps" => options.steps = count(value()),
            number => numbers.push(count(number.to_string())),
        }
    }
    if !numbers.len().is_multiple_of(5) {
        usage("a network is five numbers: WIDTH STAGES CONVS INPUT STEM");
    }
    options.configs = numbers
        .chunks(5)
        .map(|c| {
            recipe
                .model()
                .map_lesion_net(|n| {
                    n.with_base_width(c[0])
                        .with_stages(c[1])
                        .with_convs_per_stage(c[2])
                        .with_stem(c[4])
                })
                .map_preprocess(|p| p.with_input_size(c[3]).with_resize_size(c[3]))
        })
        .collect();
    if options.configs.is_empty() {
        options.configs.push(recipe.model());
    }
    options
}

fn main() -> anyhow::Result<()> {
    let options = options();
    let selected = backend::select(options.backend)?;
    let recipe = recipe();
    for config in &options.configs {
        let device = selected.device.clone().autodiff();
        device.seed(0);
        let mut model = config.init(&device);
        let mut optim = AdamWConfig::new()
            .with_weight_decay(recipe.weight_decay)
            .init();
        let weights = vec![2.0, 1.5, 1.0, 3.0, 1.0, 0.4, 3.0];
        let loss_fn = CrossEntropyLossConfig::new()
            .with_weights(Some(weights))
            .with_smoothing(Some(recipe.label_smoothing))
            .init(&device);
        let (batch, input) = (options.batch, config.preprocess.input_size);
        let x = Tensor::<4>::random(
            [batch, 3, input, input],
            burn::tensor::Distribution::Default,
            &device,
        );
        let y = Tensor::<1, Int>::from_data(
            TensorData::new(
                (0..batch as i64).map(|i| i % 7).collect::<Vec<_>>(),
                [batch],
            ),
            &device,
        );
        let mut started = Instant::now();
        for step in 0..options.steps + 3 {
            if step == 3 {
                started = Instant::now();
            }
            let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(recipe.lr, model, grads);
            let _: f32 = loss.into_scalar();
        }
        let train = (options.steps * batch) as f64 / started.elapsed().as_secs_f64();
        let params = burn::module::Module::num_params(&model);
        println!(
            "{} ({params} params) on {}, batch {batch}:",
            config.architecture_name(),
            selected.backend
        );
        println!("train {train:.0} img/s");
    }
    Ok(())
}
