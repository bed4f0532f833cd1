//! Per-class decision offsets chosen on the validation split.
//!
//! (Not to be confused with the calibration of probabilities, `answer_fit/temperature.rs`: offsets
//! move the decision, calibration only how sure the answer says it is.)
//!
//! Class-balanced training maximises recall of the rare classes, which costs precision on a
//! test set that is two-thirds nevi; macro F1 needs both. After training we search additive
//! logit offsets (one per class, coordinate ascent over a coarse grid) that maximise the mean
//! of validation balanced accuracy and macro F1, then fold them into the classifier's biases.
//! Only validation data is used; the test split is still touched once, at the very end.
//!
//! Offsets fitted on the same photos they are scored on flatter themselves, most of all for the
//! rare classes (about 20 validation photos each), and a wide range lets the search push a
//! class's logit to the end of the grid for one or two photos. So the range itself is chosen by
//! cross-fitting ([`choose_limit`]): fit on one half of validation, score on the other.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use skin_lesion::Answer;
use skin_lesion::answer::argmax;
use skin_lesion::metrics::{ConfusionMatrix, Metrics};
use skin_lesion::report::CrossFit;

/// Validation photos every class needs for offsets to be fitted: with fewer, a class's offset
/// follows one or two photos (the export then ships none and says why).
pub const MIN_PHOTOS_PER_CLASS: usize = 10;

/// The first class (its code and count) with fewer than [`MIN_PHOTOS_PER_CLASS`] photos, of
/// `counts` photos per class.
pub fn scarce_class(counts: &[usize], codes: &[String]) -> Option<(String, usize)> {
    codes
        .iter()
        .zip(counts)
        .find(|(_, n)| **n < MIN_PHOTOS_PER_CLASS)
        .map(|(code, &n)| (code.clone(), n))
}

/// The offset ranges [`choose_limit`] compares: none up to the widest, [-2, 2].
pub const LIMITS: [f32; 5] = [0.0, 0.5, 1.0, 1.5, 2.0];

/// Repetitions of the 2-fold cross-fit, each with another random halving.
const REPEATS: u64 = 5;

/// What the offsets maximise, in words for the report.
pub const OBJECTIVE: &str = "mean of validation balanced accuracy and macro F1";

/// Offsets fitted within the range cross-fitting chose.
pub struct Fitted {
    pub offsets: Vec<f32>,
    pub limit: f32,
    pub cross_fit: Vec<CrossFit>,
}

/// Fit offsets to validation `answers` (their logits) within the range that cross-fitting on
/// halves of them prefers.
pub fn fit(answers: &[Answer], labels: &[usize], seed: u64) -> Fitted {
    let logits: Vec<Vec<f32>> = answers.iter().map(|a| a.logits.clone()).collect();
    let fitted = fit_logits(&logits, labels, seed);
    let scores: Vec<String> = fitted
        .cross_fit
        .iter()
        .map(|c| format!("±{}: {:.4}", c.limit, c.objective))
        .collect();
    eprintln!(
        "offset range by cross-fitting on validation halves: {} (chose ±{})",
        scores.join(", "),
        fitted.limit
    );
    eprintln!(
        "decision offsets fitted on validation: {:?}",
        fitted.offsets
    );
    fitted
}

/// [`fit`] on the logits (or log probabilities) themselves, quietly.
pub fn fit_logits(logits: &[Vec<f32>], labels: &[usize], seed: u64) -> Fitted {
    let (limit, cross_fit) = choose_limit(logits, labels, seed);
    Fitted {
        offsets: fit_within(logits, labels, limit),
        limit,
        cross_fit,
    }
}

/// The figure the offsets maximise.
pub fn objective(m: &Metrics) -> f64 {
    0.5 * (m.balanced_accuracy + m.macro_f1)
}

/// Metrics of hard predictions `argmax(logits + offsets)` (the logits of a photo, or its log
/// probabilities: they differ by a constant per photo, which no argmax sees).
pub fn metrics_with(logits: &[Vec<f32>], labels: &[usize], offsets: &[f32]) -> Metrics {
    let mut matrix = ConfusionMatrix::new(offsets.len());
    for (row, &t) in logits.iter().zip(labels) {
        matrix.add(t, argmax(&shifted(row, offsets)));
    }
    Metrics::unnamed(matrix)
}

