//! From the network's outputs to an answer that says how far it can be trusted: calibrated
//! probabilities, "unsure between X and Y", and "this is not a dermatoscopy photo".
//!
//! Everything here is fitted on the validation split when a model is exported
//! (`train-native/src/honest/`) and stored in `config.json` ([`AnswerConfig`]); the browser and
//! `train-native predict` apply it through [`answer`], so both say the same thing.

use burn::config::Config;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::density::Mahalanobis;
use crate::patient::{Patient, PatientConfig};

/// How a shipped model turns its outputs into an answer.
#[derive(Config, Debug, PartialEq)]
pub struct AnswerConfig {
    /// The mean logits are divided by this before the softmax (temperature scaling, fitted on
    /// validation by minimising the negative log-likelihood; it never changes the top class).
    #[config(default = 1.0)]
    pub temperature: f32,
    /// Below this calibrated top probability the answer is "unsure between X and Y".
    #[config(default = 0.0)]
    pub unsure_below: f32,
    /// The out-of-distribution score and the threshold above which a picture is refused.
    pub ood: Option<OodConfig>,
    /// What optional patient data adds to the probabilities ([`crate::patient`]); a model
    /// without it ignores patient data.
    pub patient: Option<PatientConfig>,
}

impl AnswerConfig {
    /// Checks the settings can answer for a network of `classes` outputs and `feature_width`
    /// pooled features.
    pub fn validate(&self, classes: usize, feature_width: usize) -> Result<(), String> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(format!("temperature {} must be positive", self.temperature));
        }
        if !(0.0..=1.0).contains(&self.unsure_below) {
            return Err(format!(
                "unsure_below {} must be in [0, 1]",
                self.unsure_below
            ));
        }
        if let Some(patient) = &self.patient {
            patient.validate(classes)?;
        }
        if let Some(ood) = &self.ood {
            if !ood.threshold.is_finite() {
                return Err("the out-of-distribution threshold must be a number".into());
            }
            let [start, end] = ood.features;
            if start > end || end > feature_width {
                return Err(format!(
                    "the out-of-distribution features {start}..{end} are not within the {feature_width} features"
                ));
            }
        }
        Ok(())
    }
}

/// Which out-of-distribution score a model uses, and its threshold.
#[derive(Config, Debug, PartialEq)]
pub struct OodConfig {
    pub method: OodMethod,
    /// Which of the pooled features (`start..end`, [`crate::model::NetworkConfig::stage_features`])
    /// the density is over.
    pub features: [usize; 2],
    /// Scores above this are out of distribution; fitted so that a set share of validation
    /// photos (5%) lies above it.
    pub threshold: f32,
}

/// The out-of-distribution scores [`answer`] can compute; higher means less like training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OodMethod {
    /// Squared Mahalanobis distance of the pooled features to the nearest class mean.
    Mahalanobis,
    /// The same, each class's distance divided by its training photos' mean distance
    /// ([`crate::model::density`]).
    ClassScaledMahalanobis,
    /// Negative log-sum-exp of the logits (Liu et al., NeurIPS 2020).
    Energy,
}

impl OodMethod {
    /// Whether the score needs the feature density stored with the weights.
    pub fn uses_density(self) -> bool {
        self != Self::Energy
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Mahalanobis => "mahalanobis",
            Self::ClassScaledMahalanobis => "class_scaled_mahalanobis",
            Self::Energy => "energy",
        }
    }
}

/// The answer for one photo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// Calibrated probabilities in the order of the model's classes (`config.json`).
    pub probabilities: Vec<f32>,
    /// The most probable class.
    pub top: usize,
    /// The second most probable class (the other candidate when unsure).
    pub runner_up: usize,
    /// The logits averaged over the views (decision offsets included, no temperature).
    pub logits: Vec<f32>,
    /// The out-of-distribution score (higher: less like the training photos).
    pub ood_score: f32,
    /// The picture does not look like a dermatoscopy photo of a skin lesion.
    pub out_of_distribution: bool,
    /// The top class's calibrated probability is below the model's threshold.
    pub unsure: bool,
}

