//! Does one temperature fit photos from other cameras? On the validation split only, the
//! exported model at every view (as the widget answers): its logits on the validation photos
//! as they are, and on a fixed sample of them under each corruption of the robustness suite
//! (`answer_fit::shift`). For each condition it prints the temperature that suits it alone
//! and the calibration error (ECE) at the temperature fitted on clean photos (what `train` did
//! before), at the pooled one (half clean, half corrupted), and at the pooled one fitted
//! without the condition's own family: the figure for a camera fault the fit has not seen.
//! The test split is never read.
//!
//! `cargo run --release -p train-native --example calibration_shift [-- MODEL_DIR]`

use anyhow::Result;
use skin_lesion::Classifier;
use skin_lesion::answer::softmax;
use skin_lesion::metrics::Calibration;
use skin_lesion::weights;
use train_native::answer_fit::shift::Shifted;
use train_native::answer_fit::temperature;
use train_native::cli::PathArgs;
use train_native::{model_files, robustness};

fn main() -> Result<()> {
    let folder = model_files::Folder::from_args()?;
    let data = train_native::data::prepare(&folder.report.model.training, &PathArgs::default())?;
    // The network with its offsets and no answer: logits without a temperature.
    let (json, bytes) = (&folder.config_json, &folder.weights);
    let config = weights::config_for(json, bytes)?.unfitted();
    let device = burn::tensor::Device::flex();
    let network = weights::stored_network_from_bytes(&config, bytes, &device)?;
    let plain = Classifier::new(network, config, device);
    let val = &data.split.val;
    let labels = data.dataset.labels(val);
    let photos = robustness::decode_all(&data.dataset, val)?;
    let clean: Vec<Vec<f32>> = robustness::answers_under(&plain, &photos, None)?
        .into_iter()
        .map(|a| a.logits)
        .collect();
    let shifted = Shifted::measure(&plain, &data.dataset, val)?;
    let clean_only = temperature::fit(&clean, &labels);
    let pooled = shifted.temperature((&clean, &labels), None);
    let views = plain.config().preprocess.test_time_views;
    println!(
        "validation at {views} views: {} photos as they are, {} under each corruption; temperature fitted on clean photos {clean_only:.3}, pooled {pooled:.3}",
        labels.len(),
        shifted.labels.len()
    );
    println!("alone   ECE at clean-fit / pooled / pooled without its family (T)   condition");
    println!(
        "{clean_only:6.3}  {:.4} / {:.4}   as they are",
        ece(&clean, &labels, clean_only),
        ece(&clean, &labels, pooled)
    );
    let mut sums = [0.0; 3];
    for (corruption, logits) in &shifted.conditions {
        let held_out = shifted.temperature((&clean, &labels), Some(corruption));
        let figures = [clean_only, pooled, held_out].map(|t| ece(logits, &shifted.labels, t));
        for (sum, f) in sums.iter_mut().zip(figures) {
            *sum += f;
        }
        println!(
            "{:6.3}  {:.4} / {:.4} / {:.4} ({held_out:.3})   {} ({})",
            temperature::fit(logits, &shifted.labels),
            figures[0],
            figures[1],
            figures[2],
            corruption.name(),
            corruption.description()
        );
    }
    let n = shifted.conditions.len() as f64;
    println!(
        "mean over the corruptions: {:.4} / {:.4} / {:.4}",
        sums[0] / n,
        sums[1] / n,
        sums[2] / n
    );
    Ok(())
}

/// The top-label calibration error of `softmax(logits / t)`.
fn ece(logits: &[Vec<f32>], labels: &[usize], t: f32) -> f64 {
    let probabilities: Vec<Vec<f32>> = logits
        .iter()
        .map(|l| softmax(&l.iter().map(|v| v / t).collect::<Vec<_>>()))
        .collect();
    let rows: Vec<&[f32]> = probabilities.iter().map(Vec::as_slice).collect();
    Calibration::of(&rows, labels).ece
}
