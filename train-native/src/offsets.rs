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
//!
//! A colour cast moves the logits too, and offsets fitted on the photos as they are can sit on
//! a boundary that the cast pushes photos across: on validation they moved balanced accuracy
//! under the warm cast by up to 5 points either way (docs/experiments.md). [`Fit::Casts`]
//! fits them to the photos as they are and under [`FIT_CASTS`] at once ([`Conditions`]).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use skin_lesion::answer::argmax;
use skin_lesion::metrics::{ConfusionMatrix, Metrics};
use skin_lesion::report::{CrossFit, DecisionOffsets};

use crate::data::corrupt::{COOL_CAST, Corruption, MILD_WARM_CAST};

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

/// Which validation photos the offsets are fitted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fit {
    /// No offsets: the network's argmax as it is.
    None,
    /// The validation photos as they are.
    Clean,
    /// The validation photos as they are (half the weight) and under the colour casts of
    /// [`FIT_CASTS`] (the rest, shared equally).
    Casts,
}

/// The casts [`Fit::Casts`] fits to: the robustness suite's two casts other than the warm cast
/// the project's bar is measured with, one on each side of neutral light, so that the warm
/// cast stays one the offsets were not fitted to.
pub const FIT_CASTS: [Corruption; 2] = [MILD_WARM_CAST, COOL_CAST];

/// The weight of the photos as they are in a [`Fit::Casts`] objective.
pub const CLEAN_WEIGHT: f64 = 0.5;

impl Fit {
    /// What the offsets maximise, in words for the report; `None` without offsets.
    pub fn objective(self) -> Option<String> {
        const BOTH: &str = "mean of validation balanced accuracy and macro F1";
        match self {
            Self::None => None,
            Self::Clean => Some(BOTH.into()),
            Self::Casts => Some(format!(
                "{BOTH}, half on the photos as they are and a quarter under each of two colour \
                 casts ({})",
                FIT_CASTS.map(|c| c.description()).join("; ")
            )),
        }
    }

    /// The casts whose validation logits this fit needs beside the clean ones.
    pub fn casts(self) -> &'static [Corruption] {
        match self {
            Self::Casts => &FIT_CASTS,
            Self::None | Self::Clean => &[],
        }
    }

    /// The casts' descriptions, as `report.json` and `validation.json` record them.
    pub fn cast_names(self) -> Vec<String> {
        self.casts().iter().map(|c| c.description()).collect()
    }

    /// The fit that produced offsets a report recorded (`None`: it shipped none; no casts
    /// named: fitted to the photos as they are), so that `recalibrate` refits them alike.
    pub fn recorded(offsets: Option<&DecisionOffsets>) -> Self {
        match offsets {
            None => Self::None,
            Some(o) if o.casts.is_empty() => Self::Clean,
            Some(_) => Self::Casts,
        }
    }
}

/// The same validation photos' logits (or log probabilities) in one or more conditions (as
/// they are; under a colour cast), each with its weight in the objective. Every set holds the
/// photos in the same order, so a photo's rows travel together when validation is halved.
#[derive(Debug, Clone)]
pub struct Conditions {
    sets: Vec<(Vec<Vec<f32>>, f64)>,
}

impl Conditions {
    /// The photos as they are, alone.
    pub fn clean(logits: Vec<Vec<f32>>) -> Self {
        Self {
            sets: vec![(logits, 1.0)],
        }
    }

    /// The photos as they are with [`CLEAN_WEIGHT`], and under each of `shifted` conditions
    /// with an equal share of the rest (no shifted sets: the photos as they are alone).
    pub fn with_shifted(clean: Vec<Vec<f32>>, shifted: Vec<Vec<Vec<f32>>>) -> Self {
        if shifted.is_empty() {
            return Self::clean(clean);
        }
        assert!(
            shifted.iter().all(|s| s.len() == clean.len()),
            "every condition holds the same photos"
        );
        let share = (1.0 - CLEAN_WEIGHT) / shifted.len() as f64;
        let mut sets = vec![(clean, CLEAN_WEIGHT)];
        sets.extend(shifted.into_iter().map(|s| (s, share)));
        Self { sets }
    }

