//! "Unsure between X and Y": the threshold below which the answer names two candidates, and
//! the risk-coverage trade-off it moves along.

use skin_lesion::Answer;
use skin_lesion::report::{RiskCoveragePoint, SelectiveReport};

/// The rule, written before it was first run, for the record.
pub const RULE: &str = "the lowest calibrated top probability t (0.30, 0.35, ..., 0.90) at which validation photos \
    with a top probability in [t, t + 0.10) are right at least half of the time: below it, the top class is more \
    likely wrong than right";

/// The unsure threshold for validation `answers` by [`RULE`].
pub fn choose(answers: &[Answer], labels: &[usize]) -> f32 {
    for step in 6..=18 {
        let t = step as f32 * 0.05;
        let (mut right, mut total) = (0, 0);
        for (a, &y) in answers.iter().zip(labels) {
            let p = a.probabilities[a.top];
            if p >= t && p < t + 0.10 {
                total += 1;
                right += usize::from(a.top == y);
            }
        }
        if total > 0 && 2 * right >= total {
            return t;
        }
    }
    0.9
}

/// The threshold's effect on `answers` (calibrated, with `unsure` set) and the curve.
pub fn report(answers: &[Answer], labels: &[usize], threshold: f32) -> SelectiveReport {
    let n = answers.len().max(1) as f64;
    let right = |a: &Answer, y: usize| usize::from(a.top == y);
    let answered: Vec<(&Answer, usize)> = answers
        .iter()
        .zip(labels.iter().copied())
        .filter(|(a, _)| !a.unsure)
        .collect();
    let unsure: Vec<(&Answer, usize)> = answers
        .iter()
        .zip(labels.iter().copied())
        .filter(|(a, _)| a.unsure)
        .collect();
    let share = |set: &[(&Answer, usize)], hit: &dyn Fn(&Answer, usize) -> usize| {
        set.iter().map(|&(a, y)| hit(a, y)).sum::<usize>() as f64 / set.len().max(1) as f64
    };
    SelectiveReport {
        threshold,
        rule: RULE.into(),
        test_coverage: answered.len() as f64 / n,
        test_accuracy_answered: share(&answered, &right),
        test_accuracy_all: answers
            .iter()
            .zip(labels)
            .map(|(a, &y)| right(a, y))
            .sum::<usize>() as f64
            / n,
        test_unsure_top2_accuracy: share(&unsure, &|a, y| {
            usize::from(a.top == y || a.runner_up == y)
        }),
        curve: curve(answers, labels),
    }
}

/// Accuracy on the most confident photos at 20 coverages (5%, 10%, ..., 100%).
pub fn curve(answers: &[Answer], labels: &[usize]) -> Vec<RiskCoveragePoint> {
    let mut order: Vec<usize> = (0..answers.len()).collect();
    let confidence = |i: usize| answers[i].probabilities[answers[i].top];
    order.sort_by(|&a, &b| confidence(b).total_cmp(&confidence(a)));
    (1..=20)
        .map(|k| {
            let count = ((k as f64 / 20.0) * answers.len() as f64).round().max(1.0) as usize;
            let kept = &order[..count.min(order.len())];
            let hits = kept
                .iter()
                .filter(|&&i| answers[i].top == labels[i])
                .count();
            RiskCoveragePoint {
                coverage: kept.len() as f64 / answers.len().max(1) as f64,
                accuracy: hits as f64 / kept.len().max(1) as f64,
                threshold: confidence(*kept.last().expect("at least one photo")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    const NUM_CLASSES: usize = 7;

    fn answer(top: usize, confidence: f32, unsure: bool) -> Answer {
        let mut probabilities = vec![(1.0 - confidence) / 6.0; NUM_CLASSES];
        probabilities[top] = confidence;
        Answer {
            probabilities,
            top,
            runner_up: (top + 1) % NUM_CLASSES,
            logits: vec![0.0; NUM_CLASSES],
            ood_score: 0.0,
            out_of_distribution: false,
            unsure,
        }
    }

    #[test]
    fn the_threshold_is_where_the_top_class_becomes_more_likely_right() {
        // Below 0.5 confidence the model is right a third of the time, above it always.
        let mut answers = Vec::new();
        let mut labels = Vec::new();
        for i in 0..300 {
            let confidence = 0.3 + 0.6 * (i as f32 / 300.0);
            let right = confidence >= 0.5 || i % 3 == 0;
            answers.push(answer(0, confidence, false));
            labels.push(if right { 0 } else { 1 });
        }
        let t = choose(&answers, &labels);
        assert!((0.40..=0.50).contains(&t), "{t}");
    }

    #[test]
    fn the_curve_keeps_the_most_confident_first() {
        let answers = vec![
            answer(0, 0.9, false),
            answer(0, 0.8, false),
            answer(0, 0.4, true),
            answer(0, 0.3, true),
        ];
        let labels = [0, 0, 1, 0];
        let curve = curve(&answers, &labels);
        assert_eq!(curve.len(), 20);
        assert_eq!(curve[9].coverage, 0.5);
        assert_eq!(curve[9].accuracy, 1.0);
        assert_eq!(curve[19].accuracy, 0.75);
        let report = report(&answers, &labels, 0.5);
        assert_eq!(
            (report.test_coverage, report.test_accuracy_answered),
            (0.5, 1.0)
        );
        assert_eq!(
            report.test_unsure_top2_accuracy, 1.0,
            "class 1 is the runner-up of the wrong one"
        );
    }
}
