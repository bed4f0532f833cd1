//! Fitting what optional patient data adds ([`skin_lesion::patient`]): the likelihood tables
//! counted on the training split, the one weight chosen on validation by [`RULE`], and the
//! report's figures with each photo's own HAM10000 patient data next to those without.

use std::collections::BTreeMap;

use skin_lesion::answer::AnswerConfig;
use skin_lesion::metrics::Metrics;
use skin_lesion::patient::{PatientConfig, SEXES, SITES};
use skin_lesion::report::{PatientReport, WeightScore};
use skin_lesion::{Answer, Patient};

use crate::score::scored;
use crate::{intervals, offsets};

/// Age bins every ten years up to 80 and over (HAM10000 records ages in steps of 5, 0-85).
pub const AGE_EDGES: [f32; 8] = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0];

/// Added to every count (Laplace): a site no training photo of a class had is unlikely for
/// it, not impossible.
pub const SMOOTHING: f64 = 1.0;

/// The weights [`RULE`] chooses from.
pub const WEIGHTS: [f32; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

/// How the weight is chosen, written before it was first run on the shipped model.
pub const RULE: &str = "the weight among 0, 0.25, 0.5, 0.75 and 1 whose answers (each validation photo with its own \
    patient data) have the highest mean of validation balanced accuracy and macro F1; ties: the smaller; \
    a weight of 0 ships no tables";

pub const METHOD: &str = "log p(age bin | class) + log p(sex | class) + log p(body site | class), counted on the \
    training split (ten-year age bins, Laplace smoothing), times one weight, added to the calibrated \
    log-probabilities for each field given; a field not given adds nothing";

/// The tables at weight 1, counted over `patients` with labels `labels` among `classes`.
pub fn tables(patients: &[Patient], labels: &[usize], classes: usize) -> PatientConfig {
    let count = |values: usize, value_of: &dyn Fn(&Patient) -> Option<usize>| {
        log_likelihoods(Field { values, classes }, patients, labels, value_of)
    };
    let age = count(AGE_EDGES.len() + 1, &|p| {
        p.age.map(|a| PatientConfig::age_bin(&AGE_EDGES, a))
    });
    let sex = count(SEXES.len(), &|p| {
        p.sex.and_then(|s| SEXES.iter().position(|&x| x == s))
    });
    let site = count(SITES.len(), &|p| {
        p.site.and_then(|s| SITES.iter().position(|&x| x == s))
    });
    PatientConfig::new(1.0, AGE_EDGES.to_vec(), age, sex, site)
}

/// A table's shape: values of the field (rows) and classes (columns).
#[derive(Clone, Copy)]
struct Field {
    values: usize,
    classes: usize,
}

/// `log p(value | class)` for one field over the photos where it is known, smoothed.
fn log_likelihoods(
    field: Field,
    patients: &[Patient],
    labels: &[usize],
    value_of: &dyn Fn(&Patient) -> Option<usize>,
) -> Vec<Vec<f32>> {
    let Field { values, classes } = field;
    let mut counts = vec![vec![0usize; classes]; values];
    for (p, &label) in patients.iter().zip(labels) {
        if let Some(v) = value_of(p) {
            counts[v][label] += 1;
        }
    }
    let totals: Vec<usize> = (0..classes)
        .map(|c| counts.iter().map(|r| r[c]).sum())
        .collect();
    counts
        .iter()
        .map(|row| {
            (0..classes)
                .map(|c| {
                    let p = (row[c] as f64 + SMOOTHING)
                        / (totals[c] as f64 + SMOOTHING * values as f64);
                    p.ln() as f32
                })
                .collect()
        })
        .collect()
}

/// The chosen tables (`None` when [`RULE`] picks weight 0) and every weight's score.
pub struct Fit {
    pub config: Option<PatientConfig>,
    pub weight: f32,
    pub candidates: Vec<WeightScore>,
}

/// Photos' answers (the photo alone), their patient data and classes (of `codes`).
pub struct Scored<'a> {
    pub answers: &'a [Answer],
    pub patients: &'a [Patient],
    pub labels: &'a [usize],
    pub codes: &'a [String],
}

