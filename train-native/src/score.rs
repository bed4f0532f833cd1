//! Scoring a model on photos: the batch loop, the answers and the figures they add up to.
//!
//! Every command that runs a network over many photos (training's validation, `evaluate`, the
//! robustness suite, the answer's calibration, the end of a run) comes through here, so that
//! all of them batch alike and compute the same floating-point sums for the same photos.

use anyhow::{Result, bail};
use rayon::prelude::*;
use skin_lesion::metrics::Metrics;
use skin_lesion::{Answer, Classifier, ViewSums};

use crate::data::cache::ImageCache;
use crate::data::{Dataset, batch};

/// Images per inference batch. Fixed, so every evaluation of the same model computes the
/// same floating-point sums and reproduces its figures exactly.
pub const EVAL_BATCH: usize = 100;

/// Some cached images, their classes and the data set's class codes.
pub struct Images<'a> {
    pub cache: &'a ImageCache,
    pub indices: &'a [usize],
    pub labels: Vec<usize>,
    pub codes: Vec<String>,
}

impl<'a> Images<'a> {
    /// `indices` of `dataset`, read from `cache`.
    pub fn new(dataset: &Dataset, cache: &'a ImageCache, indices: &'a [usize]) -> Self {
        Self {
            cache,
            indices,
            labels: dataset.labels(indices),
            codes: dataset.codes(),
        }
    }
}

/// A model's answers on some images, and what they add up to.
pub struct ScoredAnswers {
    pub metrics: Metrics,
    /// Mean negative log-likelihood of the true class under the answer's probabilities.
    pub loss: f64,
    /// One answer per image, in order.
    pub answers: Vec<Answer>,
}

/// `run` over `items` in batches of [`EVAL_BATCH`], its results joined in order; `run` is
/// given the position of the batch's first item.
pub fn in_batches<T, R>(
    items: &[T],
    mut run: impl FnMut(usize, &[T]) -> Result<Vec<R>>,
) -> Result<Vec<R>> {
    let mut out = Vec::with_capacity(items.len());
    for (k, chunk) in items.chunks(EVAL_BATCH).enumerate() {
        out.extend(run(k * EVAL_BATCH, chunk)?);
    }
    Ok(out)
}

/// Run `classifier` over the central crops of `images` (every view the model averages) and
/// score its answers.
pub fn score(classifier: &Classifier, images: &Images) -> Result<ScoredAnswers> {
    if images.indices.is_empty() {
        bail!("no images to evaluate");
    }
    let answers = in_batches(images.indices, |_, chunk| {
        let inputs = batch::inputs(images.cache, chunk, &classifier.config().preprocess, None);
        classify(classifier, &inputs, chunk.len())
    })?;
    Ok(scored(answers, &images.labels, &images.codes))
}

/// The sums over every view of the central crops of `images`: what the answer's calibration
/// refits from without running the network again.
pub fn view_sums(classifier: &Classifier, images: &Images) -> Result<Vec<ViewSums>> {
    let views = classifier.config().preprocess.test_time_views;
    in_batches(images.indices, |_, chunk| {
        let inputs = batch::inputs(images.cache, chunk, &classifier.config().preprocess, None);
        all_view_sums(classifier, &inputs, chunk.len(), views)
    })
}

/// [`Classifier::view_sums`] over every view of `batch` prepared inputs, with the network's
/// passes run side by side, one per core. flex spreads the operations of one pass over the
/// cores poorly: whole passes in parallel classify about 1.8 times as many views a second on
/// this project's 2 cores (docs/throughput.md). The batch is cut where
/// [`Classifier::view_sums`] cuts it, so the sums are the same numbers (a test).
pub fn all_view_sums(
    classifier: &Classifier,
    inputs: &[f32],
    batch: usize,
    views: usize,
) -> Result<Vec<ViewSums>> {
    if batch == 0 || !inputs.len().is_multiple_of(batch) {
        bail!("{} numbers are not {batch} prepared inputs", inputs.len());
    }
    let per_pass = Classifier::photos_per_pass(views) * (inputs.len() / batch);
    let parts: Vec<Vec<ViewSums>> = inputs
        .par_chunks(per_pass)
        .map(|part| classifier.view_sums(part, part.len() * batch / inputs.len(), 0..views))
        .collect::<Result<_, _>>()?;
    Ok(parts.into_iter().flatten().collect())
}

/// [`Classifier::classify_batch`], its passes side by side ([`all_view_sums`]).
pub fn classify(classifier: &Classifier, inputs: &[f32], batch: usize) -> Result<Vec<Answer>> {
    let views = classifier.config().preprocess.test_time_views;
    answers_of(
        classifier,
        &all_view_sums(classifier, inputs, batch, views)?,
    )
}

/// `classifier`'s answers to view sums it computed.
pub fn answers_of(classifier: &Classifier, sums: &[ViewSums]) -> Result<Vec<Answer>> {
    Ok(sums
        .iter()
        .map(|s| classifier.answer(s))
        .collect::<Result<_, _>>()?)
}

/// Metrics and loss of `answers` against `labels` (of classes `codes`).
pub fn scored(answers: Vec<Answer>, labels: &[usize], codes: &[String]) -> ScoredAnswers {
    let loss = answers
        .iter()
        .zip(labels)
        .map(|(a, &l)| -f64::from(a.probabilities[l].max(1e-12)).ln())
        .sum::<f64>()
        / labels.len() as f64;
    ScoredAnswers {
        metrics: metrics(&answers, labels, codes),
        loss,
        answers,
    }
}

/// The metrics of `answers` against `labels` (of classes `codes`).
pub fn metrics(answers: &[Answer], labels: &[usize], codes: &[String]) -> Metrics {
    let probabilities: Vec<Vec<f32>> = answers.iter().map(|a| a.probabilities.clone()).collect();
    Metrics::from_predictions(codes, labels, &probabilities)
}

/// The share of `answers` refused as not dermatoscopy photos.
pub fn refused_share(answers: &[Answer]) -> f64 {
    answers.iter().filter(|a| a.out_of_distribution).count() as f64 / answers.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;
    use skin_lesion::{ModelConfig, PreprocessConfig};

    use super::*;

    #[test]
    fn passes_side_by_side_give_the_sums_of_one_after_another() {
        let device = Device::flex();
        let config = ModelConfig::new(
            skin_lesion::model::lite0::Lite0Config::new(),
            PreprocessConfig::new()
                .with_input_size(32)
                .with_resize_size(36)
                .with_test_time_views(4),
        );
        let classifier = Classifier::new(config.init(&device), config, device);
        // 11 photos at 4 views: passes of 8 photos, then 3.
        let batch = 11;
        let inputs: Vec<f32> = (0..batch * classifier.input_len())
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let side_by_side = all_view_sums(&classifier, &inputs, batch, 4).unwrap();
        let in_turn = classifier.view_sums(&inputs, batch, 0..4).unwrap();
        assert_eq!(side_by_side, in_turn);
        assert!(all_view_sums(&classifier, &inputs[1..], batch, 4).is_err());
    }
}
