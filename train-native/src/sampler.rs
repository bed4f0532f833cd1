//! Class-balanced epochs for HAM10000's 58:1 imbalance.
//!
//! Each epoch draws class c about `n * count_c^p / sum(count^p)` times (cycling through a fresh
//! shuffle of its images, so nevi are not repeated while rare classes are), and the loss weighs
//! class c by `1 / draws_c`. In expectation every class then contributes equally, as balanced
//! accuracy assumes, while `p` trades repetition of rare images (p → 0) against noisy loss
//! weights (p → 1).

use rand::Rng;
use rand::seq::SliceRandom;

/// Draws epochs from the training images.
pub struct Sampler {
    by_class: Vec<Vec<usize>>,
    power: f64,
}

/// One epoch's draw.
pub struct Epoch {
    /// Record indices in training order.
    pub order: Vec<usize>,
    /// Loss weight of each class (mean over the epoch's samples is 1).
    pub class_weights: Vec<f32>,
}

impl Sampler {
    /// `items` are `(record index, class)` pairs of the training split.
    pub fn new(
        items: impl IntoIterator<Item = (usize, usize)>,
        classes: usize,
        power: f64,
    ) -> Self {
        let mut by_class = vec![Vec::new(); classes];
        for (i, c) in items {
            by_class[c].push(i);
        }
        Self { by_class, power }
    }

    /// How many images of each class an epoch of `n` draws.
    pub fn draws(&self, n: usize) -> Vec<usize> {
        let mass: Vec<f64> = self
            .by_class
            .iter()
            .map(|v| {
                if v.is_empty() {
                    0.0
                } else {
                    (v.len() as f64).powf(self.power)
                }
            })
            .collect();
        let total: f64 = mass.iter().sum();
        mass.iter()
            .map(|m| {
                if *m == 0.0 {
                    0
                } else {
                    ((n as f64 * m / total).round() as usize).max(1)
                }
            })
            .collect()
    }

    /// Draw an epoch of about `n` images.
    pub fn epoch(&self, n: usize, rng: &mut impl Rng) -> Epoch {
        let draws = self.draws(n);
        let drawn: usize = draws.iter().sum();
        let present = draws.iter().filter(|d| **d > 0).count().max(1);
        let mut order = Vec::with_capacity(drawn);
        for (images, &k) in self.by_class.iter().zip(&draws) {
            let mut pool = Vec::new();
            while pool.len() < k {
                let mut round = images.clone();
                round.shuffle(rng);
                pool.extend(round);
            }
            order.extend_from_slice(&pool[..k]);
        }
        order.shuffle(rng);
        let class_weights = draws
            .iter()
            .map(|&k| {
                if k == 0 {
                    1.0
                } else {
                    drawn as f32 / (present as f32 * k as f32)
                }
            })
            .collect();
        Epoch {
            order,
            class_weights,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn sampler(power: f64) -> Sampler {
        // 900 of class 0, 100 of class 1, none of class 2.
        Sampler::new((0..1000).map(|i| (i, usize::from(i >= 900))), 3, power)
    }

    #[test]
    fn power_sets_the_class_mix() {
        assert_eq!(sampler(1.0).draws(1000), vec![900, 100, 0]);
        assert_eq!(sampler(0.0).draws(1000), vec![500, 500, 0]);
        assert_eq!(sampler(0.5).draws(1000), vec![750, 250, 0]);
    }

    #[test]
    fn classes_contribute_equally_to_the_loss() {
        let epoch = sampler(0.5).epoch(1000, &mut ChaCha8Rng::seed_from_u64(3));
        let mut mass = [0.0f32; 3];
        for &i in &epoch.order {
            let c = usize::from(i >= 900);
            mass[c] += epoch.class_weights[c];
        }
        assert!((mass[0] - mass[1]).abs() < 0.05, "{mass:?}");
        assert!((mass[0] + mass[1] - 1000.0).abs() < 1e-2);
    }

    #[test]
    fn common_images_are_not_repeated_within_an_epoch() {
        let epoch = sampler(0.5).epoch(1000, &mut ChaCha8Rng::seed_from_u64(4));
        let mut common: Vec<usize> = epoch.order.iter().copied().filter(|&i| i < 900).collect();
        let n = common.len();
        common.sort();
        common.dedup();
        assert_eq!(common.len(), n);
        // The rare class is cycled: each of its 100 images appears 2 or 3 times for 250 draws.
        let rare = epoch.order.iter().filter(|&&i| i >= 900).count();
        assert_eq!(rare, 250);
    }
}
