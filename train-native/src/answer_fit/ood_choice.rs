//! Which out-of-distribution score ships, by a rule written before it was run on the
//! candidates it compares, and the warnings the export prints (and the report keeps) when the
//! chosen score falls short of it.

use skin_lesion::report::OodCandidate;

/// The share of validation photos the out-of-distribution threshold refuses.
pub const FLAGGED_SHARE: f64 = 0.05;

/// The most of any one class's validation photos a score may refuse to be chosen.
pub const CLASS_LIMIT: f64 = 0.15;

/// The share of the dev pictures a score must refuse to count as a working detector when no
/// score keeps within [`CLASS_LIMIT`]: issue 19's bar for the report pictures, applied to the
/// part of the set that choices are made on. Without it the fallback chose the logits' energy
/// for run Q, which refused 1 of the 116 report pictures (docs/experiments.md, "The
/// out-of-distribution rule's fallback").
pub const DEV_BAR: f64 = 0.90;

/// The rule, in words: a real photo of a rare class must not be refused for being rare, and
/// when every score refuses too many of some class, a score that refuses what it should beats
/// one that refuses nothing (a refusal is the safe failure, a diagnosis of a picture that is
/// not a dermatoscopy photo the unsafe one).
pub fn ood_rule() -> String {
    format!(
        "among the candidates that, at the threshold refusing {:.0}% of validation photos, refuse at most \
         {:.0}% of every class's validation photos, the one refusing the largest share of the dev part of the \
         out-of-distribution set (ties: the higher AUROC); if none qualifies, among those refusing at least \
         {:.0}% of the dev pictures (or, if none does, among all) the one whose worst class is refused least",
        100.0 * FLAGGED_SHARE,
        100.0 * CLASS_LIMIT,
        100.0 * DEV_BAR
    )
}

/// The largest share of one class's validation photos that `candidate` refuses.
fn worst(candidate: &OodCandidate) -> f64 {
    candidate
        .val_flagged_by_class
        .iter()
        .copied()
        .fold(0.0, f64::max)
}

/// The index of the candidate [`ood_rule`] picks (`candidates` must not be empty).
pub fn choose(candidates: &[OodCandidate]) -> usize {
    let all: Vec<usize> = (0..candidates.len()).collect();
    let within_limit: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| worst(&candidates[i]) <= CLASS_LIMIT)
        .collect();
    if !within_limit.is_empty() {
        return best_by(&within_limit, candidates, |x, y| {
            x.dev_flagged
                .total_cmp(&y.dev_flagged)
                .then(x.dev_auroc.total_cmp(&y.dev_auroc))
        });
    }
    let working: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| candidates[i].dev_flagged >= DEV_BAR)
        .collect();
    let pool = if working.is_empty() { &all } else { &working };
    best_by(pool, candidates, |x, y| {
        worst(y)
            .total_cmp(&worst(x))
            .then(x.dev_flagged.total_cmp(&y.dev_flagged))
            .then(x.dev_auroc.total_cmp(&y.dev_auroc))
    })
}

/// The index in `pool` that `better` ranks highest, the earlier candidate on a tie.
fn best_by(
    pool: &[usize],
    candidates: &[OodCandidate],
    better: impl Fn(&OodCandidate, &OodCandidate) -> std::cmp::Ordering,
) -> usize {
    pool.iter()
        .copied()
        .max_by(|&a, &b| better(&candidates[a], &candidates[b]).then(b.cmp(&a)))
        .expect("at least one candidate")
}

