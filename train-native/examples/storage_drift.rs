//! What storing a run's best weights as shipped costs: the validation figures of the f32
//! weights as the run validated them (at their 4-bit steps for a `four_bit` run; the mean of
//! the last epochs for an averaging one), of their f16 copy and of their 8-bit copy
//! (`--storage q8`, rounded as an export rounds them), each at the run's view count and before
//! decision offsets, and the largest change of any probability. The project's rule: a smaller
//! storage ships only if balanced accuracy and macro F1 move by < 0.002. (`q8_drift` compares
//! roundings on an exported model.)
//!
//! `cargo run --release -p train-native --example storage_drift -- RUN_DIR [--views N]
//! [--storage f16,q8]`

use anyhow::Result;
use burn::prelude::*;
use clap::Parser;
use skin_lesion::weights::{self, Storage};
use skin_lesion::{Classifier, Network};
use train_native::checkpoint;
use train_native::cli::PathArgs;
use train_native::data::prepare;
use train_native::quantise;
use train_native::score::{self, Images, ScoredAnswers};

#[derive(Parser)]
struct Args {
    /// A run folder: its state.json and best-epoch weights.
    run: std::path::PathBuf,
    /// Views to average [default: the run's].
    #[arg(long)]
    views: Option<usize>,
    /// The storages to compare with the f32 weights.
    #[arg(long, value_delimiter = ',', default_values = ["f16", "q8"], value_parser = parse_storage)]
    storage: Vec<Storage>,
    #[command(flatten)]
    paths: PathArgs,
}

fn parse_storage(text: &str) -> Result<Storage, String> {
    serde_json::from_value(serde_json::Value::String(text.into())).map_err(|_| "f16 or q8".into())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let state = checkpoint::read_state(&args.run.join(checkpoint::STATE_FILE))?;
    let mut config = state.config.clone();
    if let Some(views) = args.views {
        config.preprocess.test_time_views = views;
    }
    let model = config.model();
    let validated =
        checkpoint::validated_network(&config, &checkpoint::shipped_file(&args.run, &state))?;
    let best = weights::to_bytes(validated)?;
    let data = prepare(&config, &args.paths)?;
    let val = Images::new(&data.dataset, &data.cache, &data.split.val);
    let device = Device::flex();
    let score = |bytes: &[u8]| -> Result<ScoredAnswers> {
        let network: Network = weights::from_bytes(&model, bytes, &device)?;
        score::score(
            &Classifier::new(network, model.clone(), device.clone()),
            &val,
        )
    };
    let full = score(&best)?;
    println!(
        "views {}: f32 {} bytes: balanced accuracy {:.4}, macro F1 {:.4}",
        model.preprocess.test_time_views,
        best.len(),
        full.metrics.balanced_accuracy,
        full.metrics.macro_f1
    );
    let plan = quantise::plan_for(&config);
    for &storage in &args.storage {
        let network = weights::from_bytes(&model, &best, &device)?;
        let network = quantise::for_storage(network, &model.preprocess, (storage, plan), &data)?;
        let bytes = weights::to_shipped_bytes(&model, network, storage)?;
        let stored = score(&bytes)?;
        let drift = full
            .answers
            .iter()
            .zip(&stored.answers)
            .flat_map(|(a, b)| {
                a.probabilities
                    .iter()
                    .zip(&b.probabilities)
                    .map(|(x, y)| (x - y).abs())
            })
            .fold(0.0f32, f32::max);
        println!(
            "{storage:?} {} bytes: balanced accuracy {:.4} ({:+.4}), macro F1 {:.4} ({:+.4}), largest probability change {drift:.4}",
            bytes.len(),
            stored.metrics.balanced_accuracy,
            stored.metrics.balanced_accuracy - full.metrics.balanced_accuracy,
            stored.metrics.macro_f1,
            stored.metrics.macro_f1 - full.metrics.macro_f1,
        );
    }
    Ok(())
}
