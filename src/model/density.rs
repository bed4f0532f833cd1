//! How dense the training photos' features are around a new photo's: the out-of-distribution
//! score.
//!
//! Why: the classifier answers one of its classes for any picture, a cat's included, and its
//! top probability is as high on such pictures as on real dermatoscopy photos. The pooled
//! features that feed the head say more: a picture unlike anything in training lands far from
//! every class's mean. The distance used is Mahalanobis's under one covariance shared by the
//! classes (Lee et al., NeurIPS 2018), fitted on the training split and stored with the weights
//! as a whitening matrix `W`, the whitened class means `W μ_c` and one scale per class `s_c`,
//! so that the score is `min_c |W f - W μ_c|² / s_c`. The shared covariance is mostly the
//! common nevi's, so rare classes spread further under it; scaling each class's distance by
//! its own training photos' typical distance keeps real vascular lesions and dermatofibromas
//! from being refused for being rare (all scales 1 is the plain distance).

use burn::module::Param;
use burn::prelude::*;

/// The stored density: tensors, so they travel in `model.bpk` with the network.
#[derive(Module, Debug)]
pub struct FeatureDensity {
    /// `[width, width]`: rows map a feature vector to whitened coordinates.
    whitening: Param<Tensor<2>>,
    /// `[classes, width]`: each class's mean feature vector, whitened.
    centres: Param<Tensor<2>>,
    /// `[classes]`: each class's squared distance is divided by its scale.
    scales: Param<Tensor<1>>,
}

impl FeatureDensity {
    /// Placeholders of the right shapes, for loading stored values into.
    pub fn zeros(classes: usize, width: usize, device: &Device) -> Self {
        Mahalanobis::new(
            vec![0.0; width * width],
            vec![0.0; classes * width],
            vec![1.0; classes],
            width,
        )
        .to_module(device)
    }

    /// The same density with its whitening matrix replaced by `f` of it: how the shipped
    /// storage rounds it to 8 bits (`weights::Storage::Q8`) without this module knowing how.
    pub fn map_whitening(self, f: impl FnOnce(Tensor<2>) -> Tensor<2>) -> Self {
        Self {
            whitening: self.whitening.map(f),
            ..self
        }
    }

    /// A CPU copy for scoring single photos. Reads the tensors back synchronously, so call it
    /// on a model loaded on the CPU.
    pub fn to_scorer(&self) -> Mahalanobis {
        let values = |t: Tensor<1>| t.into_data().try_into_vec_as::<f32>().expect("f32 tensor");
        let [width, _] = self.whitening.val().dims();
        let scales = values(self.scales.val());
        Mahalanobis {
            width,
            whitening: values(self.whitening.val().flatten(0, 1)),
            centres: values(self.centres.val().flatten(0, 1)),
            scales,
        }
    }
}

/// The scaled Mahalanobis distance to the nearest class mean, computed on the CPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Mahalanobis {
    width: usize,
    whitening: Vec<f32>,
    centres: Vec<f32>,
    scales: Vec<f32>,
}

impl Mahalanobis {
    /// From row-major `whitening` (`width` x `width`), whitened class means (one row of
    /// `width` per class) and the classes' scales.
    pub fn new(whitening: Vec<f32>, centres: Vec<f32>, scales: Vec<f32>, width: usize) -> Self {
        assert_eq!(whitening.len(), width * width, "whitening is width x width");
        assert_eq!(centres.len(), scales.len() * width, "one centre per class");
        Self {
            width,
            whitening,
            centres,
            scales,
        }
    }

    /// Feature vectors this scorer takes.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The classes it has a centre for.
    pub fn classes(&self) -> usize {
        self.scales.len()
    }

    /// The same density with other scales.
    pub fn with_scales(self, scales: Vec<f32>) -> Self {
        assert_eq!(scales.len(), self.scales.len(), "one scale per class");
        Self { scales, ..self }
    }

