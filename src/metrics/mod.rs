//! Classification metrics, computed the way scikit-learn does so our figures compare directly
//! with the original project's.
//!
//! Balanced accuracy (mean per-class recall) and macro F1 come first: with 67% nevi, plain
//! accuracy rewards a model that ignores the rare cancers.

mod auc;
mod calibration;
mod confusion;
mod summary;
mod text;

pub use auc::{macro_auc, roc_auc};
pub use calibration::{Calibration, ECE_BINS, ReliabilityBin};
pub use confusion::ConfusionMatrix;
pub use summary::{ClassMetrics, Metrics};
pub use text::{classification_report, confusion_table};

#[cfg(test)]
mod tests;