/// The network's outputs were not finite numbers (damaged weights, say).
#[derive(Debug, Clone, PartialEq, Error)]
#[error("the model produced {0} instead of numbers: its weights are probably damaged")]
pub struct NonFinite(pub &'static str);

/// The answer from the logits and features averaged over a photo's views.
pub fn answer(
    config: &AnswerConfig,
    logits: Vec<f32>,
    features: &[f32],
    density: Option<&Mahalanobis>,
) -> Result<Answer, NonFinite> {
    check_finite(&logits)?;
    check_finite(features)?;
    let (probabilities, top, runner_up) = decide(config, &logits, &Patient::UNKNOWN);
    let (ood_score, out_of_distribution) = match &config.ood {
        Some(ood) => {
            let [start, end] = ood.features;
            let score = ood_score(ood.method, &logits, &features[start..end], density);
            (score, score > ood.threshold)
        }
        None => (energy(&logits), false),
    };
    check_finite(&[ood_score])?;
    Ok(Answer {
        unsure: probabilities[top] < config.unsure_below,
        probabilities,
        top,
        runner_up,
        logits,
        ood_score,
        out_of_distribution,
    })
}

impl Answer {
    /// The same answer with what `patient` adds ([`crate::patient`]): the probabilities, the
    /// top classes and "unsure" change; the out-of-distribution verdict is the photo's.
    pub fn with_patient(mut self, config: &AnswerConfig, patient: &Patient) -> Self {
        let (probabilities, top, runner_up) = decide(config, &self.logits, patient);
        self.unsure = probabilities[top] < config.unsure_below;
        self.probabilities = probabilities;
        self.top = top;
        self.runner_up = runner_up;
        self
    }
}

/// Calibrated probabilities, the top class and the runner-up: the softmax of the logits over
/// the temperature, plus the patient data's terms when the model has them.
fn decide(config: &AnswerConfig, logits: &[f32], patient: &Patient) -> (Vec<f32>, usize, usize) {
    let mut scaled: Vec<f32> = logits.iter().map(|l| l / config.temperature).collect();
    if let Some(tables) = &config.patient {
        for (s, t) in scaled.iter_mut().zip(tables.terms(patient)) {
            *s += t;
        }
    }
    let probabilities = softmax(&scaled);
    let top = argmax(&probabilities);
    let runner_up = argmax_except(&probabilities, top);
    (probabilities, top, runner_up)
}

/// The score of `method`; a model whose config asks for the density carries it (checked on
/// load), so a missing one is a programming error.
pub fn ood_score(
    method: OodMethod,
    logits: &[f32],
    features: &[f32],
    density: Option<&Mahalanobis>,
) -> f32 {
    match method {
        OodMethod::Energy => energy(logits),
        OodMethod::Mahalanobis | OodMethod::ClassScaledMahalanobis => density
            .expect("a Mahalanobis model carries its density")
            .score(features),
    }
}

/// `-log Σ exp(logit)`: low for confident, in-distribution outputs.
pub fn energy(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    -(max + logits.iter().map(|l| (l - max).exp()).sum::<f32>().ln())
}

fn check_finite(values: &[f32]) -> Result<(), NonFinite> {
    if values.iter().any(|v| v.is_nan()) {
        return Err(NonFinite("NaN"));
    }
    if values.iter().any(|v| v.is_infinite()) {
        return Err(NonFinite("infinite values"));
    }
    Ok(())
}

/// `exp(x) / Σ exp(x)`, stable for large logits.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let total: f32 = exp.iter().sum();
    exp.iter().map(|e| e / total).collect()
}

/// Index of the largest value (the first one on ties).
pub fn argmax(values: &[f32]) -> usize {
    argmax_except(values, usize::MAX)
}

