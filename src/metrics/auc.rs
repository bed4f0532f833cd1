//! One-vs-rest ROC AUC from ranks (the Mann-Whitney U statistic), with ties counted half,
//! exactly as scikit-learn's `roc_auc_score` computes it.

/// AUC of `scores` separating `positive[i] == true` from the rest; `None` when one side is empty.
pub fn roc_auc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), positive.len());
    let n_pos = positive.iter().filter(|p| **p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average 1-based ranks over runs of tied scores.
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += rank * order[i..=j].iter().filter(|&&k| positive[k]).count() as f64;
        i = j + 1;
    }
    let u = rank_sum_pos - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos as f64 * n_neg as f64))
}

/// Mean one-vs-rest AUC over the classes present in `truth`; `None` when no class has both
/// positives and negatives.
pub fn macro_auc(classes: usize, truth: &[usize], probabilities: &[Vec<f32>]) -> Option<f64> {
    let aucs: Vec<f64> = (0..classes)
        .filter_map(|c| {
            let scores: Vec<f32> = probabilities.iter().map(|p| p[c]).collect();
            let positive: Vec<bool> = truth.iter().map(|&t| t == c).collect();
            roc_auc(&scores, &positive)
        })
        .collect();
    if aucs.is_empty() {
        None
    } else {
        Some(aucs.iter().sum::<f64>() / aucs.len() as f64)
    }
}
