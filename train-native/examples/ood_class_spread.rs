//! Why the out-of-distribution score refused rare classes more often: for each class, the
//! mean distance of its photos to their own class centre under the model's stored density
//! (unscaled), on the training photos at one view (what the density is fitted on) and on the
//! validation photos at one view and at every view (what the threshold is set on: the mean of
//! the views sits nearer the centre), and their ratios. A ratio at every view above the other
//! classes' means that class's held-out photos sit further out than a scale fitted at one view
//! says: what this study found, and why the class scales are now fitted at every view
//! (`answer_fit::SCALE_PHOTOS`).
//! Validation and training splits only; the test split is never read.
//!
//! `cargo run --release -p train-native --example ood_class_spread [-- MODEL_DIR]`

use anyhow::{Context, Result};
use skin_lesion::Classifier;
use train_native::cli::PathArgs;
use train_native::model_files;
use train_native::score::{self, Images};

fn main() -> Result<()> {
    let folder = model_files::Folder::from_args()?;
    let (report, dir) = (&folder.report, &folder.dir);
    let data = train_native::data::prepare(&report.model.training, &PathArgs::default())?;
    let (json, bytes) = (&folder.config_json, &folder.weights);
    let classifier = Classifier::from_files(json, bytes, burn::tensor::Device::flex())?;
    let ood = classifier
        .config()
        .answer
        .as_ref()
        .and_then(|a| a.ood.clone())
        .context("the model has no out-of-distribution score")?;
    // Loaded on the CPU, so its density reads back synchronously.
    let density = classifier
        .model()
        .density()
        .context("the weights hold no density")?
        .to_scorer();
    let [start, end] = ood.features;
    let own = |sums: &[skin_lesion::ViewSums], labels: &[usize]| -> Vec<(f64, usize)> {
        let mut per_class = vec![(0.0, 0usize); classifier.classes()];
        for (s, &y) in sums.iter().zip(labels) {
            let (_, features) = s.means();
            per_class[y].0 += density.distances(&features[start..end])[y];
            per_class[y].1 += 1;
        }
        per_class
    };
    let train = Images::new(&data.dataset, &data.cache, &data.split.train);
    let train_sums = score::view_sums(&classifier.with_views(1)?, &train)?;
    let val = Images::new(&data.dataset, &data.cache, &data.split.val);
    let val_one = own(
        &score::view_sums(&classifier.with_views(1)?, &val)?,
        &val.labels,
    );
    let val_sums = score::view_sums(&classifier, &val)?;
    let (t, v) = (own(&train_sums, &train.labels), own(&val_sums, &val.labels));
    println!(
        "{}: {} over features {start}..{end}",
        dir.display(),
        report
            .sections
            .ood
            .as_ref()
            .map_or("?", |o| o.method.as_str())
    );
    let views = classifier.config().preprocess.test_time_views;
    println!(
        "class   train n  mean d (1 view)   val n  mean d (1 view)  val/train   mean d ({views} views)  val/train"
    );
    for (c, class) in classifier.config().classes.iter().enumerate() {
        let mean = |(sum, n): (f64, usize)| sum / n as f64;
        let (tm, v1, vm) = (mean(t[c]), mean(val_one[c]), mean(v[c]));
        println!(
            "{:6} {:8} {:16.1} {:7} {:16.1} {:10.3} {:20.1} {:10.3}",
            class.code,
            t[c].1,
            tm,
            v[c].1,
            v1,
            v1 / tm,
            vm,
            vm / tm
        );
    }
    Ok(())
}