/// What the chosen score falls short of, in words: each class of which it refuses more than
/// [`CLASS_LIMIT`] of the validation photos (`class_sizes` of them, named by `classes`), and a
/// dev share under [`DEV_BAR`].
pub fn warnings(chosen: &OodCandidate, classes: &[String], class_sizes: &[usize]) -> Vec<String> {
    let mut out: Vec<String> = chosen
        .val_flagged_by_class
        .iter()
        .zip(classes.iter().zip(class_sizes))
        .filter(|(share, _)| **share > CLASS_LIMIT)
        .map(|(share, (class, &size))| {
            format!(
                "it refuses {:.1}% of the validation photos of {class} ({} of {size}), over the rule's {:.0}% for a class: \
                 a real photo of this class is refused more often than the others",
                100.0 * share,
                (share * size as f64).round(),
                100.0 * CLASS_LIMIT
            )
        })
        .collect();
    if chosen.dev_flagged < DEV_BAR {
        out.push(format!(
            "it refuses only {:.1}% of the dev pictures that are not dermatoscopy photos (the bar is {:.0}%): \
             most such pictures would get a diagnosis",
            100.0 * chosen.dev_flagged,
            100.0 * DEV_BAR
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(dev_flagged: f64, dev_auroc: f64, by_class: &[f64]) -> OodCandidate {
        OodCandidate {
            method: String::new(),
            dev_auroc,
            dev_flagged,
            val_flagged_by_class: by_class.to_vec(),
        }
    }

    /// Run Q's end (other classes' shares made up): every distance refused 5 of the 21
    /// validation vascular lesions (23.8%); the energy of the logits refused 3.2% of the dev
    /// pictures and its worst class less than that, so the old fallback chose it.
    fn run_q() -> Vec<OodCandidate> {
        let vasc = 5.0 / 21.0;
        vec![
            candidate(1.0, 0.9999, &[0.02, 0.09, 0.07, 0.06, 0.03, 0.05, vasc]),
            candidate(1.0, 0.9998, &[0.02, 0.09, 0.07, 0.11, 0.03, 0.05, vasc]),
            candidate(0.98, 0.997, &[0.06, 0.21, 0.10, 0.17, 0.04, 0.02, 0.29]),
            candidate(0.98, 0.998, &[0.04, 0.14, 0.10, 0.06, 0.07, 0.03, 0.29]),
            candidate(0.032, 0.60, &[0.12, 0.11, 0.08, 0.17, 0.10, 0.02, 0.10]),
        ]
    }

    #[test]
    fn with_no_candidate_within_the_class_limit_a_working_detector_beats_one_that_refuses_nothing()
    {
        let candidates = run_q();
        // The first two tie on the worst class and the dev share: the higher AUROC wins.
        assert_eq!(choose(&candidates), 0);
        let mut swapped = candidates.clone();
        swapped.swap(0, 1);
        assert_eq!(choose(&swapped), 1);
    }

    #[test]
    fn with_no_working_detector_the_fallback_is_the_least_refused_worst_class() {
        let mut candidates = run_q();
        for c in &mut candidates[..4] {
            c.dev_flagged = 0.85;
        }
        assert_eq!(choose(&candidates), 4);
    }

    #[test]
    fn a_candidate_within_the_class_limit_wins_over_a_better_detector_outside_it() {
        let mut candidates = run_q();
        candidates[3].val_flagged_by_class[6] = 0.14;
        candidates[3].val_flagged_by_class[1] = 0.15;
        assert_eq!(choose(&candidates), 3);
    }

    /// The shipped model's candidates (web/model/report.json): the choice must not move.
    #[test]
    fn the_shipped_models_candidates_keep_their_choice() {
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../web/model/report.json"
            ))
            .expect("web/model/report.json"),
        )
        .expect("json");
        let ood = &report["ood"];
        let candidates: Vec<OodCandidate> =
            serde_json::from_value(ood["candidates"].clone()).expect("candidates");
        let chosen = &candidates[choose(&candidates)];
        assert_eq!(chosen.method, ood["method"].as_str().expect("method"));
    }

    #[test]
    fn warnings_name_each_class_over_the_limit_and_a_weak_detector() {
        let classes: Vec<String> = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
            .map(String::from)
            .to_vec();
        let sizes = [49, 80, 165, 18, 161, 1009, 21];
        let candidates = run_q();
        let distance = warnings(&candidates[0], &classes, &sizes);
        assert_eq!(distance.len(), 1, "{distance:?}");
        assert!(distance[0].contains("23.8%") && distance[0].contains("vasc (5 of 21)"));
        let energy = warnings(&candidates[4], &classes, &sizes);
        assert_eq!(energy.len(), 2, "{energy:?}");
        assert!(energy[0].contains("df (3 of 18)"));
        assert!(energy[1].contains("only 3.2% of the dev pictures"));
        let clean = candidate(1.0, 1.0, &[0.1; 7]);
        assert!(warnings(&clean, &classes, &sizes).is_empty());
    }
}
