//! The robustness suite: the split's photos under each corruption of
//! [`crate::data::corrupt::suite`], classified through the shared preprocessing. It is the
//! project's stand-in for photos from other clinics' cameras.

use anyhow::{Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use skin_lesion::metrics::Metrics;
use skin_lesion::preprocess::{self, Decoded};
use skin_lesion::report::{CorruptionFigures, Robustness};
use skin_lesion::{Answer, Classifier};

use crate::data::Dataset;
use crate::data::corrupt::{Corruption, WARM_CAST, suite};
use crate::score::{self, in_batches};

/// The suite's figures, and the answers under [`WARM_CAST`], on which the report measures
/// patient data too (so the photos are not run under it twice).
pub struct SuiteFigures {
    pub robustness: Robustness,
    pub warm_cast: Vec<Answer>,
}

/// Score `classifier` on `indices` of `dataset` under every corruption of the suite.
pub fn evaluate(
    classifier: &Classifier,
    dataset: &Dataset,
    indices: &[usize],
    clean: &Metrics,
) -> Result<SuiteFigures> {
    let photos = decode_all(dataset, indices)?;
    let labels = dataset.labels(indices);
    let mut corruptions = Vec::new();
    let mut warm_cast = Vec::new();
    for (severity, corruption) in suite() {
        let answers = answers_under(classifier, &photos, &corruption)?;
        let (metrics, flagged) = metrics_and_refused(&answers, &labels, &dataset.codes());
        if corruption == WARM_CAST {
            warm_cast = answers;
        }
        eprintln!(
            "  {} ({}): balanced accuracy {:.3}, {:.1}% refused as not dermatoscopy photos",
            corruption.name(),
            corruption.description(),
            metrics.balanced_accuracy,
            100.0 * flagged
        );
        corruptions.push(CorruptionFigures {
            name: corruption.name().into(),
            severity,
            description: corruption.description(),
            balanced_accuracy: metrics.balanced_accuracy,
            macro_f1: metrics.macro_f1,
            flagged,
        });
    }
    let mean =
        corruptions.iter().map(|c| c.balanced_accuracy).sum::<f64>() / corruptions.len() as f64;
    Ok(SuiteFigures {
        robustness: Robustness {
            mean_balanced_accuracy: mean,
            clean_balanced_accuracy: clean.balanced_accuracy,
            corruptions,
        },
        warm_cast,
    })
}

/// The metrics of `indices` of `dataset` under one corruption, and the share refused as not
/// dermatoscopy photos.
pub fn metrics_under(
    classifier: &Classifier,
    dataset: &Dataset,
    indices: &[usize],
    corruption: &Corruption,
) -> Result<(Metrics, f64)> {
    let photos = decode_all(dataset, indices)?;
    let answers = answers_under(classifier, &photos, corruption)?;
    Ok(metrics_and_refused(
        &answers,
        &dataset.labels(indices),
        &dataset.codes(),
    ))
}

/// The answers to the photos under one corruption (noise seeded by the photo's position).
pub fn answers_under(
    classifier: &Classifier,
    photos: &[Decoded],
    corruption: &Corruption,
) -> Result<Vec<Answer>> {
    let config = classifier.config();
    in_batches(photos, |first, chunk| {
        let inputs: Vec<f32> = chunk
            .par_iter()
            .enumerate()
            .flat_map_iter(|(k, photo)| {
                let mut rng = ChaCha8Rng::seed_from_u64((first + k) as u64);
                let changed = Decoded {
                    image: corruption.apply(&photo.image, &mut rng),
                    orientation: photo.orientation,
                };
                preprocess::prepare(&changed, &config.preprocess)
            })
            .collect();
        score::classify(classifier, &inputs, chunk.len())
    })
}

/// The whole photos of `indices` (the corruptions act on them, not on the cached squares).
pub fn decode_all(dataset: &Dataset, indices: &[usize]) -> Result<Vec<Decoded>> {
    indices
        .par_iter()
        .map(|&i| {
            let path = &dataset.records[i].path;
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            preprocess::decode(&bytes).with_context(|| format!("cannot decode {}", path.display()))
        })
        .collect()
}

/// The metrics of the answers, and the share refused.
fn metrics_and_refused(answers: &[Answer], labels: &[usize], codes: &[String]) -> (Metrics, f64) {
    (
        score::metrics(answers, labels, codes),
        score::refused_share(answers),
    )
}