/// Count the tables on the training photos and choose the weight on validation by [`RULE`].
pub fn fit(train: (&[Patient], &[usize]), val: &Scored, answer: &AnswerConfig) -> Fit {
    let tables = tables(train.0, train.1, val.codes.len());
    let candidates: Vec<WeightScore> = WEIGHTS
        .iter()
        .map(|&weight| {
            let config = answer
                .clone()
                .with_patient(Some(tables.clone().weighted(weight)));
            let metrics = metrics_with(&config, val);
            WeightScore {
                weight,
                objective: offsets::objective(&metrics),
            }
        })
        .collect();
    // The first of equal scores: the smaller weight.
    let best = candidates.iter().fold(&candidates[0], |best, c| {
        if c.objective > best.objective {
            c
        } else {
            best
        }
    });
    eprintln!(
        "patient data weight {} (validation objective {:.4}; weight 0: {:.4})",
        best.weight, best.objective, candidates[0].objective
    );
    Fit {
        config: (best.weight > 0.0).then(|| tables.weighted(best.weight)),
        weight: best.weight,
        candidates,
    }
}

/// Each answer with its photo's patient data under `config`.
pub fn with_patients(
    config: &AnswerConfig,
    answers: &[Answer],
    patients: &[Patient],
) -> Vec<Answer> {
    answers
        .iter()
        .zip(patients)
        .map(|(a, p)| a.clone().with_patient(config, p))
        .collect()
}

fn metrics_with(config: &AnswerConfig, s: &Scored) -> Metrics {
    scored(
        with_patients(config, s.answers, s.patients),
        s.labels,
        s.codes,
    )
    .metrics
}

/// What the report says about patient data: the figures with it on validation and test, the
/// test split's intervals and warm-cast balanced accuracy with it, and how often HAM10000
/// knows each field.
pub struct ReportInputs<'a> {
    /// The shipped model's answer settings (its patient tables, if any).
    pub config: AnswerConfig,
    pub fit: &'a Fit,
    pub val: Scored<'a>,
    pub test: Scored<'a>,
    /// The test photos' lesions, which the intervals resample.
    pub test_lesions: &'a [&'a str],
    /// The test photos' answers under the warm cast (the robustness suite's).
    pub warm_cast: &'a [Answer],
}

