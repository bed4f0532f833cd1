//! The robustness suite: the split's photos under each corruption of
//! [`crate::data::corrupt::suite`], classified through the shared preprocessing. It is the
//! project's stand-in for photos from other clinics' cameras.

use anyhow::{Context, Result};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use skin_lesion::metrics::{Calibration, Metrics};
use skin_lesion::preprocess::{self, Decoded};
use skin_lesion::report::{CorruptionFigures, Robustness};
use skin_lesion::{Answer, Classifier};

use crate::data::Dataset;
use crate::data::corrupt::{Corruption, WARM_CAST, suite};
use crate::score::{self, in_batches};

/// How many of the model's views the suite's answers average: the photo as given only. At
/// every view (4 for the shipped model) the twelve corruptions took 13 of a run's 39 minutes
/// (docs/throughput.md); one view takes a quarter of that and still ranks models and
/// corruptions alike. The warm cast, which a bar names, is measured at every view as well.
pub const SUITE_VIEWS: usize = 1;

/// How many of the split's photos (a fixed sample) each corruption's refusal share is
/// measured on, at every view as the widget answers, when the suite runs at fewer views: a
/// one-view answer's refusal is not the widget's (the threshold is fitted on every view's
/// mean). 300 photos at 4 views take about a fifth of the whole split's 4-view time, and a
/// share near 20% is known to about ±2.3 points (one standard error).
pub const REFUSAL_PHOTOS: usize = 300;

/// The seed of the refusal sample's draw.
const REFUSAL_SEED: u64 = 19;

/// The suite's figures, and the answers under [`WARM_CAST`] at every view, on which the
/// report measures patient data too.
pub struct SuiteFigures {
    pub robustness: Robustness,
    pub warm_cast: Vec<Answer>,
}

/// What the suite is scored on: the split's photos and labels, and the fixed sample of them
/// on which refusal is measured at every view (`None`: the suite runs at every view already).
struct SuitePhotos<'a> {
    photos: Vec<Decoded>,
    labels: Vec<usize>,
    codes: Vec<String>,
    refusal_sample: Option<Vec<Decoded>>,
    classifier: &'a Classifier,
    /// The classifier at [`SUITE_VIEWS`] views.
    fewer: Classifier,
}

/// Score `classifier` on `indices` of `dataset` under every corruption of the suite, at
/// [`SUITE_VIEWS`] views (or all of the model's, when it has fewer), with the share refused
/// at every view on a fixed sample of [`REFUSAL_PHOTOS`].
pub fn evaluate(
    classifier: &Classifier,
    dataset: &Dataset,
    indices: &[usize],
) -> Result<SuiteFigures> {
    let photos = decode_all(dataset, indices)?;
    let all_views = classifier.config().preprocess.test_time_views;
    let views = SUITE_VIEWS.min(all_views);
    let suite_photos = SuitePhotos {
        refusal_sample: (views < all_views)
            .then(|| fixed_sample(&photos, REFUSAL_PHOTOS, REFUSAL_SEED)),
        photos,
        labels: dataset.labels(indices),
        codes: dataset.codes(),
        classifier,
        fewer: classifier.with_views(views)?,
    };
    let clean = answers_under(&suite_photos.fewer, &suite_photos.photos, None)?;
    let clean_ece = suite_photos.ece(&clean);
    let clean = score::metrics(&clean, &suite_photos.labels, &suite_photos.codes);
    let mut corruptions = Vec::new();
    let mut warm = None;
    for (severity, corruption) in suite() {
        let (figures, answers) = suite_photos.score(severity, &corruption)?;
        corruptions.push(figures);
        if corruption == WARM_CAST {
            warm = Some((severity, answers));
        }
    }
    let (severity, answers) = warm.context("the robustness suite has no warm colour cast")?;
    // The warm cast at every view, as the widget answers: the loop's own answers when it ran
    // at every view, else a pass of its own.
    let (warm_cast, every_view) = if views == all_views {
        (answers, None)
    } else {
        let answers = answers_under(classifier, &suite_photos.photos, Some(&WARM_CAST))?;
        let flagged = score::refused_share(&answers);
        let figures = suite_photos.figures(&answers, (severity, &WARM_CAST), flagged);
        print_figures(&figures, all_views, None);
        (answers, Some(figures))
    };
    let mean =
        corruptions.iter().map(|c| c.balanced_accuracy).sum::<f64>() / corruptions.len() as f64;
    Ok(SuiteFigures {
        robustness: Robustness {
            mean_balanced_accuracy: mean,
            clean_balanced_accuracy: clean.balanced_accuracy,
            clean_ece: Some(clean_ece),
            corruptions,
            views: Some(views),
            warm_cast_every_view: every_view,
            refusal_photos: suite_photos.refusal_sample.as_ref().map(Vec::len),
        },
        warm_cast,
    })
}

