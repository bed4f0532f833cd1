//! Bootstrap 95% intervals of balanced accuracy and macro F1, resampling lesions.
//!
//! Why lesions and not photos: several photos of one lesion are not independent evidence, and
//! a test split with 20 dermatofibromas moves by several points when a few lesions change.
//! Each resample draws the split's lesions with replacement and keeps all of their photos.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skin_lesion::metrics::Metrics;
use skin_lesion::report::Intervals;

use crate::offsets::{metrics_of_tops, objective};

/// Resamples drawn.
pub const RESAMPLES: usize = 1000;

/// Intervals for predictions `predicted` of photos with classes `labels` (of `classes`) and
/// lesions `lesions`.
pub fn bootstrap(
    classes: usize,
    predicted: &[usize],
    labels: &[usize],
    lesions: &[&str],
    seed: u64,
) -> Intervals {
    let (mut balanced, mut f1) = (Vec::with_capacity(RESAMPLES), Vec::with_capacity(RESAMPLES));
    for photos in resamples(lesions, seed) {
        let m = metrics_of(classes, predicted, labels, &photos);
        balanced.push(m.balanced_accuracy);
        f1.push(m.macro_f1);
    }
    Intervals {
        method: format!(
            "percentile bootstrap over lesions ({RESAMPLES} resamples of the split's lesions, with replacement)"
        ),
        resamples: RESAMPLES,
        balanced_accuracy: percentiles(&mut balanced),
        macro_f1: percentiles(&mut f1),
    }
}

/// How much better predictions `b` are than `a` on the same photos, beyond what the choice of
/// lesions gives: 95% intervals of the differences b - a, each resample scoring both on the
/// same lesions (a paired bootstrap, so that what the two share cancels).
#[derive(Debug, Clone, PartialEq)]
pub struct PairedDifference {
    pub balanced_accuracy: [f64; 2],
    pub macro_f1: [f64; 2],
    /// The mean of the two ([`objective`]), which the project's rules for choosing a model
    /// compare.
    pub mean: [f64; 2],
    /// The share of resamples in which `b`'s mean is higher than `a`'s.
    pub b_ahead: f64,
}

/// [`PairedDifference`] of predictions `b` over `a` of photos with classes `labels` (of
/// `classes`) and lesions `lesions`.
pub fn paired(
    classes: usize,
    (a, b): (&[usize], &[usize]),
    labels: &[usize],
    lesions: &[&str],
    seed: u64,
) -> PairedDifference {
    let mut diffs = [Vec::new(), Vec::new(), Vec::new()];
    let mut ahead = 0;
    for photos in resamples(lesions, seed) {
        let (ma, mb) = (
            metrics_of(classes, a, labels, &photos),
            metrics_of(classes, b, labels, &photos),
        );
        let (mean_a, mean_b) = (objective(&ma), objective(&mb));
        diffs[0].push(mb.balanced_accuracy - ma.balanced_accuracy);
        diffs[1].push(mb.macro_f1 - ma.macro_f1);
        diffs[2].push(mean_b - mean_a);
        ahead += usize::from(mean_b > mean_a);
    }
    let [mut balanced, mut f1, mut mean] = diffs;
    PairedDifference {
        balanced_accuracy: percentiles(&mut balanced),
        macro_f1: percentiles(&mut f1),
        mean: percentiles(&mut mean),
        b_ahead: ahead as f64 / RESAMPLES as f64,
    }
}

/// [`RESAMPLES`] resamples of the photos: each draws as many lesions as `lesions` holds, with
/// replacement, and keeps every photo of a drawn lesion.
fn resamples(lesions: &[&str], seed: u64) -> impl Iterator<Item = Vec<usize>> {
    let mut groups: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, lesion) in lesions.iter().enumerate() {
        groups.entry(lesion).or_default().push(i);
    }
    let groups: Vec<Vec<usize>> = groups.into_values().collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..RESAMPLES).map(move |_| {
        let mut photos = Vec::new();
        for _ in 0..groups.len() {
            photos.extend(&groups[rng.random_range(0..groups.len())]);
        }
        photos
    })
}

/// The metrics of `predicted` on the photos `photos` (repeats counted each time).
pub fn metrics_of(
    classes: usize,
    predicted: &[usize],
    labels: &[usize],
    photos: &[usize],
) -> Metrics {
    let of = |answers: &[usize]| photos.iter().map(|&i| answers[i]).collect::<Vec<_>>();
    metrics_of_tops(&of(predicted), &of(labels), classes)
}

