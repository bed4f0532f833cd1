//! What 8-bit storage does to an exported model's answers: its validation figures at its own
//! view count, then those of its 1x1 convolutions rounded to 8 bits by each `--plan`, with
//! the share of photos whose top class is unchanged (validation, and as many training photos
//! other than those rounded against) and the largest change of any probability. The test
//! split is not read.
//!
//! `cargo run --release -p train-native --example q8_drift -- [MODEL_DIR] --plan nearest:255:0
//! --plan gptq:64:6:seq --plan gptq:64:6:4bit` (rounding, longest run of inputs per scale,
//! leading blocks kept f16, `seq` for each layer's inputs taken after the layers before it are
//! rounded, `4bit` for 4-bit steps on every rounded layer or `4bit-exp` on the expansions and
//! the head only). Each plan is scored as its exported file gives it back (`--save` keeps the
//! files, to gzip).

use anyhow::{Result, bail};
use burn::prelude::*;
use clap::Parser;
use skin_lesion::weights::{self, CONFIG_FILE, REPORT_FILE, Storage, WEIGHTS_FILE};
use skin_lesion::{Classifier, ModelConfig, Network};
use train_native::cli::PathArgs;
use train_native::data::prepare;
use train_native::quantise::{self, FourBit, Plan, Rounding};
use train_native::score::{self, Images, ScoredAnswers};
use train_native::{model_files, paths};

#[derive(Parser)]
struct Args {
    /// A model folder [default: web/model].
    model: Option<std::path::PathBuf>,
    /// Roundings to compare: `nearest|gptq:MAX_RUN:KEEP_BLOCKS[:seq]`.
    #[arg(long, value_parser = parse_plan, default_values = ["nearest:255:0", "gptq:255:0"])]
    plan: Vec<Plan>,
    /// Print each layer's rounding noise and stop, without scoring.
    #[arg(long)]
    noise_only: bool,
    /// Write each plan's exported `model.bpk` here (as `plan-N.bpk`), to gzip.
    #[arg(long)]
    save: Option<std::path::PathBuf>,
    #[command(flatten)]
    paths: PathArgs,
}

fn parse_plan(text: &str) -> Result<Plan> {
    let parts: Vec<&str> = text.split(':').collect();
    let rounding = match parts.first() {
        Some(&"nearest") => Rounding::Nearest,
        Some(&"gptq") => Rounding::Gptq,
        _ => bail!("a plan starts with nearest or gptq"),
    };
    let (Some(run), Some(keep)) = (parts.get(1), parts.get(2)) else {
        bail!("a plan is ROUNDING:MAX_RUN:KEEP_BLOCKS[:seq][:4bit|:4bit-exp]");
    };
    let flags = &parts[3..];
    if let Some(other) = flags
        .iter()
        .find(|f| !["seq", "4bit", "4bit-exp"].contains(f))
    {
        bail!("unknown plan flag {other}: seq, 4bit or 4bit-exp");
    }
    if flags.contains(&"4bit") && flags.contains(&"4bit-exp") {
        bail!("a plan takes 4bit or 4bit-exp, not both");
    }
    let four_bit = if flags.contains(&"4bit") {
        FourBit::All
    } else if flags.contains(&"4bit-exp") {
        FourBit::ExpansionsAndHead
    } else {
        FourBit::None
    };
    Ok(Plan {
        rounding,
        max_run: run.parse()?,
        keep_blocks: keep.parse()?,
        sequential: flags.contains(&"seq"),
        four_bit,
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir = args.model.clone().unwrap_or_else(paths::model_dir);
    let bytes = std::fs::read(dir.join(WEIGHTS_FILE))?;
    let config: ModelConfig =
        weights::config_for(&std::fs::read_to_string(dir.join(CONFIG_FILE))?, &bytes)?;
    let report = model_files::read_report(&dir.join(REPORT_FILE))?;
    let data = prepare(&report.model.training, &args.paths)?;
    let device = Device::flex();
    let network = || -> Result<Network> { Ok(weights::from_bytes(&config, &bytes, &device)?) };
    let train = &data.split.train;
    let calibration = quantise::calibration_photos(train);
    let others: Vec<usize> = train
        .iter()
        .filter(|i| !calibration.contains(i))
        .step_by(4)
        .copied()
        .collect();
    let parts = [&data.split.val, &others];
    let score_all = |net: Network| -> Result<Vec<ScoredAnswers>> {
        let classifier = Classifier::new(net, config.clone(), device.clone());
        parts
            .iter()
            .map(|part| score::score(&classifier, &Images::new(&data.dataset, &data.cache, part)))
            .collect()
    };
    let started = std::time::Instant::now();
    let reference = if args.noise_only {
        Vec::new()
    } else {
        score_all(network()?)?
    };
    if let Some(first) = reference.first() {
        println!(
            "shipped ({} views), {} bytes: validation balanced accuracy {:.4}, macro F1 {:.4} ({:.0} s)",
            config.preprocess.test_time_views,
            bytes.len(),
            first.metrics.balanced_accuracy,
            first.metrics.macro_f1,
            started.elapsed().as_secs_f64()
        );
    }
    for (index, &plan) in args.plan.iter().enumerate() {
        let started = std::time::Instant::now();
        let (net, noise) = quantise::rounded(
            network()?,
            &config.preprocess,
            (&data.cache, &calibration),
            plan,
            true,
        )?;
        // Scored as the file gives it back, so that what is measured is what would ship.
        let file = weights::to_shipped_bytes(&config, net, Storage::Q8)?;
        let net = weights::from_bytes(&config, &file, &device)?;
        if let Some(dir) = &args.save {
            std::fs::create_dir_all(dir)?;
            std::fs::write(dir.join(format!("plan-{index}.bpk")), &file)?;
        }
        let rounded_in = started.elapsed().as_secs_f64();
        let means: Vec<f64> = noise
            .iter()
            .map(|(_, n)| n.iter().sum::<f64>() / n.len() as f64)
            .collect();
        let largest = noise
            .iter()
            .flat_map(|(_, n)| n.iter().copied())
            .fold(0.0f64, f64::max);
        println!(
            "{plan:?}: {} layers rounded in {rounded_in:.0} s, {} bytes; noise to signal summed over layers {:.2e}, largest channel {largest:.2e}",
            noise.len(),
            file.len(),
            means.iter().sum::<f64>()
        );
        if args.noise_only {
            for ((layer, _), mean) in noise.iter().zip(&means) {
                println!("  {layer}: mean {mean:.2e}");
            }
            continue;
        }
        let scored = score_all(net)?;
        let (m, val) = (&scored[0].metrics, &reference[0].metrics);
        let (mut same, mut total, mut largest) = (0usize, 0usize, 0.0f32);
        for (a, b) in reference.iter().zip(&scored) {
            for (x, y) in a.answers.iter().zip(&b.answers) {
                total += 1;
                same += usize::from(x.top == y.top);
                for (p, q) in x.probabilities.iter().zip(&y.probabilities) {
                    largest = largest.max((p - q).abs());
                }
            }
        }
        println!(
            "  validation balanced accuracy {:.4} ({:+.4}), macro F1 {:.4} ({:+.4}); top class unchanged on {same} of {total} photos; largest probability change {largest:.4}",
            m.balanced_accuracy,
            m.balanced_accuracy - val.balanced_accuracy,
            m.macro_f1,
            m.macro_f1 - val.macro_f1,
        );
    }
    Ok(())
}