fn shifted(row: &[f32], offsets: &[f32]) -> Vec<f32> {
    row.iter().zip(offsets).map(|(l, o)| l + o).collect()
}

/// The number of classes of a set of logit rows.
fn width(logits: &[Vec<f32>]) -> usize {
    logits.first().map_or(0, Vec::len)
}

/// Offsets in [-limit, limit] (steps of 0.1) maximising [`objective`]. A change must gain at
/// least 0.001 to be taken, so offsets stay at zero unless they help.
pub fn fit_within(logits: &[Vec<f32>], labels: &[usize], limit: f32) -> Vec<f32> {
    let steps = (limit * 10.0).round() as i32;
    let mut offsets = vec![0.0f32; width(logits)];
    let mut best = objective(&metrics_with(logits, labels, &offsets));
    for _sweep in 0..4 {
        let mut changed = false;
        for c in 0..offsets.len() {
            for step in -steps..=steps {
                let mut trial = offsets.clone();
                trial[c] = step as f32 / 10.0;
                let score = objective(&metrics_with(logits, labels, &trial));
                if score > best + 1e-3 {
                    best = score;
                    offsets = trial;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    offsets
}

/// The offset range that generalises best within validation, and each range's cross-fitted
/// [`objective`].
///
/// For each of `REPEATS` random halvings of the validation photos (stratified by class, so
/// each half holds about half of every rare class), offsets are fitted on one half and applied
/// to the other, both ways round; the objective is computed on the pooled out-of-half
/// predictions and averaged over the halvings. The best range wins; ties go to the narrower.
pub fn choose_limit(logits: &[Vec<f32>], labels: &[usize], seed: u64) -> (f32, Vec<CrossFit>) {
    let mut totals = [0.0f64; LIMITS.len()];
    for repeat in 0..REPEATS {
        let halves = halve(labels, seed.wrapping_add(repeat));
        let part = |half: &[usize]| {
            (
                half.iter().map(|&i| logits[i].clone()).collect::<Vec<_>>(),
                half.iter().map(|&i| labels[i]).collect::<Vec<_>>(),
            )
        };
        let (a, b) = (part(&halves[0]), part(&halves[1]));
        for (total, &limit) in totals.iter_mut().zip(&LIMITS) {
            let (on_b, on_a) = (fit_within(&a.0, &a.1, limit), fit_within(&b.0, &b.1, limit));
            // Pool the out-of-half predictions: b's photos with a's offsets, and the reverse.
            let pooled: Vec<Vec<f32>> =
                b.0.iter()
                    .map(|lp| shifted(lp, &on_b))
                    .chain(a.0.iter().map(|lp| shifted(lp, &on_a)))
                    .collect();
            let pooled_labels: Vec<usize> = b.1.iter().chain(&a.1).copied().collect();
            let none = vec![0.0; width(logits)];
            *total += objective(&metrics_with(&pooled, &pooled_labels, &none));
        }
    }
    let scores: Vec<CrossFit> = LIMITS
        .iter()
        .zip(totals)
        .map(|(&limit, total)| CrossFit {
            limit,
            objective: total / REPEATS as f64,
        })
        .collect();
    let best = scores.iter().fold(&scores[0], |best, s| {
        if s.objective > best.objective + 1e-9 {
            s
        } else {
            best
        }
    });
    (best.limit, scores)
}

/// Split indices `0..labels.len()` in two, each class shuffled and dealt alternately.
fn halve(labels: &[usize], seed: u64) -> [Vec<usize>; 2] {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut halves = [Vec::new(), Vec::new()];
    let classes = labels.iter().max().map_or(0, |m| m + 1);
    for class in 0..classes {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        members.shuffle(&mut rng);
        // Alternate which half gets a class's odd photo out, so the halves stay the same size.
        let flip = usize::from(halves[0].len() > halves[1].len());
        for (k, i) in members.into_iter().enumerate() {
            halves[(k + flip) % 2].push(i);
        }
    }
    halves
}

#[cfg(test)]
mod tests {
    use super::*;

    const NUM_CLASSES: usize = 7;

    /// Natural logs of probabilities: the scale offsets are added on.
    fn log_probs(probabilities: &[Vec<f32>]) -> Vec<Vec<f32>> {
        probabilities
            .iter()
            .map(|p| p.iter().map(|v| v.ln()).collect())
            .collect()
    }

    #[test]
    fn finds_an_offset_that_fixes_a_biased_class() {
        // Class 1 is always under-scored by a constant: its samples lose to class 0.
        let mut probs = Vec::new();
        let mut labels = Vec::new();
        for i in 0..200 {
            let t = i % 2;
            let mut p = vec![0.01f32; NUM_CLASSES];
            if t == 0 {
                p[0] = 0.8;
                p[1] = 0.1;
            } else {
                p[0] = 0.5;
                p[1] = 0.4;
            }
            probs.push(p);
            labels.push(t);
        }
        let before = metrics_with(&log_probs(&probs), &labels, &[0.0; NUM_CLASSES][..]);
        let offsets = fit_within(&log_probs(&probs), &labels, 2.0);
        let after = metrics_with(&log_probs(&probs), &labels, &offsets);
        assert!(objective(&after) > objective(&before));
        assert_eq!(after.accuracy, 1.0);
    }

    #[test]
    fn halves_are_disjoint_stratified_and_cover_everything() {
        let labels: Vec<usize> = (0..101).map(|i| if i < 11 { 3 } else { i % 7 }).collect();
        let [a, b] = halve(&labels, 9);
        let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..101).collect::<Vec<_>>());
        assert!(a.len().abs_diff(b.len()) <= 1);
        for class in 0..NUM_CLASSES {
            let count = |h: &[usize]| h.iter().filter(|&&i| labels[i] == class).count();
            assert!(
                count(&a).abs_diff(count(&b)) <= 1,
                "class {class} split unevenly"
            );
        }
        assert_ne!(
            halve(&labels, 9),
            halve(&labels, 10),
            "the seed should change the halving"
        );
    }

    #[test]
    fn cross_fitting_keeps_offsets_that_fix_a_systematic_bias() {
        // Every class is recognised with some random confusion, but class 6 (rare) always loses
        // to class 0 by the same margin: an offset fitted on either half fixes the other half.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut probs = Vec::new();
        let mut labels = Vec::new();
        for i in 0..400 {
            let t = if i % 20 == 0 { 6 } else { i % 6 };
            let mut p = vec![0.02f32; NUM_CLASSES];
            p[t] = 0.6;
            p[(t + 1) % 6] = rand::Rng::random_range(&mut rng, 0.05..0.5);
            if t == 6 {
                p[0] = 0.6;
                p[6] = 0.3;
            }
            probs.push(p);
            labels.push(t);
        }
        let (limit, scores) = choose_limit(&log_probs(&probs), &labels, 1);
        assert_eq!(scores.iter().map(|s| s.limit).collect::<Vec<_>>(), LIMITS);
        let score = |l: f32| scores.iter().find(|s| s.limit == l).unwrap().objective;
        assert!(
            limit > 0.0,
            "a systematic bias should keep offsets on: {scores:?}"
        );
        assert!(score(limit) > score(0.0) + 0.05, "{scores:?}");
        assert!(scores.iter().all(|s| s.objective <= score(limit)));
    }

    #[test]
    fn cross_fitting_prefers_no_offsets_when_none_help() {
        // A perfect model: no offset gains anything, every range ties, and the narrowest wins.
        let probs: Vec<Vec<f32>> = (0..140)
            .map(|i| {
                (0..NUM_CLASSES)
                    .map(|c| if c == i % 7 { 0.9 } else { 0.01 })
                    .collect()
            })
            .collect();
        let labels: Vec<usize> = (0..140).map(|i| i % 7).collect();
        let (limit, scores) = choose_limit(&log_probs(&probs), &labels, 1);
        assert_eq!(limit, 0.0, "{scores:?}");
    }

    #[test]
    fn leaves_a_perfect_model_alone() {
        let probs: Vec<Vec<f32>> = (0..70)
            .map(|i| {
                (0..NUM_CLASSES)
                    .map(|c| if c == i % 7 { 0.9 } else { 0.01 })
                    .collect()
            })
            .collect();
        let labels: Vec<usize> = (0..70).map(|i| i % 7).collect();
        assert_eq!(
            fit_within(&log_probs(&probs), &labels, 2.0),
            vec![0.0; NUM_CLASSES]
        );
    }
}
