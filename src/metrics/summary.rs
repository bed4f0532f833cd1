//! The figures derived from a confusion matrix (and, for AUC, the probabilities).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConfusionMatrix;

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// Every metric `report.json` and `evaluate --out` publish, with the keys they publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Class codes in model order.
    pub classes: Vec<String>,
    /// Rows are true classes, columns predicted, in `classes` order.
    pub confusion_matrix: ConfusionMatrix,
    /// Per-class figures keyed by class code.
    pub per_class: BTreeMap<String, ClassMetrics>,
    pub accuracy: f64,
    /// Mean recall over classes.
    pub balanced_accuracy: f64,
    pub macro_f1: f64,
    pub weighted_f1: f64,
    /// Mean one-vs-rest ROC AUC over classes; `None` when only hard predictions are known.
    pub macro_auc: Option<f64>,
}

/// `num / den`, or 0 when `den` is 0 (scikit-learn's `zero_division=0`).
fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

impl Metrics {
    /// [`Self::from_confusion`] with the classes named by their index, for figures that need
    /// no names (a search's objective, a bootstrap resample).
    pub fn unnamed(matrix: ConfusionMatrix) -> Self {
        let names: Vec<String> = (0..matrix.classes()).map(|c| c.to_string()).collect();
        let codes: Vec<&str> = names.iter().map(String::as_str).collect();
        Self::from_confusion(&codes, matrix, None)
    }

    /// Derive every metric from a confusion matrix, and AUC from `macro_auc` when given.
    pub fn from_confusion<S: AsRef<str>>(
        classes: &[S],
        matrix: ConfusionMatrix,
        macro_auc: Option<f64>,
    ) -> Self {
        assert_eq!(
            classes.len(),
            matrix.classes(),
            "one class name per matrix row"
        );
        let total = matrix.total();
        let mut per_class = BTreeMap::new();
        let (mut recall_sum, mut f1_sum, mut weighted_f1) = (0.0, 0.0, 0.0);
        let mut hits = 0;
        for (c, code) in classes.iter().enumerate() {
            let precision = ratio(matrix.hits(c), matrix.predicted(c));
            let recall = ratio(matrix.hits(c), matrix.support(c));
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            let support = matrix.support(c);
            recall_sum += recall;
            f1_sum += f1;
            weighted_f1 += f1 * support as f64;
            hits += matrix.hits(c);
            per_class.insert(
                code.as_ref().to_string(),
                ClassMetrics {
                    precision,
                    recall,
                    f1,
                    support,
                },
            );
        }
        let n = classes.len() as f64;
        Self {
            classes: classes.iter().map(|c| c.as_ref().to_string()).collect(),
            confusion_matrix: matrix,
            per_class,
            accuracy: ratio(hits, total),
            balanced_accuracy: recall_sum / n,
            macro_f1: f1_sum / n,
            weighted_f1: if total == 0 {
                0.0
            } else {
                weighted_f1 / total as f64
            },
            macro_auc,
        }
    }

    /// Metrics of hard predictions plus AUC from the per-sample probabilities
    /// (`probabilities[i]` is sample i's distribution over `classes`).
    pub fn from_predictions<S: AsRef<str>>(
        classes: &[S],
        truth: &[usize],
        probabilities: &[Vec<f32>],
    ) -> Self {
        assert_eq!(
            truth.len(),
            probabilities.len(),
            "one probability row per label"
        );
        let predicted: Vec<usize> = probabilities
            .iter()
            .map(|p| crate::answer::argmax(p))
            .collect();
        let matrix = ConfusionMatrix::from_pairs(classes.len(), truth, &predicted);
        let auc = super::macro_auc(classes.len(), truth, probabilities);
        Self::from_confusion(classes, matrix, auc)
    }

    /// Macro-averaged precision.
    pub fn macro_precision(&self) -> f64 {
        self.per_class.values().map(|m| m.precision).sum::<f64>() / self.per_class.len() as f64
    }

    /// Support-weighted precision, recall (both as scikit-learn's "weighted avg" row).
    pub fn weighted_precision_recall(&self) -> (f64, f64) {
        let total = self.confusion_matrix.total().max(1) as f64;
        let p = self
            .per_class
            .values()
            .map(|m| m.precision * m.support as f64)
            .sum::<f64>()
            / total;
        let r = self
            .per_class
            .values()
            .map(|m| m.recall * m.support as f64)
            .sum::<f64>()
            / total;
        (p, r)
    }

    /// A class's figures by code.
    pub fn class(&self, code: &str) -> &ClassMetrics {
        &self.per_class[code]
    }
}
