//! The candidate out-of-distribution scores and their figures on validation and the dev
//! pictures: each fitted on the training photos' features, compared by [`super::ood_rule`].

use skin_lesion::answer::{OodMethod, energy};
use skin_lesion::metrics::roc_auc;
use skin_lesion::model::density::Mahalanobis;
use skin_lesion::report::OodCandidate;
use skin_lesion::{ModelConfig, ViewSums};

use super::density;
use super::ood_choice::FLAGGED_SHARE;

/// The candidate scores, in the order of preference when no picture set decides: the
/// class-scaled distance over the middle stages first (the evidence in the README), then over
/// every stage but the last, then the plain and class-scaled distances over the head's
/// features (Lee et al.'s choice), then the energy of the logits.
pub(super) fn candidates(config: &ModelConfig) -> Vec<(OodMethod, [usize; 2])> {
    let last = config.network.stage_widths().len();
    let mut list = Vec::new();
    if last >= 3 {
        list.push((OodMethod::ClassScaledMahalanobis, [1, last - 1]));
        list.push((OodMethod::ClassScaledMahalanobis, [0, last - 1]));
    }
    list.push((OodMethod::Mahalanobis, [last - 1, last]));
    list.push((OodMethod::ClassScaledMahalanobis, [last - 1, last]));
    list.push((OodMethod::Energy, [0, 0]));
    list
}

/// One candidate score, fitted on the training features.
pub(super) struct Candidate {
    pub(super) method: OodMethod,
    pub(super) stages: [usize; 2],
    pub(super) features: std::ops::Range<usize>,
    pub(super) density: Option<Mahalanobis>,
}

/// The training photos' features the candidates are fitted on, with their labels.
pub(super) struct TrainFeatures<'a> {
    /// Every training photo at [`super::DENSITY_VIEWS`]: the density's centres and whitening.
    pub(super) density: (&'a ViewMeans, &'a [usize]),
    /// A sample of them ([`density::per_class_sample`]) at every view of the model, as
    /// validation's scores and the widget's answers are: the class scales.
    pub(super) scales: (&'a ViewMeans, &'a [usize]),
}

impl Candidate {
    pub(super) fn fit(
        method: OodMethod,
        stages: [usize; 2],
        config: &ModelConfig,
        train: &TrainFeatures,
    ) -> Self {
        let features = config.network.stage_features(stages[0], stages[1]);
        let slice = |means: &ViewMeans| -> Vec<Vec<f32>> {
            means
                .features
                .iter()
                .map(|f| f[features.clone()].to_vec())
                .collect()
        };
        let density = method.uses_density().then(|| {
            let (means, labels) = train.density;
            let plain = density::fit(
                &slice(means),
                labels,
                config.classes.len(),
                density::SHRINKAGE,
            );
            match method {
                OodMethod::ClassScaledMahalanobis => {
                    let (means, labels) = train.scales;
                    let scales = density::class_scales(&plain, &slice(means), labels);
                    plain.with_scales(scales)
                }
                _ => plain,
            }
        });
        Self {
            method,
            stages,
            features,
            density,
        }
    }

    pub(super) fn name(&self) -> String {
        match self.method {
            OodMethod::Energy => "energy of the logits".into(),
            method => {
                let [first, last] = self.stages;
                let stages = if last == first + 1 {
                    format!("stage {last}")
                } else {
                    format!("stages {}-{last}", first + 1)
                };
                format!("{} over the pooled features of {stages}", method.name())
            }
        }
    }

    pub(super) fn scores(&self, outputs: &ViewMeans) -> Vec<f32> {
        match &self.density {
            None => outputs.logits.iter().map(|l| energy(l)).collect(),
            Some(density) => outputs
                .features
                .iter()
                .map(|f| density.score(&f[self.features.clone()]))
                .collect(),
        }
    }

    /// Its figures: AUROC of dev pictures against validation photos, and the share of dev
    /// pictures and of each class's validation photos above the threshold that refuses 5% of
    /// all validation photos.
    pub(super) fn figures(
        &self,
        val: &ViewMeans,
        labels: &[usize],
        dev: &ViewMeans,
    ) -> OodCandidate {
        let classes = val.logits.first().map_or(0, Vec::len);
        let (val, dev) = (self.scores(val), self.scores(dev));
        let threshold = density::threshold(&val, FLAGGED_SHARE);
        let val_flagged_by_class = (0..classes)
            .map(|c| {
                let class: Vec<f32> = val
                    .iter()
                    .zip(labels)
                    .filter(|(_, y)| **y == c)
                    .map(|(s, _)| *s)
                    .collect();
                flagged(&class, threshold)
            })
            .collect();
        OodCandidate {
            method: self.name(),
            dev_auroc: auroc(&dev, &val),
            dev_flagged: flagged(&dev, threshold),
            val_flagged_by_class,
        }
    }
}

/// Means over the views of each photo's logits and features.
pub(super) struct ViewMeans {
    pub(super) logits: Vec<Vec<f32>>,
    pub(super) features: Vec<Vec<f32>>,
}

impl ViewMeans {
    pub(super) fn of(sums: &[ViewSums]) -> Self {
        let (logits, features) = sums.iter().map(ViewSums::means).unzip();
        Self { logits, features }
    }
}

/// AUROC of `outside` scoring above `inside`.
pub(super) fn auroc(outside: &[f32], inside: &[f32]) -> f64 {
    let scores: Vec<f32> = outside.iter().chain(inside).copied().collect();
    let positive: Vec<bool> = outside
        .iter()
        .map(|_| true)
        .chain(inside.iter().map(|_| false))
        .collect();
    roc_auc(&scores, &positive).unwrap_or(0.5)
}

pub(super) fn flagged(scores: &[f32], threshold: f32) -> f64 {
    scores.iter().filter(|&&s| s > threshold).count() as f64 / scores.len().max(1) as f64
}
