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

/// How many of the model's views the suite's answers average: the photo as given only. At
/// every view (4 for the shipped model) the twelve corruptions took 13 of a run's 39 minutes
/// (docs/throughput.md); one view takes a quarter of that and still ranks models and
/// corruptions alike. The warm cast, which a bar names, is measured at every view as well.
pub const SUITE_VIEWS: usize = 1;

/// The suite's figures, and the answers under [`WARM_CAST`] at every view, on which the
/// report measures patient data too.
pub struct SuiteFigures {
    pub robustness: Robustness,
    pub warm_cast: Vec<Answer>,
}

/// Score `classifier` on `indices` of `dataset` under every corruption of the suite, at
/// [`SUITE_VIEWS`] views (or all of the model's, when it has fewer).
pub fn evaluate(
    classifier: &Classifier,
    dataset: &Dataset,
    indices: &[usize],
) -> Result<SuiteFigures> {
    let photos = decode_all(dataset, indices)?;
    let labels = dataset.labels(indices);
    let codes = dataset.codes();
    let all_views = classifier.config().preprocess.test_time_views;
    let views = SUITE_VIEWS.min(all_views);
    let fewer = classifier.with_views(views)?;
    let (clean, _) = metrics_and_refused(&answers_under(&fewer, &photos, None)?, &labels, &codes);
    let mut corruptions = Vec::new();
    let mut warm = None;
    for (severity, corruption) in suite() {
        let answers = answers_under(&fewer, &photos, Some(&corruption))?;
        let figures = figures_of(
            &answers,
            &labels,
            &codes,
            (severity, &corruption),
            views == all_views,
        );
        print_figures(&figures, views);
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
        let answers = answers_under(classifier, &photos, Some(&WARM_CAST))?;
        let figures = figures_of(&answers, &labels, &codes, (severity, &WARM_CAST), true);
        print_figures(&figures, all_views);
        (answers, Some(figures))
    };
    let mean =
        corruptions.iter().map(|c| c.balanced_accuracy).sum::<f64>() / corruptions.len() as f64;
    Ok(SuiteFigures {
        robustness: Robustness {
            mean_balanced_accuracy: mean,
            clean_balanced_accuracy: clean.balanced_accuracy,
            corruptions,
            views: Some(views),
            warm_cast_every_view: every_view,
        },
        warm_cast,
    })
}

/// The report's figures of one corruption's answers, at every view of the model or not.
fn figures_of(
    answers: &[Answer],
    labels: &[usize],
    codes: &[String],
    (severity, corruption): (usize, &Corruption),
    every_view: bool,
) -> CorruptionFigures {
    let (metrics, flagged) = metrics_and_refused(answers, labels, codes);
    CorruptionFigures {
        name: corruption.name().into(),
        severity,
        description: corruption.description(),
        balanced_accuracy: metrics.balanced_accuracy,
        macro_f1: metrics.macro_f1,
        flagged: every_view.then_some(flagged),
    }
}

fn print_figures(figures: &CorruptionFigures, views: usize) {
    let refused = figures.flagged.map_or(String::new(), |f| {
        format!(", {:.1}% refused as not dermatoscopy photos", 100.0 * f)
    });
    eprintln!(
        "  {} ({}), {views} view{}: balanced accuracy {:.3}{refused}",
        figures.name,
        figures.description,
        if views == 1 { "" } else { "s" },
        figures.balanced_accuracy,
    );
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
    let answers = answers_under(classifier, &photos, Some(corruption))?;
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