impl SuitePhotos<'_> {
    /// One corruption's figures (printed) and its answers at the suite's views; its refusal
    /// share at every view, on the refusal sample when there is one.
    fn score(
        &self,
        severity: usize,
        corruption: &Corruption,
    ) -> Result<(CorruptionFigures, Vec<Answer>)> {
        let answers = answers_under(&self.fewer, &self.photos, Some(corruption))?;
        let flagged = match &self.refusal_sample {
            Some(sample) => {
                score::refused_share(&answers_under(self.classifier, sample, Some(corruption))?)
            }
            None => score::refused_share(&answers),
        };
        let figures = self.figures(&answers, (severity, corruption), flagged);
        let views = self.fewer.config().preprocess.test_time_views;
        print_figures(&figures, views, self.refusal_sample.as_ref().map(Vec::len));
        Ok((figures, answers))
    }

    /// The top-label calibration error of answers to these photos.
    fn ece(&self, answers: &[Answer]) -> f64 {
        let probabilities: Vec<&[f32]> = answers.iter().map(|a| &a.probabilities[..]).collect();
        Calibration::of(&probabilities, &self.labels).ece
    }

    /// The report's figures of one corruption's answers.
    fn figures(
        &self,
        answers: &[Answer],
        (severity, corruption): (usize, &Corruption),
        flagged: f64,
    ) -> CorruptionFigures {
        let metrics = score::metrics(answers, &self.labels, &self.codes);
        CorruptionFigures {
            name: corruption.name().into(),
            severity,
            description: corruption.description(),
            balanced_accuracy: metrics.balanced_accuracy,
            macro_f1: metrics.macro_f1,
            ece: Some(self.ece(answers)),
            flagged: Some(flagged),
        }
    }
}

/// `n` of `items` drawn without replacement by `seed` (all of them when there are fewer), in
/// their order: the same ones every run.
pub fn fixed_sample<T: Clone>(items: &[T], n: usize, seed: u64) -> Vec<T> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order.truncate(n);
    order.sort_unstable();
    order.into_iter().map(|i| items[i].clone()).collect()
}

/// Prints one corruption's figures; the refusal share was measured at every view, on
/// `sample` photos when given.
fn print_figures(figures: &CorruptionFigures, views: usize, sample: Option<usize>) {
    let refused = figures.flagged.map_or(String::new(), |f| match sample {
        Some(n) => format!(", {:.1}% of {n} refused at every view", 100.0 * f),
        None => format!(", {:.1}% refused as not dermatoscopy photos", 100.0 * f),
    });
    let ece = figures
        .ece
        .map_or(String::new(), |e| format!(", ECE {e:.3}"));
    eprintln!(
        "  {} ({}), {views} view{}: balanced accuracy {:.3}{ece}{refused}",
        figures.name,
        figures.description,
        if views == 1 { "" } else { "s" },
        figures.balanced_accuracy,
    );
}

/// The metrics of `indices` of `dataset` under one corruption, and the share refused as not
/// dermatoscopy photos; `photos` are those photos decoded ([`decode_all`]), which a caller
/// may already hold.
pub fn metrics_under(
    classifier: &Classifier,
    dataset: &Dataset,
    indices: &[usize],
    photos: &[Decoded],
    corruption: &Corruption,
) -> Result<(Metrics, f64)> {
    let answers = answers_under(classifier, photos, Some(corruption))?;
    Ok(metrics_and_refused(
        &answers,
        &dataset.labels(indices),
        &dataset.codes(),
    ))
}

/// The answers to the photos under one corruption (noise seeded by the photo's position), or
/// as they are.
pub fn answers_under(
    classifier: &Classifier,
    photos: &[Decoded],
    corruption: Option<&Corruption>,
) -> Result<Vec<Answer>> {
    let config = classifier.config();
    in_batches(photos, |first, chunk| {
        let inputs: Vec<f32> = chunk
            .par_iter()
            .enumerate()
            .flat_map_iter(|(k, photo)| {
                let Some(corruption) = corruption else {
                    return preprocess::prepare(photo, &config.preprocess);
                };
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
