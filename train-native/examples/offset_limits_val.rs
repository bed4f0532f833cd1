//! How the range of the decision offsets moves a run's validation figures, on the photos as
//! they are and under the warm colour cast, for each network a run folder holds: its best
//! epoch and, when it averaged, the mean of its last epochs. For every range `train`
//! cross-fits (`offsets::LIMITS`), the offsets fitted within it on the validation photos at
//! every view, and the figures the project's rules compare: M (the mean of balanced accuracy
//! and macro F1 after offsets) and W (balanced accuracy under the warm cast with the same
//! offsets). In-sample on validation, as `train` fits its chosen range; the test split is
//! never read. Then the offsets `train --offsets casts` fits (the photos as they are and under
//! the mild warm and cool casts, range cross-fitted), scored the same way.
//!
//! `cargo run --release -p train-native --example offset_limits_val -- RUN_DIR...`

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::tensor::Device;
use skin_lesion::{Answer, Classifier};
use train_native::checkpoint::{self, State};
use train_native::cli::PathArgs;
use train_native::data::corrupt::WARM_CAST;
use train_native::score::{self, Images};
use train_native::{offsets, robustness};

fn main() -> Result<()> {
    let dirs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        bail!("usage: offset_limits_val RUN_DIR...");
    }
    for dir in &dirs {
        let state = checkpoint::read_state(&dir.join(checkpoint::STATE_FILE))?;
        let data = train_native::data::prepare(&state.config, &PathArgs::default())?;
        let images = Images::new(&data.dataset, &data.cache, &data.split.val);
        let photos = robustness::decode_all(&data.dataset, &data.split.val)?;
        let mut networks = vec![(
            format!("best epoch {}", state.best_epoch),
            checkpoint::best_file(dir, state.best_epoch),
        )];
        if let Some((first, last)) = state.averaged_epochs() {
            networks.push((
                format!("mean of epochs {first}-{last}"),
                checkpoint::average_file(dir, last),
            ));
        }
        for (name, path) in networks {
            println!("{}: {name}", dir.display());
            let classifier = load(&state, &path)?;
            let clean = logits(&score::score(&classifier, &images)?.answers);
            let warm = logits(&robustness::answers_under(
                &classifier,
                &photos,
                Some(&WARM_CAST),
            )?);
            for limit in offsets::LIMITS {
                let fitted = offsets::fit_within(&clean, &images.labels, limit);
                let after = offsets::metrics_with(&clean, &images.labels, &fitted);
                let under = offsets::metrics_with(&warm, &images.labels, &fitted);
                println!(
                    "  ±{limit:.1}: M {:.4} ({:.4} / {:.4})  W {:.4}  offsets {fitted:?}",
                    offsets::objective(&after),
                    after.balanced_accuracy,
                    after.macro_f1,
                    under.balanced_accuracy
                );
            }
            let mut shifted = Vec::new();
            for cast in offsets::FIT_CASTS {
                shifted.push(logits(&robustness::answers_under(
                    &classifier,
                    &photos,
                    Some(&cast),
                )?));
            }
            let conditions = offsets::Conditions::with_shifted(clean.clone(), shifted);
            let fitted =
                offsets::fit_conditions(&conditions, &images.labels, state.config.split.seed);
            let after = offsets::metrics_with(&clean, &images.labels, &fitted.offsets);
            let under = offsets::metrics_with(&warm, &images.labels, &fitted.offsets);
            println!(
                "  under casts, ±{:.1} by cross-fitting: M {:.4} ({:.4} / {:.4})  W {:.4}  offsets {:?}",
                fitted.limit,
                offsets::objective(&after),
                after.balanced_accuracy,
                after.macro_f1,
                under.balanced_accuracy,
                fitted.offsets
            );
        }
    }
    Ok(())
}

/// The network in `path`, at the run's views, answering with plain logits.
/// The network at `path` as the run validated it (at its 4-bit steps for a `four_bit` run).
fn load(state: &State, path: &Path) -> Result<Classifier> {
    let model = checkpoint::validated_network(&state.config, path)?;
    Ok(Classifier::new(model, state.config.model(), Device::flex()))
}

fn logits(answers: &[Answer]) -> Vec<Vec<f32>> {
    answers.iter().map(|a| a.logits.clone()).collect()
}
