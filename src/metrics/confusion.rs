//! Counts of (true class, predicted class) pairs.

use serde::{Deserialize, Serialize};

/// A square confusion matrix: rows are true classes, columns predicted classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConfusionMatrix(pub Vec<Vec<usize>>);

impl ConfusionMatrix {
    /// An all-zero `n` x `n` matrix.
    pub fn new(n: usize) -> Self {
        Self(vec![vec![0; n]; n])
    }

    /// Count pairs of true and predicted class indices.
    pub fn from_pairs(n: usize, truth: &[usize], predicted: &[usize]) -> Self {
        assert_eq!(truth.len(), predicted.len(), "one prediction per label");
        let mut m = Self::new(n);
        for (&t, &p) in truth.iter().zip(predicted) {
            m.add(t, p);
        }
        m
    }

    /// Count one prediction.
    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.0[truth][predicted] += 1;
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.0.len()
    }

    /// Number of samples counted.
    pub fn total(&self) -> usize {
        self.0.iter().flatten().sum()
    }

    /// Samples whose true class is `c`.
    pub fn support(&self, c: usize) -> usize {
        self.0[c].iter().sum()
    }

    /// Samples predicted as `c`.
    pub fn predicted(&self, c: usize) -> usize {
        self.0.iter().map(|row| row[c]).sum()
    }

    /// Correct predictions of class `c`.
    pub fn hits(&self, c: usize) -> usize {
        self.0[c][c]
    }
}
