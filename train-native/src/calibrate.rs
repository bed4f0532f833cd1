//! Per-class decision offsets chosen on the validation split.
//!
//! Class-balanced training maximises recall of the rare classes, which costs precision on a
//! test set that is two-thirds nevi; macro F1 needs both. After training we search additive
//! logit offsets (one per class, coordinate ascent over a coarse grid) that maximise the mean
//! of validation balanced accuracy and macro F1, then fold them into the classifier's biases.
//! Only validation data is used; the test split is still touched once, at the very end.

use skin_lesion::NUM_CLASSES;
use skin_lesion::classes::class_codes;
use skin_lesion::metrics::{ConfusionMatrix, Metrics};

/// The figure the offsets maximise.
pub fn objective(m: &Metrics) -> f64 {
    0.5 * (m.balanced_accuracy + m.macro_f1)
}

/// Metrics of hard predictions `argmax(log p + offsets)`.
pub fn metrics_with(log_probs: &[[f32; NUM_CLASSES]], labels: &[usize], offsets: &[f32; NUM_CLASSES]) -> Metrics {
    let mut matrix = ConfusionMatrix::new(NUM_CLASSES);
    for (lp, &t) in log_probs.iter().zip(labels) {
        let mut best = 0;
        for c in 1..NUM_CLASSES {
            if lp[c] + offsets[c] > lp[best] + offsets[best] {
                best = c;
            }
        }
        matrix.add(t, best);
    }
    Metrics::from_confusion(&class_codes(), matrix, None)
}

/// Offsets in [-2, 2] (steps of 0.1) maximising [`objective`] on `probabilities` / `labels`.
/// A change must gain at least 0.001 to be taken, so offsets stay at zero unless they help.
pub fn fit(probabilities: &[Vec<f32>], labels: &[usize]) -> [f32; NUM_CLASSES] {
    let log_probs: Vec<[f32; NUM_CLASSES]> =
        probabilities.iter().map(|p| std::array::from_fn(|c| p[c].max(1e-12).ln())).collect();
    let mut offsets = [0.0f32; NUM_CLASSES];
    let mut best = objective(&metrics_with(&log_probs, labels, &offsets));
    for _sweep in 0..4 {
        let mut changed = false;
        for c in 0..NUM_CLASSES {
            for step in -20..=20 {
                let mut trial = offsets;
                trial[c] = step as f32 / 10.0;
                let score = objective(&metrics_with(&log_probs, labels, &trial));
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let before = metrics_with(&probs.iter().map(|p| std::array::from_fn(|c| p[c].ln())).collect::<Vec<_>>(), &labels, &[0.0; NUM_CLASSES]);
        let offsets = fit(&probs, &labels);
        let log_probs: Vec<[f32; NUM_CLASSES]> = probs.iter().map(|p| std::array::from_fn(|c| p[c].ln())).collect();
        let after = metrics_with(&log_probs, &labels, &offsets);
        assert!(objective(&after) > objective(&before));
        assert_eq!(after.accuracy, 1.0);
    }

    #[test]
    fn leaves_a_perfect_model_alone() {
        let probs: Vec<Vec<f32>> = (0..70).map(|i| (0..NUM_CLASSES).map(|c| if c == i % 7 { 0.9 } else { 0.01 }).collect()).collect();
        let labels: Vec<usize> = (0..70).map(|i| i % 7).collect();
        assert_eq!(fit(&probs, &labels), [0.0; NUM_CLASSES]);
    }
}
