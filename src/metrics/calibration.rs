//! How well the probabilities mean what they say: expected calibration error, negative
//! log-likelihood, Brier score and the reliability diagram's bins.

use serde::{Deserialize, Serialize};

use crate::answer::argmax;

/// Bins of the top-label expected calibration error (equal width over [0, 1]).
pub const ECE_BINS: usize = 15;

/// One bin of the reliability diagram: photos whose top probability fell in `[lower, upper)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    /// Photos in the bin.
    pub count: usize,
    /// Their mean top probability.
    pub confidence: f64,
    /// The share of them whose top class was right.
    pub accuracy: f64,
}

/// Calibration figures of a set of answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Top-label expected calibration error over [`ECE_BINS`] equal-width bins: the mean gap
    /// between confidence and accuracy, weighted by the bins' photo counts.
    pub ece: f64,
    /// Mean negative log-likelihood of the true class (natural log).
    pub nll: f64,
    /// Mean multi-class Brier score: the squared distance between the probabilities and the
    /// one-hot truth, summed over classes.
    pub brier: f64,
    /// The reliability diagram (empty bins included, with count 0).
    pub reliability: Vec<ReliabilityBin>,
}

impl Calibration {
    /// The figures of `probabilities` (one row per photo) against `truth`.
    pub fn of<P: AsRef<[f32]>>(probabilities: &[P], truth: &[usize]) -> Self {
        assert_eq!(
            probabilities.len(),
            truth.len(),
            "one probability row per label"
        );
        let n = truth.len().max(1) as f64;
        let mut sums = vec![(0usize, 0.0f64, 0usize); ECE_BINS];
        let (mut nll, mut brier) = (0.0, 0.0);
        for (p, &t) in probabilities.iter().zip(truth) {
            let p = p.as_ref();
            let top = argmax(p);
            let confidence = f64::from(p[top]);
            let bin = ((confidence * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
            sums[bin].0 += 1;
            sums[bin].1 += confidence;
            sums[bin].2 += usize::from(top == t);
            nll -= f64::from(p[t]).max(1e-12).ln();
            brier += p
                .iter()
                .enumerate()
                .map(|(c, &q)| (f64::from(q) - if c == t { 1.0 } else { 0.0 }).powi(2))
                .sum::<f64>();
        }
        let bins: Vec<ReliabilityBin> = sums
            .iter()
            .enumerate()
            .map(|(b, &(count, confidence, hits))| {
                let k = count.max(1) as f64;
                ReliabilityBin {
                    lower: b as f64 / ECE_BINS as f64,
                    upper: (b + 1) as f64 / ECE_BINS as f64,
                    count,
                    confidence: confidence / k,
                    accuracy: hits as f64 / k,
                }
            })
            .collect();
        let ece = bins
            .iter()
            .map(|b| b.count as f64 / n * (b.accuracy - b.confidence).abs())
            .sum();
        Self {
            ece,
            nll: nll / n,
            brier: brier / n,
            reliability: bins,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_right_as_often_as_it_says_has_no_calibration_error() {
        // 10 photos at 0.7 confidence, 7 right: perfectly calibrated.
        let probabilities: Vec<[f32; 2]> = vec![[0.7, 0.3]; 10];
        let truth: Vec<usize> = (0..10).map(|i| usize::from(i >= 7)).collect();
        let c = Calibration::of(&probabilities, &truth);
        assert!(c.ece.abs() < 1e-6, "{}", c.ece);
        let bin = &c.reliability[10]; // [0.667, 0.733)
        assert_eq!((bin.count, (bin.accuracy * 10.0).round()), (10, 7.0));
    }

    #[test]
    fn overconfidence_is_the_gap_between_confidence_and_accuracy() {
        // Half the photos at 0.9 confidence and always wrong, half at 0.6 and always right.
        let mut probabilities = vec![[0.9f32, 0.1]; 4];
        probabilities.extend(vec![[0.6f32, 0.4]; 4]);
        let truth = [1, 1, 1, 1, 0, 0, 0, 0];
        let c = Calibration::of(&probabilities, &truth);
        // |0 - 0.9| / 2 + |1 - 0.6| / 2 = 0.65
        assert!((c.ece - 0.65).abs() < 1e-6, "{}", c.ece);
        // NLL: (4 ln 10 + 4 (-ln 0.6)) / 8
        let nll = (4.0 * 10f64.ln() - 4.0 * 0.6f64.ln()) / 8.0;
        assert!((c.nll - nll).abs() < 1e-5, "{} vs {nll}", c.nll);
        // Brier: wrong ones (0.9² + 0.9²), right ones (0.4² + 0.4²).
        let brier = (4.0 * 2.0 * 0.81 + 4.0 * 2.0 * 0.16) / 8.0;
        assert!((c.brier - brier).abs() < 1e-5, "{} vs {brier}", c.brier);
        assert_eq!(c.reliability.len(), ECE_BINS);
        assert_eq!(c.reliability.iter().map(|b| b.count).sum::<usize>(), 8);
    }

    #[test]
    fn a_certain_right_answer_costs_nothing() {
        let c = Calibration::of(&[[1.0f32, 0.0, 0.0]], &[0]);
        assert_eq!((c.ece, c.nll, c.brier), (0.0, 0.0, 0.0));
        assert_eq!(
            c.reliability[ECE_BINS - 1].count,
            1,
            "confidence 1 lands in the last bin"
        );
    }
}