/// Index of the largest value other than `skip` (the first one on ties).
fn argmax_except(values: &[f32], skip: usize) -> usize {
    let mut best = if skip == 0 { 1 } else { 0 };
    for (i, v) in values.iter().enumerate() {
        if i != skip && *v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> AnswerConfig {
        AnswerConfig::new()
    }

    #[test]
    fn temperature_softens_without_changing_the_top_class() {
        let logits = [2.0, 0.5, 0.0, -1.0, 1.0, 0.0, -3.0];
        let sharp = answer(&plain(), logits.to_vec(), &[], None).unwrap();
        let soft = answer(&plain().with_temperature(2.0), logits.to_vec(), &[], None).unwrap();
        assert_eq!((sharp.top, soft.top), (0, 0));
        assert_eq!((sharp.runner_up, soft.runner_up), (4, 4));
        assert!(soft.probabilities[0] < sharp.probabilities[0]);
        // Temperature 2 is the softmax of half the logits.
        let expected = softmax(&logits.map(|l| l / 2.0));
        assert_eq!(soft.probabilities, expected);
        assert!((soft.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn unsure_below_the_threshold() {
        let logits = [1.0, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0];
        let config = plain().with_unsure_below(0.5);
        let a = answer(&config, logits.to_vec(), &[], None).unwrap();
        assert!(a.unsure, "{a:?}");
        assert_eq!((a.top, a.runner_up), (0, 1));
        let confident = answer(
            &config,
            [9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0].to_vec(),
            &[],
            None,
        )
        .unwrap();
        assert!(!confident.unsure);
    }

    #[test]
    fn energy_flags_flat_logits() {
        let config = plain().with_ood(Some(OodConfig::new(OodMethod::Energy, [0, 0], -3.0)));
        let confident = answer(
            &config,
            [8.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0].to_vec(),
            &[],
            None,
        )
        .unwrap();
        let flat = answer(&config, [0.0; 7].to_vec(), &[], None).unwrap();
        assert!(!confident.out_of_distribution && flat.out_of_distribution);
        assert!((flat.ood_score + 7f32.ln()).abs() < 1e-6);
    }

    #[test]
    fn mahalanobis_uses_the_features() {
        let width = 2;
        let density = Mahalanobis::new(
            vec![1.0, 0.0, 0.0, 1.0],
            vec![0.0; 7 * width],
            vec![1.0; 7],
            width,
        );
        let config = plain().with_ood(Some(OodConfig::new(OodMethod::Mahalanobis, [0, 2], 4.0)));
        let near = answer(&config, [0.0; 7].to_vec(), &[1.0, 1.0], Some(&density)).unwrap();
        let far = answer(&config, [0.0; 7].to_vec(), &[3.0, 0.0], Some(&density)).unwrap();
        assert_eq!((near.ood_score, far.ood_score), (2.0, 9.0));
        assert!(!near.out_of_distribution && far.out_of_distribution);
    }

    #[test]
    fn non_finite_outputs_are_an_error() {
        let mut logits = [0.0; 7];
        logits[3] = f32::NAN;
        assert_eq!(
            answer(&plain(), logits.to_vec(), &[], None).unwrap_err(),
            NonFinite("NaN")
        );
        logits[3] = f32::INFINITY;
        assert!(answer(&plain(), logits.to_vec(), &[], None).is_err());
        assert!(answer(&plain(), [0.0; 7].to_vec(), &[f32::NAN], None).is_err());
    }

    #[test]
    fn patient_data_moves_the_probabilities_but_not_the_ood_verdict() {
        let rows = |n: usize, class: usize| -> Vec<Vec<f32>> {
            (0..n)
                .map(|_| (0..7).map(|c| if c == class { 3.0 } else { 0.0 }).collect())
                .collect()
        };
        let tables = PatientConfig::new(1.0, vec![50.0], rows(2, 0), rows(2, 0), rows(14, 6));
        let config = plain()
            .with_unsure_below(0.5)
            .with_patient(Some(tables))
            .with_ood(Some(OodConfig::new(OodMethod::Energy, [0, 0], -3.0)));
        let logits = [1.0, 0.0, 0.0, 0.0, 1.2, 0.0, 0.0];
        let photo = answer(&config, logits.to_vec(), &[], None).unwrap();
        assert_eq!(photo.top, 4);
        assert_eq!(
            photo.clone().with_patient(&config, &Patient::UNKNOWN),
            photo
        );
        let site = Patient {
            site: Some(crate::patient::Site::Ear),
            ..Patient::UNKNOWN
        };
        let fused = photo.clone().with_patient(&config, &site);
        assert_eq!((fused.top, fused.runner_up), (6, 4));
        let expected = softmax(&[1.0, 0.0, 0.0, 0.0, 1.2, 0.0, 3.0]);
        assert_eq!(fused.probabilities, expected);
        assert!(!fused.unsure);
        assert_eq!(
            (fused.ood_score, fused.out_of_distribution),
            (photo.ood_score, photo.out_of_distribution)
        );
    }

    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax_except(&[5.0, 3.0, 3.0], 0), 1);
        assert_eq!(argmax_except(&[1.0, 3.0, 3.0], 1), 2);
    }
}
