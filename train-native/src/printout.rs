//! The terminal's view of a split's figures, one printer for every command that shows them
//! (`evaluate`, the end of `train`, `recalibrate`): all on stdout, progress on stderr.

use skin_lesion::metrics::{Calibration, Metrics, classification_report, confusion_table};

/// Print the confusion matrix and scikit-learn-style report.
pub fn metrics(metrics: &Metrics) {
    println!(
        "confusion matrix (rows: true class, columns: predicted)\n{}",
        confusion_table(metrics)
    );
    println!("{}", classification_report(metrics));
    println!(
        "balanced accuracy {:.4}  macro F1 {:.4}  macro AUC {}  accuracy {:.4}",
        metrics.balanced_accuracy,
        metrics.macro_f1,
        metrics
            .macro_auc
            .map_or("n/a".into(), |a| format!("{a:.4}")),
        metrics.accuracy
    );
}

/// The calibration figures in one line.
pub fn calibration(calibration: &Calibration) {
    println!(
        "calibration: ECE {:.4}, NLL {:.4}, Brier {:.4}",
        calibration.ece, calibration.nll, calibration.brier
    );
}