/// The 2.5th and 97.5th percentiles.
fn percentiles(values: &mut [f64]) -> [f64; 2] {
    values.sort_by(f64::total_cmp);
    let at =
        |q: f64| values[((q * (values.len() - 1) as f64).round() as usize).min(values.len() - 1)];
    [at(0.025), at(0.975)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const NUM_CLASSES: usize = 7;

    #[test]
    fn the_interval_holds_the_figure_and_narrows_with_more_lesions() {
        // Right 80% of the time, one photo per lesion, then the same with 10x the lesions.
        let make = |n: usize| {
            let labels: Vec<usize> = (0..n).map(|i| i % NUM_CLASSES).collect();
            let predicted: Vec<usize> = labels
                .iter()
                .enumerate()
                .map(|(i, &l)| if i % 5 == 0 { (l + 1) % NUM_CLASSES } else { l })
                .collect();
            let lesions: Vec<String> = (0..n).map(|i| format!("L{i}")).collect();
            (predicted, labels, lesions)
        };
        let width = |n: usize| {
            let (p, l, lesions) = make(n);
            let refs: Vec<&str> = lesions.iter().map(String::as_str).collect();
            let i = bootstrap(NUM_CLASSES, &p, &l, &refs, 1);
            assert!(
                i.balanced_accuracy[0] < 0.8 && 0.8 < i.balanced_accuracy[1],
                "{i:?}"
            );
            i.balanced_accuracy[1] - i.balanced_accuracy[0]
        };
        assert!(width(1400) < 0.5 * width(140));
    }

    #[test]
    fn a_paired_difference_is_zero_for_twins_and_positive_for_a_better_model() {
        let n = 700;
        let labels: Vec<usize> = (0..n).map(|i| i % NUM_CLASSES).collect();
        let wrong_every = |k: usize| -> Vec<usize> {
            (0..n)
                .map(|i| {
                    if i % k == 0 {
                        (labels[i] + 1) % NUM_CLASSES
                    } else {
                        labels[i]
                    }
                })
                .collect()
        };
        let lesions: Vec<String> = (0..n).map(|i| format!("L{}", i / 2)).collect();
        let refs: Vec<&str> = lesions.iter().map(String::as_str).collect();
        let a = wrong_every(3);
        let twins = paired(NUM_CLASSES, (&a, &a), &labels, &refs, 5);
        assert_eq!((twins.mean, twins.b_ahead), ([0.0, 0.0], 0.0));
        // b is right wherever a is, and on half of a's mistakes besides.
        let b = wrong_every(6);
        let better = paired(NUM_CLASSES, (&a, &b), &labels, &refs, 5);
        assert!(better.balanced_accuracy[0] > 0.0, "{better:?}");
        assert!(better.mean[0] > 0.0 && better.b_ahead == 1.0, "{better:?}");
        let worse = paired(NUM_CLASSES, (&b, &a), &labels, &refs, 5);
        assert!(worse.mean[1] < 0.0 && worse.b_ahead == 0.0, "{worse:?}");
    }

    #[test]
    fn photos_of_one_lesion_move_together() {
        // 20 lesions of 10 identical photos each: as uncertain as 20 photos, not 200.
        let labels: Vec<usize> = (0..200).map(|i| (i / 10) % 2).collect();
        let predicted: Vec<usize> = (0..200)
            .map(|i| {
                if (i / 10) % 4 == 0 {
                    1 - labels[i]
                } else {
                    labels[i]
                }
            })
            .collect();
        let lesions: Vec<String> = (0..200).map(|i| format!("L{}", i / 10)).collect();
        let refs: Vec<&str> = lesions.iter().map(String::as_str).collect();
        let grouped = bootstrap(NUM_CLASSES, &predicted, &labels, &refs, 3);
        let alone: Vec<String> = (0..200).map(|i| format!("P{i}")).collect();
        let refs: Vec<&str> = alone.iter().map(String::as_str).collect();
        let independent = bootstrap(NUM_CLASSES, &predicted, &labels, &refs, 3);
        let w = |i: &Intervals| i.balanced_accuracy[1] - i.balanced_accuracy[0];
        assert!(
            w(&grouped) > 2.0 * w(&independent),
            "{grouped:?} vs {independent:?}"
        );
    }
}