    /// The number of photos.
    pub fn photos(&self) -> usize {
        self.sets[0].0.len()
    }

    /// The number of classes.
    fn width(&self) -> usize {
        width(&self.sets[0].0)
    }

    /// The weighted [`objective`] of the predictions after `offsets`.
    pub fn objective_with(&self, labels: &[usize], offsets: &[f32]) -> f64 {
        self.sets
            .iter()
            .map(|(logits, weight)| weight * objective(&metrics_with(logits, labels, offsets)))
            .sum()
    }

    /// The photos of `indices`, in every condition.
    fn select(&self, indices: &[usize]) -> Self {
        let sets = self
            .sets
            .iter()
            .map(|(logits, w)| (indices.iter().map(|&i| logits[i].clone()).collect(), *w))
            .collect();
        Self { sets }
    }

    /// Out-of-half predictions pooled: `self`'s photos shifted by `own`, then `other`'s by
    /// `others`, condition by condition.
    fn pooled(&self, own: &[f32], other: &Self, others: &[f32]) -> Self {
        let sets = self
            .sets
            .iter()
            .zip(&other.sets)
            .map(|((mine, w), (theirs, _))| {
                let rows = mine
                    .iter()
                    .map(|r| shifted(r, own))
                    .chain(theirs.iter().map(|r| shifted(r, others)))
                    .collect();
                (rows, *w)
            })
            .collect();
        Self { sets }
    }
}

/// Offsets fitted within the range cross-fitting chose.
pub struct Fitted {
    pub offsets: Vec<f32>,
    pub limit: f32,
    pub cross_fit: Vec<CrossFit>,
    /// Each photo's class after offsets fitted within `limit` on the other half of validation
    /// ([`cross_fitted_tops`]).
    pub cross_fitted_tops: Vec<usize>,
}