    /// `|W f - W μ_c|²` for every class.
    pub fn distances(&self, features: &[f32]) -> Vec<f64> {
        assert_eq!(
            features.len(),
            self.width,
            "feature vector of the wrong width"
        );
        let whitened: Vec<f64> = self
            .whitening
            .chunks_exact(self.width)
            .map(|row| {
                row.iter()
                    .zip(features)
                    .map(|(w, f)| f64::from(w * f))
                    .sum()
            })
            .collect();
        let mut out = vec![0.0; self.scales.len()];
        for (d, centre) in out.iter_mut().zip(self.centres.chunks_exact(self.width)) {
            *d = whitened
                .iter()
                .zip(centre)
                .map(|(z, c)| (z - f64::from(*c)).powi(2))
                .sum();
        }
        out
    }

    /// `min_c |W f - W μ_c|² / s_c` for a feature vector `f`.
    pub fn score(&self, features: &[f32]) -> f32 {
        let distances = self.distances(features);
        distances
            .iter()
            .zip(&self.scales)
            .map(|(d, s)| d / f64::from(*s))
            .fold(f64::INFINITY, f64::min) as f32
    }

    /// The stored form, for saving with the weights.
    pub fn to_module(&self, device: &Device) -> FeatureDensity {
        let matrix = |values: &[f32], rows: usize| {
            let data = TensorData::new(values.to_vec(), [rows, self.width]);
            Param::from_tensor(Tensor::<2>::from_data(data, device)).set_require_grad(false)
        };
        let scales = TensorData::new(self.scales.clone(), [self.scales.len()]);
        FeatureDensity {
            whitening: matrix(&self.whitening, self.width),
            centres: matrix(&self.centres, self.scales.len()),
            scales: Param::from_tensor(Tensor::<1>::from_data(scales, device))
                .set_require_grad(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSES: usize = 7;
    const ONES: [f32; CLASSES] = [1.0; CLASSES];

    #[test]
    fn the_identity_whitening_gives_the_squared_distance_to_the_nearest_centre() {
        let width = 2;
        let mut centres = vec![100.0; CLASSES * width];
        centres[..2].copy_from_slice(&[1.0, 1.0]);
        centres[2..4].copy_from_slice(&[-3.0, 0.0]);
        let scorer = Mahalanobis::new(vec![1.0, 0.0, 0.0, 1.0], centres, ONES.to_vec(), width);
        assert!((scorer.score(&[1.0, 2.0]) - 1.0).abs() < 1e-6);
        assert!((scorer.score(&[-3.0, 0.5]) - 0.25).abs() < 1e-6);
    }

    #[test]
    fn a_scale_in_the_whitening_scales_the_distance() {
        let width = 2;
        let scorer = Mahalanobis::new(
            vec![2.0, 0.0, 0.0, 0.5],
            vec![0.0; CLASSES * width],
            ONES.to_vec(),
            width,
        );
        // Whitened (2 * 1, 0.5 * 4) = (2, 2): 8.
        assert!((scorer.score(&[1.0, 4.0]) - 8.0).abs() < 1e-6);
    }

    #[test]
    fn a_class_scale_divides_that_class_distance() {
        let width = 1;
        let mut centres = vec![1000.0; CLASSES];
        centres[0] = 0.0;
        centres[1] = 10.0;
        let mut scales = ONES;
        scales[1] = 4.0;
        let scorer = Mahalanobis::new(vec![1.0], centres, scales.to_vec(), width);
        // 6 is 36 from class 0 and 16 from class 1, which counts as 16 / 4 = 4.
        assert!((scorer.score(&[6.0]) - 4.0).abs() < 1e-6);
        assert_eq!(scorer.distances(&[6.0])[..2], [36.0, 16.0]);
    }

    #[test]
    fn the_stored_tensors_give_back_the_same_scorer() {
        let width = 3;
        let whitening: Vec<f32> = (0..9).map(|i| i as f32 * 0.5 - 1.0).collect();
        let centres: Vec<f32> = (0..CLASSES * width).map(|i| i as f32).collect();
        let scales = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let scorer = Mahalanobis::new(whitening, centres, scales.to_vec(), width);
        assert_eq!(scorer.to_module(&Device::flex()).to_scorer(), scorer);
    }
}
