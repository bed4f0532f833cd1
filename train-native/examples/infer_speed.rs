//! Inference latency of the shipped model on the CPU backend for one photo, with 1, 2, 4 and 8
//! test-time views: the network part of what the page's CPU path does per photo; first, how
//! long the model takes to load from its files (checksum, weights, density, norms folded: the
//! page's load before its warm-up). Run it with `RAYON_NUM_THREADS=1` to match the browser's
//! single wasm thread.
//!
//! `cargo run --release -p train-native --example infer_speed [-- MODEL_DIR]`

use std::time::Instant;

use burn::prelude::*;
use skin_lesion::model::views::VIEW_COUNTS;
use skin_lesion::{Classifier, weights};

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "web/model".into());
    let json = std::fs::read_to_string(format!("{dir}/config.json"))?;
    let bytes = std::fs::read(format!("{dir}/model.bpk"))?;
    let mut loads: Vec<f64> = (0..12)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(Classifier::from_files(&json, &bytes, Device::flex()))
                .expect("the model loads");
            t.elapsed().as_secs_f64() * 1e3
        })
        .skip(2)
        .collect();
    loads.sort_by(f64::total_cmp);
    println!("load: median {:.1} ms", loads[loads.len() / 2]);
    let config = weights::config_for(&json, &bytes)?;
    let size = config.preprocess.input_size;
    let input: Vec<f32> = (0..3 * size * size)
        .map(|i| ((i * 37 % 255) as f32 / 255.0 - 0.5) * 2.0)
        .collect();
    let device = Device::flex();
    let classifier = Classifier::new(
        weights::from_bytes(&config, &bytes, &device)?,
        config,
        device,
    );
    for views in VIEW_COUNTS {
        let mut times: Vec<f64> = (0..32)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(classifier.view_sums(&input, 1, 0..views).expect("runs"));
                t.elapsed().as_secs_f64() * 1e3
            })
            .skip(2)
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "{views} view(s): median {:.2} ms per photo (network only)",
            times[times.len() / 2]
        );
    }
    Ok(())
}