/// Fit offsets to validation logits within the range that cross-fitting on halves of them
/// prefers, and say what was chosen.
pub fn fit(conditions: &Conditions, labels: &[usize], seed: u64) -> Fitted {
    let fitted = fit_conditions(conditions, labels, seed);
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

/// [`fit`] on the photos as they are, quietly.
pub fn fit_logits(logits: &[Vec<f32>], labels: &[usize], seed: u64) -> Fitted {
    fit_conditions(&Conditions::clean(logits.to_vec()), labels, seed)
}

/// [`fit`], quietly.
pub fn fit_conditions(conditions: &Conditions, labels: &[usize], seed: u64) -> Fitted {
    let (limit, cross_fit) = choose_limit(conditions, labels, seed);
    Fitted {
        offsets: fit_conditions_within(conditions, labels, limit),
        limit,
        cross_fit,
        cross_fitted_tops: cross_fitted_tops(conditions, labels, seed, limit),
    }
}

/// Each photo's class, as it is (the first condition), after offsets fitted within `limit` on
/// the other half of validation (the first of [`choose_limit`]'s halvings, both ways round).
///
/// Offsets fitted on all of validation score the very photos they were fitted to, which
/// flatters the figure by chance (1-2 points of the mean, docs/experiments.md); no answer here was fitted to
/// its own photo's label, so two models' answers can be set against each other photo by photo
/// without that optimism.
pub fn cross_fitted_tops(
    conditions: &Conditions,
    labels: &[usize],
    seed: u64,
    limit: f32,
) -> Vec<usize> {
    let [first, second] = halve(labels, seed);
    let clean = &conditions.sets[0].0;
    let mut tops = vec![0; labels.len()];
    for (own, other) in [(&first, &second), (&second, &first)] {
        let other_labels: Vec<usize> = other.iter().map(|&i| labels[i]).collect();
        let offsets = fit_conditions_within(&conditions.select(other), &other_labels, limit);
        for &i in own {
            tops[i] = argmax(&shifted(&clean[i], &offsets));
        }
    }
    tops
}

/// The figure the offsets maximise.
pub fn objective(m: &Metrics) -> f64 {
    0.5 * (m.balanced_accuracy + m.macro_f1)
}

/// Metrics of hard predictions `argmax(logits + offsets)` (the logits of a photo, or its log
/// probabilities: they differ by a constant per photo, which no argmax sees).
pub fn metrics_with(logits: &[Vec<f32>], labels: &[usize], offsets: &[f32]) -> Metrics {
    metrics_of_tops(&tops_with(logits, offsets), labels, offsets.len())
}

/// Metrics of the classes `tops` given to photos of classes `labels`, of `classes` in all.
pub fn metrics_of_tops(tops: &[usize], labels: &[usize], classes: usize) -> Metrics {
    let mut matrix = ConfusionMatrix::new(classes);
    for (&top, &t) in tops.iter().zip(labels) {
        matrix.add(t, top);
    }
    Metrics::unnamed(matrix)
}

/// The class each photo is given after the offsets: `argmax(logits + offsets)` of each row.
pub fn tops_with(logits: &[Vec<f32>], offsets: &[f32]) -> Vec<usize> {
    logits
        .iter()
        .map(|row| argmax(&shifted(row, offsets)))
        .collect()
}

fn shifted(row: &[f32], offsets: &[f32]) -> Vec<f32> {
    row.iter().zip(offsets).map(|(l, o)| l + o).collect()
}

/// The number of classes of a set of logit rows.
fn width(logits: &[Vec<f32>]) -> usize {
    logits.first().map_or(0, Vec::len)
}

/// Offsets in [-limit, limit] (steps of 0.1) maximising [`objective`] on the photos as they
/// are.
pub fn fit_within(logits: &[Vec<f32>], labels: &[usize], limit: f32) -> Vec<f32> {
    fit_conditions_within(&Conditions::clean(logits.to_vec()), labels, limit)
}

/// Offsets in [-limit, limit] (steps of 0.1) maximising the conditions' weighted
/// [`objective`]. A change must gain at least 0.001 to be taken, so offsets stay at zero
/// unless they help.
pub fn fit_conditions_within(conditions: &Conditions, labels: &[usize], limit: f32) -> Vec<f32> {
    let steps = (limit * 10.0).round() as i32;
    let mut offsets = vec![0.0f32; conditions.width()];
    let mut best = conditions.objective_with(labels, &offsets);
    for _sweep in 0..4 {
        let mut changed = false;
        for c in 0..offsets.len() {
            for step in -steps..=steps {
                let mut trial = offsets.clone();
                trial[c] = step as f32 / 10.0;
                let score = conditions.objective_with(labels, &trial);
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
/// objective.
///
/// For each of `REPEATS` random halvings of the validation photos (stratified by class, so
/// each half holds about half of every rare class; a photo's rows in every condition go to
/// the same half), offsets are fitted on one half and applied to the other, both ways round;
/// the objective is computed on the pooled out-of-half predictions and averaged over the
/// halvings. The best range wins; ties go to the narrower.
pub fn choose_limit(conditions: &Conditions, labels: &[usize], seed: u64) -> (f32, Vec<CrossFit>) {
    let mut totals = [0.0f64; LIMITS.len()];
    let none = vec![0.0; conditions.width()];
    for repeat in 0..REPEATS {
        let [first, second] = halve(labels, seed.wrapping_add(repeat));
        let labels_of = |half: &[usize]| half.iter().map(|&i| labels[i]).collect::<Vec<_>>();
        let (a, b) = (conditions.select(&first), conditions.select(&second));
        let (a_labels, b_labels) = (labels_of(&first), labels_of(&second));
        // b's labels then a's: the order `pooled` puts the photos in.
        let pooled_labels: Vec<usize> = b_labels.iter().chain(&a_labels).copied().collect();
        for (total, &limit) in totals.iter_mut().zip(&LIMITS) {
            let on_b = fit_conditions_within(&a, &a_labels, limit);
            let on_a = fit_conditions_within(&b, &b_labels, limit);
            let pooled = b.pooled(&on_b, &a, &on_a);
            *total += pooled.objective_with(&pooled_labels, &none);
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
    fn a_recorded_fit_is_read_back_as_the_fit_that_named_its_casts() {
        let record = |fit: Fit| DecisionOffsets {
            offsets: vec![0.0; NUM_CLASSES],
            objective: fit.objective().unwrap_or_default(),
            val_balanced_accuracy_before: 0.5,
            val_macro_f1_before: 0.5,
            val_balanced_accuracy_after: 0.5,
            val_macro_f1_after: 0.5,
            offset_limit: 0.5,
            casts: fit.cast_names(),
            cross_fit: Vec::new(),
        };
        assert_eq!(Fit::recorded(None), Fit::None);
        for fit in [Fit::Clean, Fit::Casts] {
            assert_eq!(Fit::recorded(Some(&record(fit))), fit);
        }
        assert!(Fit::Clean.cast_names().is_empty());
        assert_eq!(Fit::Casts.cast_names().len(), FIT_CASTS.len());
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

    /// `photos` photos, every `every`-th of class 6 and the rest of classes 0-5 in turn, each
    /// recognised (0.6) except class 6, which always loses to class 0 (0.3 against 0.6); with
    /// `confusion`, each also leans towards the next class by a random 0.05-0.5.
    fn rare_class_losing_to_0(
        photos: usize,
        every: usize,
        mut confusion: Option<&mut ChaCha8Rng>,
    ) -> (Vec<Vec<f32>>, Vec<usize>) {
        (0..photos)
            .map(|i| {
                let t = if i % every == 0 { 6 } else { i % 6 };
                let mut p = vec![0.02f32; NUM_CLASSES];
                p[t] = 0.6;
                if let Some(rng) = confusion.as_deref_mut() {
                    p[(t + 1) % 6] = rand::Rng::random_range(rng, 0.05..0.5);
                }
                if t == 6 {
                    (p[0], p[6]) = (0.6, 0.3);
                }
                (p, t)
            })
            .unzip()
    }

    #[test]
    fn cross_fitted_answers_fix_a_systematic_bias_from_the_other_half() {
        // Class 6 always loses to class 0 by the same margin: offsets fitted on either half
        // mend the other half's photos of it.
        let (probs, labels) = rare_class_losing_to_0(200, 10, None);
        let conditions = Conditions::clean(log_probs(&probs));
        let tops = cross_fitted_tops(&conditions, &labels, 4, 1.0);
        assert_eq!(tops, labels);
        let unfitted = tops_with(&log_probs(&probs), &[0.0; NUM_CLASSES]);
        assert!(unfitted.iter().zip(&labels).any(|(a, t)| a != t));
    }

    #[test]
    fn cross_fitted_answers_lack_the_in_sample_fits_optimism() {
        // Logits that know nothing of the labels: offsets fitted on the photos themselves find
        // chance patterns, and score above what the other half's offsets score.
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let rows: Vec<Vec<f32>> = (0..300)
            .map(|_| {
                (0..NUM_CLASSES)
                    .map(|_| rand::Rng::random_range(&mut rng, -1.0..1.0))
                    .collect()
            })
            .collect();
        let labels: Vec<usize> = (0..300).map(|i| i % NUM_CLASSES).collect();
        let conditions = Conditions::clean(rows.clone());
        let in_sample = fit_within(&rows, &labels, 2.0);
        let fitted = objective(&metrics_with(&rows, &labels, &in_sample));
        let tops = cross_fitted_tops(&conditions, &labels, 5, 2.0);
        let crossed = objective(&metrics_of_tops(&tops, &labels, NUM_CLASSES));
        assert!(
            fitted > crossed + 0.02,
            "in sample {fitted}, crossed {crossed}"
        );
    }

    #[test]
    fn cross_fitting_keeps_offsets_that_fix_a_systematic_bias() {
        // Every class is recognised with some random confusion, but class 6 (rare) always loses
        // to class 0 by the same margin: an offset fitted on either half fixes the other half.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (probs, labels) = rare_class_losing_to_0(400, 20, Some(&mut rng));
        let (limit, scores) = choose_limit(&Conditions::clean(log_probs(&probs)), &labels, 1);
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
        let (limit, scores) = choose_limit(&Conditions::clean(log_probs(&probs)), &labels, 1);
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

    /// Two classes, 50 photos each, as the difference of class 1's logit from class 0's: the
    /// photos as they are, then under a cast that raises class 1 by 0.45. Fitted to the photos
    /// as they are alone, the search (which tries class 0's offset from -2 up) stops at the
    /// first offset that is perfect there, -1.0, which the cast then breaks.
    fn two_conditions() -> (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<usize>) {
        let labels: Vec<usize> = (0..100).map(|i| i / 50).collect();
        let row = |d: f32| vec![0.0, d];
        let clean = labels
            .iter()
            .map(|&t| row(if t == 0 { -1.05 } else { -0.3 }))
            .collect();
        let cast = labels
            .iter()
            .map(|&t| row(if t == 0 { -0.6 } else { 0.15 }))
            .collect();
        (clean, cast, labels)
    }

    #[test]
    fn offsets_fitted_under_a_cast_hold_where_clean_ones_break() {
        let (clean, cast, labels) = two_conditions();
        let alone = fit_within(&clean, &labels, 2.0);
        let both = Conditions::with_shifted(clean.clone(), vec![cast.clone()]);
        let held = fit_conditions_within(&both, &labels, 2.0);
        let under_cast = |o: &[f32]| metrics_with(&cast, &labels, o).balanced_accuracy;
        let as_they_are = |o: &[f32]| metrics_with(&clean, &labels, o).balanced_accuracy;
        assert_eq!(as_they_are(&alone), 1.0, "{alone:?}");
        assert!(under_cast(&alone) < 0.75, "{alone:?}");
        assert_eq!(as_they_are(&held), 1.0, "{held:?}");
        assert_eq!(under_cast(&held), 1.0, "{held:?}");
    }

    #[test]
    fn conditions_weigh_the_photos_as_they_are_by_half() {
        let (clean, cast, labels) = two_conditions();
        let offsets = [0.0, 0.5];
        let one = |logits: &[Vec<f32>]| objective(&metrics_with(logits, &labels, &offsets));
        let both = Conditions::with_shifted(clean.clone(), vec![cast.clone(), cast.clone()]);
        let expected = CLEAN_WEIGHT * one(&clean) + (1.0 - CLEAN_WEIGHT) * one(&cast);
        assert!((both.objective_with(&labels, &offsets) - expected).abs() < 1e-12);
        assert_eq!(both.photos(), 100);
        let alone = Conditions::with_shifted(clean.clone(), Vec::new());
        assert_eq!(alone.objective_with(&labels, &offsets), one(&clean));
    }

    #[test]
    fn a_cast_that_changes_nothing_changes_no_choice() {
        // Cross-fitting halves every condition the same way: copies of the photos as they are
        // must leave the range and the offsets as the photos alone choose them.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let labels: Vec<usize> = (0..300)
            .map(|i| if i % 15 == 0 { 6 } else { i % 6 })
            .collect();
        let logits: Vec<Vec<f32>> = labels
            .iter()
            .map(|&t| {
                (0..NUM_CLASSES)
                    .map(|c| rand::Rng::random_range(&mut rng, -1.0..1.0) + f32::from(c == t))
                    .collect()
            })
            .collect();
        let alone = fit_logits(&logits, &labels, 4);
        let copies = Conditions::with_shifted(logits.clone(), vec![logits.clone(), logits]);
        let with_copies = fit_conditions(&copies, &labels, 4);
        assert_eq!(with_copies.limit, alone.limit);
        assert_eq!(with_copies.offsets, alone.offsets);
        for (a, b) in alone.cross_fit.iter().zip(&with_copies.cross_fit) {
            assert!((a.objective - b.objective).abs() < 1e-9, "{a:?} {b:?}");
        }
    }
}
