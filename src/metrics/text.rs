//! The plain-text report, laid out like scikit-learn's `classification_report`.

use std::fmt::Write;

use super::Metrics;

/// scikit-learn's `classification_report(digits=2)` text for `metrics`.
pub fn classification_report(metrics: &Metrics) -> String {
    let width = metrics
        .classes
        .iter()
        .map(|c| c.len())
        .max()
        .unwrap_or(0)
        .max("weighted avg".len());
    let total = metrics.confusion_matrix.total();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>width$}  {:>9} {:>9} {:>9} {:>9}",
        "", "precision", "recall", "f1-score", "support"
    );
    out.push('\n');
    for code in &metrics.classes {
        let m = metrics.class(code);
        let _ = writeln!(
            out,
            "{code:>width$}  {:>9.2} {:>9.2} {:>9.2} {:>9}",
            m.precision, m.recall, m.f1, m.support
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{:>width$}  {:>9} {:>9} {:>9.2} {:>9}",
        "accuracy", "", "", metrics.accuracy, total
    );
    let _ = writeln!(
        out,
        "{:>width$}  {:>9.2} {:>9.2} {:>9.2} {:>9}",
        "macro avg",
        metrics.macro_precision(),
        metrics.balanced_accuracy,
        metrics.macro_f1,
        total
    );
    let (wp, wr) = metrics.weighted_precision_recall();
    let _ = writeln!(
        out,
        "{:>width$}  {:>9.2} {:>9.2} {:>9.2} {:>9}",
        "weighted avg", wp, wr, metrics.weighted_f1, total
    );
    out
}

/// The confusion matrix as an aligned text table with class codes on both axes.
pub fn confusion_table(metrics: &Metrics) -> String {
    let m = &metrics.confusion_matrix.0;
    let cell = m
        .iter()
        .flatten()
        .map(|v| v.to_string().len())
        .max()
        .unwrap_or(1)
        .max(5);
    let mut out = format!("{:>10}", "true\\pred");
    for code in &metrics.classes {
        let _ = write!(out, " {code:>cell$}");
    }
    out.push('\n');
    for (code, row) in metrics.classes.iter().zip(m) {
        let _ = write!(out, "{code:>10}");
        for v in row {
            let _ = write!(out, " {v:>cell$}");
        }
        out.push('\n');
    }
    out
}
