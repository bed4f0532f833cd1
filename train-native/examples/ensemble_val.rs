//! What averaging several runs' networks (an ensemble) would buy, on the validation split only.
//! Each run's best epoch scores the validation photos at its views, as they are and under the
//! warm colour cast; every member alone, and the mean probabilities of every pair, every
//! triple and all of them, then get decision offsets fitted exactly as `train` fits one
//! network's, and print the figures the project's rules compare (M: the mean of balanced
//! accuracy and macro F1 after offsets; W: balanced accuracy under the warm cast with the same
//! offsets). The runs must share the split; the test split is never read.
//!
//! `cargo run --release -p train-native --example ensemble_val -- RUN_DIR RUN_DIR...`

use std::path::PathBuf;

use anyhow::{Result, bail};
use burn::tensor::Device;
use skin_lesion::{Classifier, TrainingConfig};
use train_native::checkpoint::{self, State};
use train_native::cli::PathArgs;
use train_native::data::corrupt::WARM_CAST;
use train_native::score::{self, Images};
use train_native::{offsets, robustness};

type Rows = Vec<Vec<f32>>;

/// One run's log probabilities on the validation photos, as they are and under the warm cast.
struct Member {
    name: String,
    clean: Rows,
    warm: Rows,
}

fn main() -> Result<()> {
    let dirs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if dirs.len() < 2 {
        bail!("usage: ensemble_val RUN_DIR RUN_DIR... (two runs at least)");
    }
    let states = dirs
        .iter()
        .map(|d| read_state(d))
        .collect::<Result<Vec<_>>>()?;
    let first: &TrainingConfig = &states[0].config;
    for (dir, state) in dirs.iter().zip(&states) {
        let same_cache = state.config.preprocess.resize_size == first.preprocess.resize_size;
        if state.config.split != first.split || !same_cache {
            bail!(
                "{} has another split or resize size than {}",
                dir.display(),
                dirs[0].display()
            );
        }
    }
    let paths = PathArgs::default();
    let data = train_native::data::prepare(first, &paths)?;
    let images = Images::new(&data.dataset, &data.cache, &data.split.val);
    let photos = robustness::decode_all(&data.dataset, &data.split.val)?;
    let mut members = Vec::new();
    for (dir, state) in dirs.iter().zip(&states) {
        // As the run validated it (at its 4-bit steps for a `four_bit` run).
        let path = checkpoint::best_file(dir, state.best_epoch);
        let model = checkpoint::validated_network(&state.config, &path)?;
        let classifier = Classifier::new(model, state.config.model(), Device::flex());
        let clean = score::score(&classifier, &images)?.answers;
        let warm = robustness::answers_under(&classifier, &photos, Some(&WARM_CAST))?;
        let log = |a: &skin_lesion::Answer| -> Vec<f32> {
            a.probabilities.iter().map(|p| p.max(1e-12).ln()).collect()
        };
        members.push(Member {
            name: dir
                .file_name()
                .map_or("?".into(), |n| n.to_string_lossy().into_owned()),
            clean: clean.iter().map(log).collect(),
            warm: warm.iter().map(log).collect(),
        });
    }
    println!("M (bal acc / macro F1 after offsets)  W (warm cast)  members");
    for subset in subsets(members.len()) {
        let chosen: Vec<&Member> = subset.iter().map(|&i| &members[i]).collect();
        report(&chosen, &images.labels, first.split.seed);
    }
    Ok(())
}

fn read_state(dir: &std::path::Path) -> Result<State> {
    checkpoint::read_state(&dir.join(checkpoint::STATE_FILE))
}

/// Every member alone, every pair, every triple, and all of them.
fn subsets(n: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    for i in 0..n {
        for j in i + 1..n {
            out.push(vec![i, j]);
            for k in j + 1..n {
                out.push(vec![i, j, k]);
            }
        }
    }
    if n > 3 {
        out.push((0..n).collect());
    }
    out.sort_by_key(Vec::len);
    out
}

/// The log of the members' mean probabilities.
fn mean(rows: &[&Rows]) -> Rows {
    (0..rows[0].len())
        .map(|i| {
            (0..rows[0][i].len())
                .map(|c| {
                    let p: f32 =
                        rows.iter().map(|r| r[i][c].exp()).sum::<f32>() / rows.len() as f32;
                    p.max(1e-12).ln()
                })
                .collect()
        })
        .collect()
}

fn report(members: &[&Member], labels: &[usize], seed: u64) {
    let clean = mean(&members.iter().map(|m| &m.clean).collect::<Vec<_>>());
    let warm = mean(&members.iter().map(|m| &m.warm).collect::<Vec<_>>());
    let fitted = offsets::fit_logits(&clean, labels, seed);
    let after = offsets::metrics_with(&clean, labels, &fitted.offsets);
    let under = offsets::metrics_with(&warm, labels, &fitted.offsets);
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    println!(
        "M {:.4} ({:.3} / {:.3})  W {:.3}  {}",
        offsets::objective(&after),
        after.balanced_accuracy,
        after.macro_f1,
        under.balanced_accuracy,
        names.join(" + ")
    );
}
