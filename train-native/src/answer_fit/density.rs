//! Fitting the feature density of the training photos ([`skin_lesion::model::density`]): class
//! means and one covariance shared by the classes, inverted through its Cholesky factor.

use crate::linalg::inverse_cholesky;
use skin_lesion::model::density::Mahalanobis;

/// How far the covariance is pulled towards a multiple of the identity (its mean variance):
/// near-constant feature channels would otherwise dominate the distance, and a shrunk
/// covariance spread the refusals of real photos more evenly over the classes (0.01 to 0.3
/// compared on validation and the dev pictures; docs/honest-answers.md).
pub const SHRINKAGE: f64 = 0.3;

/// The density of `features` (one vector per training photo) with labels `labels` among
/// `classes` classes (a class without photos gets a centre at 0).
pub fn fit(features: &[Vec<f32>], labels: &[usize], classes: usize, shrinkage: f64) -> Mahalanobis {
    let width = features[0].len();
    let mut means = vec![vec![0.0f64; width]; classes];
    let mut counts = vec![0usize; classes];
    for (f, &y) in features.iter().zip(labels) {
        counts[y] += 1;
        means[y]
            .iter_mut()
            .zip(f)
            .for_each(|(m, &v)| *m += f64::from(v));
    }
    for (mean, &n) in means.iter_mut().zip(&counts) {
        mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    }
    let mut covariance = vec![0.0f64; width * width];
    let mut centred = vec![0.0f64; width];
    for (f, &y) in features.iter().zip(labels) {
        centred
            .iter_mut()
            .zip(f.iter().zip(&means[y]))
            .for_each(|(c, (&v, m))| *c = f64::from(v) - m);
        for i in 0..width {
            let ci = centred[i];
            let row = &mut covariance[i * width..(i + 1) * width];
            row.iter_mut()
                .zip(&centred)
                .for_each(|(s, &cj)| *s += ci * cj);
        }
    }
    let n = features.len().max(2) as f64;
    covariance.iter_mut().for_each(|c| *c /= n - 1.0);
    let mean_variance = (0..width).map(|i| covariance[i * width + i]).sum::<f64>() / width as f64;
    for i in 0..width {
        for j in 0..width {
            let target = if i == j { mean_variance } else { 0.0 };
            covariance[i * width + j] =
                (1.0 - shrinkage) * covariance[i * width + j] + shrinkage * target;
        }
        covariance[i * width + i] += 1e-9 * mean_variance.max(1e-12);
    }
    let whitening = inverse_cholesky(&covariance, width);
    let rows = &whitening;
    let centres: Vec<f32> = means
        .iter()
        .flat_map(|mean| {
            (0..width).map(move |i| {
                rows[i * width..(i + 1) * width]
                    .iter()
                    .zip(mean)
                    .map(|(w, m)| w * m)
                    .sum::<f64>()
            })
        })
        .map(|v| v as f32)
        .collect();
    Mahalanobis::new(
        whitening.iter().map(|&w| w as f32).collect(),
        centres,
        vec![1.0; classes],
        width,
    )
}

/// Training photos a class needs for a scale of its own: with fewer, its mean distance is
/// noise, and it keeps 1 (the plain distance).
pub const MIN_SCALE_PHOTOS: usize = 10;

/// Each class's mean squared distance of its own training photos to its centre: the scales of
/// the class-scaled score (a class with fewer than [`MIN_SCALE_PHOTOS`] keeps 1).
pub fn class_scales(density: &Mahalanobis, features: &[Vec<f32>], labels: &[usize]) -> Vec<f32> {
    let mut sums = vec![0.0f64; density.classes()];
    let mut counts = vec![0usize; density.classes()];
    for (f, &y) in features.iter().zip(labels) {
        sums[y] += density.distances(f)[y];
        counts[y] += 1;
    }
    sums.iter()
        .zip(&counts)
        .map(|(&sum, &n)| {
            if n < MIN_SCALE_PHOTOS {
                1.0
            } else {
                (sum / n as f64) as f32
            }
        })
        .collect()
}

