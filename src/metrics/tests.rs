use super::*;
use crate::classes::class_codes;

/// The confusion matrix the original Keras project published (rows akiec..vasc).
fn original() -> ConfusionMatrix {
    ConfusionMatrix(vec![
        vec![13, 1, 3, 0, 3, 6, 0],
        vec![0, 26, 2, 2, 0, 0, 0],
        vec![1, 1, 42, 2, 11, 18, 0],
        vec![0, 0, 0, 2, 1, 3, 0],
        vec![0, 2, 6, 0, 19, 12, 0],
        vec![3, 3, 7, 0, 10, 726, 2],
        vec![1, 0, 0, 0, 0, 3, 7],
    ])
}

/// scikit-learn 1.x `classification_report` of that matrix, verbatim.
const ORIGINAL_REPORT: &str = "              precision    recall  f1-score   support

       akiec       0.72      0.50      0.59        26
         bcc       0.79      0.87      0.83        30
         bkl       0.70      0.56      0.62        75
          df       0.33      0.33      0.33         6
         mel       0.43      0.49      0.46        39
          nv       0.95      0.97      0.96       751
        vasc       0.78      0.64      0.70        11

    accuracy                           0.89       938
   macro avg       0.67      0.62      0.64       938
weighted avg       0.89      0.89      0.89       938
";

#[test]
fn reproduces_the_original_projects_report() {
    let metrics = Metrics::from_confusion(&class_codes(), original(), None);
    assert_eq!(classification_report(&metrics), ORIGINAL_REPORT);
    assert!((metrics.class("akiec").precision - 13.0 / 18.0).abs() < 1e-12);
    assert!((metrics.class("akiec").recall - 0.5).abs() < 1e-12);
    assert_eq!(metrics.class("nv").support, 751);
    assert!(
        (metrics.balanced_accuracy - 0.62147).abs() < 1e-4,
        "{}",
        metrics.balanced_accuracy
    );
    assert!(
        (metrics.macro_f1 - 0.64080).abs() < 1e-4,
        "{}",
        metrics.macro_f1
    );
    assert!((metrics.accuracy - 835.0 / 938.0).abs() < 1e-12);
    assert!((metrics.weighted_f1 - 0.89).abs() < 5e-3);
}

#[test]
fn zero_division_counts_as_zero() {
    // Class 1 never predicted, class 2 never present.
    let m = ConfusionMatrix::from_pairs(3, &[0, 0, 1], &[0, 0, 0]);
    let metrics = Metrics::from_confusion(&["a", "b", "c"], m, None);
    assert_eq!(metrics.class("b").precision, 0.0);
    assert_eq!(metrics.class("b").f1, 0.0);
    assert_eq!(metrics.class("c").recall, 0.0);
    assert!((metrics.class("a").precision - 2.0 / 3.0).abs() < 1e-12);
}

#[test]
fn auc_matches_scikit_learn_with_ties() {
    // roc_auc_score([0,0,1,1,0,1], [.1,.4,.35,.8,.35,.9]) == 0.8333...
    let auc = roc_auc(
        &[0.1, 0.4, 0.35, 0.8, 0.35, 0.9],
        &[false, false, true, true, false, true],
    )
    .unwrap();
    assert!((auc - 5.0 / 6.0).abs() < 1e-12, "{auc}");
    assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
    assert_eq!(roc_auc(&[0.1, 0.2, 0.3], &[false, true, true]), Some(1.0));
}

#[test]
fn metrics_from_probabilities() {
    let probs = vec![
        vec![0.9, 0.1],
        vec![0.4, 0.6],
        vec![0.2, 0.8],
        vec![0.6, 0.4],
    ];
    let metrics = Metrics::from_predictions(&["x", "y"], &[0, 1, 1, 1], &probs);
    assert_eq!(
        metrics.confusion_matrix,
        ConfusionMatrix(vec![vec![1, 0], vec![1, 2]])
    );
    assert_eq!(metrics.macro_auc, Some(1.0));
    let json = serde_json::to_value(&metrics).unwrap();
    for key in [
        "classes",
        "confusion_matrix",
        "per_class",
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "weighted_f1",
        "macro_auc",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    assert!(json["per_class"]["y"].get("support").is_some());
}