pub fn report(r: &ReportInputs) -> PatientReport {
    let config = &r.config;
    let validation = metrics_with(config, &r.val);
    let test_answers = with_patients(config, r.test.answers, r.test.patients);
    let predicted: Vec<usize> = test_answers.iter().map(|a| a.top).collect();
    let test = scored(test_answers, r.test.labels, r.test.codes).metrics;
    let classes = r.test.codes.len();
    let intervals = intervals::bootstrap(classes, &predicted, r.test.labels, r.test_lesions, 1);
    let warm_cast = |patients: &[Patient]| {
        scored(
            with_patients(config, r.warm_cast, patients),
            r.test.labels,
            r.test.codes,
        )
        .metrics
        .balanced_accuracy
    };
    let unknown = vec![Patient::UNKNOWN; r.warm_cast.len()];
    let share = |known: fn(&Patient) -> bool| {
        r.test.patients.iter().filter(|p| known(p)).count() as f64 / r.test.patients.len() as f64
    };
    let test_known = BTreeMap::from([
        ("age".to_string(), share(|p| p.age.is_some())),
        ("sex".to_string(), share(|p| p.sex.is_some())),
        ("site".to_string(), share(|p| p.site.is_some())),
    ]);
    let report = PatientReport {
        method: METHOD.into(),
        choice: RULE.into(),
        weight: r.fit.weight,
        candidates: r.fit.candidates.clone(),
        validation,
        test,
        intervals: Some(intervals),
        warm_cast_balanced_accuracy: warm_cast(r.test.patients),
        warm_cast_balanced_accuracy_without: warm_cast(&unknown),
        test_known,
    };
    eprintln!(
        "with patient data (weight {}): validation balanced accuracy {:.4}, macro F1 {:.4}; test {:.4} ({:.3}-{:.3}), macro F1 {:.4}; test under the warm cast {:.4} (without {:.4})",
        report.weight,
        report.validation.balanced_accuracy,
        report.validation.macro_f1,
        report.test.balanced_accuracy,
        report
            .intervals
            .as_ref()
            .map_or(0.0, |i| i.balanced_accuracy[0]),
        report
            .intervals
            .as_ref()
            .map_or(0.0, |i| i.balanced_accuracy[1]),
        report.test.macro_f1,
        report.warm_cast_balanced_accuracy,
        report.warm_cast_balanced_accuracy_without
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const NUM_CLASSES: usize = 7;
    use skin_lesion::patient::{Sex, Site};

    fn patient(age: f32, sex: Sex, site: Site) -> Patient {
        Patient {
            age: Some(age),
            sex: Some(sex),
            site: Some(site),
        }
    }

    #[test]
    fn tables_are_smoothed_class_conditional_frequencies() {
        let patients = [
            patient(25.0, Sex::Male, Site::Face),
            patient(72.0, Sex::Male, Site::Face),
            patient(35.0, Sex::Female, Site::Back),
            Patient::UNKNOWN,
        ];
        let labels = [1, 1, 5, 5];
        let t = tables(&patients, &labels, NUM_CLASSES);
        assert_eq!(t.validate(NUM_CLASSES), Ok(()));
        // Class 1: both known photos on the face: (2 + 1) / (2 + 14).
        let face = SITES.iter().position(|&s| s == Site::Face).unwrap();
        assert!((t.site[face][1] - (3.0f32 / 16.0).ln()).abs() < 1e-6);
        // Class 5 has one known site (the unknown patient counts nowhere): (0 + 1) / (1 + 14).
        assert!((t.site[face][5] - (1.0f32 / 15.0).ln()).abs() < 1e-6);
        // A class with no photos gets the uniform distribution.
        assert!((t.sex[0][0] - 0.5f32.ln()).abs() < 1e-6);
        // Each class's column is a distribution.
        for c in 0..NUM_CLASSES {
            let total: f32 = t.age.iter().map(|r| r[c].exp()).sum();
            assert!((total - 1.0).abs() < 1e-5, "{total}");
        }
    }

    #[test]
    fn the_weight_that_helps_validation_is_chosen_and_zero_ships_nothing() {
        // The photo cannot tell class 0 from 3; the body site can.
        let answer = |top: usize| {
            let mut logits = vec![0.0; NUM_CLASSES];
            logits[top] = 2.0;
            logits[if top == 0 { 3 } else { 0 }] = 1.9;
            skin_lesion::answer::answer(&AnswerConfig::new(), logits, &[], None).unwrap()
        };
        let on = |site: Site| Patient {
            site: Some(site),
            ..Patient::UNKNOWN
        };
        let train_patients: Vec<Patient> = (0..40)
            .map(|i| on(if i % 2 == 0 { Site::Back } else { Site::Foot }))
            .collect();
        let train_labels: Vec<usize> = (0..40).map(|i| if i % 2 == 0 { 0 } else { 3 }).collect();
        let answers: Vec<Answer> = (0..20).map(|_| answer(0)).collect();
        let labels: Vec<usize> = (0..20).map(|i| if i % 2 == 0 { 0 } else { 3 }).collect();
        let patients: Vec<Patient> = (0..20)
            .map(|i| on(if i % 2 == 0 { Site::Back } else { Site::Foot }))
            .collect();
        let codes: Vec<String> = (0..7).map(|c| c.to_string()).collect();
        let val = Scored {
            answers: &answers,
            patients: &patients,
            labels: &labels,
            codes: &codes,
        };
        let fit = fit((&train_patients, &train_labels), &val, &AnswerConfig::new());
        assert!(fit.weight > 0.0 && fit.config.is_some());
        assert!(fit.candidates[0].objective < fit.candidates[1].objective);
        // Patient data that says nothing: weight 0, no tables.
        let unknown = vec![Patient::UNKNOWN; 20];
        let val = Scored {
            patients: &unknown,
            ..val
        };
        let fit = super::fit((&train_patients, &train_labels), &val, &AnswerConfig::new());
        assert_eq!(fit.weight, 0.0);
        assert!(fit.config.is_none());
    }
}
