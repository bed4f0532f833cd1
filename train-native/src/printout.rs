//! The terminal's view of a split's figures, one printer for every command that shows them
//! (`evaluate`, the end of `train`, `recalibrate`): all on stdout, progress on stderr.

use skin_lesion::metrics::{Calibration, Metrics, classification_report, confusion_table};
use skin_lesion::report::{SaliencyReport, Sections};

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

/// The report's sections on the test split, a line each (the end of `train`, `recalibrate`).
pub fn sections(s: &Sections) {
    calibration(&s.calibration);
    if let Some(i) = &s.intervals {
        println!(
            "95% intervals: balanced accuracy {:.3}–{:.3}, macro F1 {:.3}–{:.3}",
            i.balanced_accuracy[0], i.balanced_accuracy[1], i.macro_f1[0], i.macro_f1[1]
        );
    }
    if let Some(ood) = &s.ood {
        let set = ood.set.as_ref().map_or("no picture set".into(), |s| {
            format!(
                "{:.1}% of {} pictures (AUROC {:.3})",
                100.0 * s.flagged,
                s.pictures,
                s.auroc
            )
        });
        println!(
            "out of distribution: {:.1}% of test photos refused; {set}",
            100.0 * ood.test_flagged
        );
        // Repeated in the summary: the warnings printed at the fit scroll away during the end.
        for warning in &ood.warnings {
            println!("out of distribution, warning: {warning}");
        }
    }
    if let Some(s) = &s.saliency {
        saliency(s);
    }
    if let Some(r) = &s.robustness {
        let views = r
            .views
            .map_or("every view".into(), |v| format!("{v} view(s)"));
        let ece = r
            .clean_ece
            .map_or(String::new(), |e| format!(", clean ECE {e:.3}"));
        println!(
            "robustness suite at {views}: mean balanced accuracy under corruption {:.3} (clean {:.3}{ece})",
            r.mean_balanced_accuracy, r.clean_balanced_accuracy
        );
    }
}

/// How well the saliency maps point at the lesion, against the centre prior, in one line.
pub fn saliency(s: &SaliencyReport) {
    println!(
        "saliency on {} masks: pointing game {:.4} (centre prior {:.4}), mass in lesion {:.4} (centre prior {:.4}); {}",
        s.images,
        s.map.pointing_game,
        s.centre_prior.pointing_game,
        s.map.mass_in_lesion,
        s.centre_prior.mass_in_lesion,
        s.method
    );
}
