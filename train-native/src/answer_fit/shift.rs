//! A temperature for other cameras too: fitted on the validation photos as they are and on
//! copies of them under the robustness suite's corruptions together (Tomani et al. 2021), for
//! photos from other clinics' cameras, which a temperature fitted on clean photos cannot see
//! (Ovadia et al. 2019). A study, not the shipped fit: measured on run D at every view
//! (`--example calibration_shift`, docs/experiments.md), each corruption's own best
//! temperature lay near the clean photos' and the pooled fit did not lower the calibration
//! error of corruptions left out of it, so `train` keeps the clean fit.

use std::mem::discriminant;

use anyhow::Result;
use skin_lesion::Classifier;

use super::temperature::{self, Weighted};
use crate::data::Dataset;
use crate::data::corrupt::{Corruption, suite};
use crate::robustness;

/// How many validation photos (a fixed sample) the corrupted copies are made of: twelve
/// corruptions of 400 photos at every view take about as long as two passes over the whole
/// validation split, and the one number they fit is known well from 4,800 answers.
pub const SHIFTED_PHOTOS: usize = 400;

/// The seed of the sample's draw.
const SHIFTED_SEED: u64 = 23;

/// The share of a pooled fit's weight on the photos as they are; the rest is shared evenly
/// by the corruptions.
pub const CLEAN_WEIGHT: f64 = 0.5;

/// The fixed sample of validation photos under each corruption of the suite: each one's
/// logits at the classifier's every view (decision offsets in, no temperature).
pub struct Shifted {
    pub labels: Vec<usize>,
    pub conditions: Vec<(Corruption, Vec<Vec<f32>>)>,
}

impl Shifted {
    /// Score the sample of `val` (indices into `dataset`) under every corruption.
    pub fn measure(classifier: &Classifier, dataset: &Dataset, val: &[usize]) -> Result<Self> {
        let sample = robustness::fixed_sample(val, SHIFTED_PHOTOS, SHIFTED_SEED);
        let photos = robustness::decode_all(dataset, &sample)?;
        let conditions = suite()
            .into_iter()
            .map(|(_, corruption)| {
                let answers = robustness::answers_under(classifier, &photos, Some(&corruption))?;
                Ok((corruption, answers.into_iter().map(|a| a.logits).collect()))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            labels: dataset.labels(&sample),
            conditions,
        })
    }

    /// The temperature with [`CLEAN_WEIGHT`] of its fit on `clean` (logits and labels) and
    /// the rest shared by the corruptions, leaving out those of `without`'s family (the same
    /// kind of corruption at any strength: a fit that has not seen that camera fault).
    pub fn temperature(
        &self,
        (logits, labels): (&[Vec<f32>], &[usize]),
        without: Option<&Corruption>,
    ) -> f32 {
        let kept: Vec<&Vec<Vec<f32>>> = self
            .conditions
            .iter()
            .filter(|(c, _)| without.is_none_or(|w| discriminant(w) != discriminant(c)))
            .map(|(_, logits)| logits)
            .collect();
        let share = (1.0 - CLEAN_WEIGHT) / kept.len().max(1) as f64;
        let mut groups = vec![Weighted {
            logits,
            labels,
            weight: CLEAN_WEIGHT,
        }];
        groups.extend(kept.into_iter().map(|logits| Weighted {
            logits,
            labels: &self.labels,
            weight: share,
        }));
        temperature::fit_pooled(&groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits that put `margin` on the right class of 7 for every photo but each third.
    fn logits(margin: f32, n: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
        let labels: Vec<usize> = (0..n).map(|i| i % 7).collect();
        let logits = labels
            .iter()
            .enumerate()
            .map(|(i, &y)| {
                let top = if i % 3 == 0 { (y + 1) % 7 } else { y };
                (0..7)
                    .map(|k| if k == top { margin } else { 0.0 })
                    .collect()
            })
            .collect();
        (logits, labels)
    }

    #[test]
    fn the_pooled_temperature_leaves_out_a_whole_family_and_only_it() {
        let (clean, labels) = logits(2.0, 70);
        // Blur's copies far too sure: alone they would pull the temperature up.
        let (sharp, _) = logits(8.0, 70);
        let (plain, _) = logits(2.0, 70);
        let shifted = Shifted {
            labels: labels.clone(),
            conditions: vec![
                (Corruption::Blur { s: 0.004 }, sharp.clone()),
                (Corruption::Blur { s: 0.008 }, sharp),
                (Corruption::Jpeg { quality: 30 }, plain),
            ],
        };
        let clean_only = temperature::fit(&clean, &labels);
        let all = shifted.temperature((&clean, &labels), None);
        let without_blur =
            shifted.temperature((&clean, &labels), Some(&Corruption::Blur { s: 0.1 }));
        let without_jpeg =
            shifted.temperature((&clean, &labels), Some(&Corruption::Jpeg { quality: 90 }));
        assert!(all > clean_only * 1.1, "{clean_only} {all}");
        // Without blur, every photo left is like the clean ones.
        assert!(
            (without_blur - clean_only).abs() < 1e-3,
            "{clean_only} {without_blur}"
        );
        // Without JPEG, the blurred copies weigh more.
        assert!(without_jpeg > all, "{all} {without_jpeg}");
    }
}