/// The positions in `labels` of at most `per_class` photos of each class, evenly spaced
/// through that class's photos in their order (a class with fewer gives all of them), in
/// ascending order: a sample that spans the split instead of its first lesions.
pub fn per_class_sample(labels: &[usize], per_class: usize) -> Vec<usize> {
    let classes = labels.iter().max().map_or(0, |&c| c + 1);
    let mut positions: Vec<usize> = (0..classes)
        .flat_map(|class| {
            let of_class: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
            let take = of_class.len().min(per_class);
            (0..take)
                .map(|k| of_class[k * of_class.len() / take])
                .collect::<Vec<_>>()
        })
        .collect();
    positions.sort_unstable();
    positions
}

/// The score above which `share` of `scores` lie (0.05: the 95th percentile).
pub fn threshold(scores: &[f32], share: f64) -> f32 {
    let mut sorted = scores.to_vec();
    sorted.sort_by(f32::total_cmp);
    let keep = ((1.0 - share) * sorted.len() as f64).ceil() as usize;
    sorted[keep.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A standard normal draw (Box-Muller).
    fn normal(rng: &mut impl Rng) -> f64 {
        let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    #[test]
    fn the_scale_sample_caps_each_class_and_spans_it() {
        // 250 photos of class 0, 7 of class 1, 40 of class 2, interleaved.
        let labels: Vec<usize> = (0..297)
            .map(|i| match i % 11 {
                0 if i < 77 => 1,
                1..=2 if i < 220 => 2,
                _ => 0,
            })
            .collect();
        let counts = |positions: &[usize]| {
            let mut counts = [0; 3];
            positions.iter().for_each(|&p| counts[labels[p]] += 1);
            counts
        };
        let all = counts(&(0..labels.len()).collect::<Vec<_>>());
        let sample = per_class_sample(&labels, 20);
        assert_eq!(counts(&sample), [20, all[1].min(20), 20]);
        assert!(
            sample.windows(2).all(|w| w[0] < w[1]),
            "ascending, no repeats"
        );
        // Class 0's sample reaches from its first photo into its last tenth.
        let class0: Vec<usize> = sample.iter().copied().filter(|&p| labels[p] == 0).collect();
        let last0 = (0..labels.len()).rev().find(|&i| labels[i] == 0).unwrap();
        assert_eq!(
            class0[0],
            (0..labels.len()).find(|&i| labels[i] == 0).unwrap()
        );
        assert!(*class0.last().unwrap() > last0 * 9 / 10, "{class0:?}");
        // A cap above every class takes every photo.
        assert_eq!(per_class_sample(&labels, 1000).len(), labels.len());
    }

    #[test]
    fn the_fitted_distance_is_the_mahalanobis_distance_of_the_data() {
        // Two correlated features, classes 0 and 1 apart along the first.
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let (mut features, mut labels) = (Vec::new(), Vec::new());
        for i in 0..4000 {
            let class = i % 2;
            let (a, b) = (normal(&mut rng), normal(&mut rng));
            // Covariance [[4, 2], [2, 2]]: x = 2a, y = a + b.
            features.push(vec![(2.0 * a + 10.0 * class as f64) as f32, (a + b) as f32]);
            labels.push(class);
        }
        let density = fit(&features, &labels, 7, 0.0);
        // Σ⁻¹ = [[0.5, -0.5], [-0.5, 1]]: the point (2, 0) from class 0's mean (0, 0) is 2 away.
        assert!(
            (density.score(&[2.0, 0.0]) - 2.0).abs() < 0.15,
            "{}",
            density.score(&[2.0, 0.0])
        );
        // (0, 2): 4 away from class 0, and further from class 1.
        assert!(
            (density.score(&[0.0, 2.0]) - 4.0).abs() < 0.3,
            "{}",
            density.score(&[0.0, 2.0])
        );
        assert!(density.score(&[10.0, 0.0]) < 0.2, "class 1's mean is near");
    }

    #[test]
    fn the_threshold_leaves_the_share_above_it() {
        let scores: Vec<f32> = (1..=100).map(|i| i as f32).collect();
        let t = threshold(&scores, 0.05);
        assert_eq!(t, 95.0);
        assert_eq!(scores.iter().filter(|&&s| s > t).count(), 5);
    }
}
