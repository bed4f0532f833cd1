//! Temperature scaling (Guo et al., ICML 2017): one number that divides the logits before the
//! softmax, chosen to minimise the validation negative log-likelihood. It cannot change which
//! class is on top, only how sure the answer says it is.

use skin_lesion::answer::softmax;

/// The range searched, on a log scale.
const LOWEST: f64 = 0.05;
const HIGHEST: f64 = 20.0;

/// Mean negative log-likelihood of `labels` under `softmax(logits / t)`.
pub fn nll(logits: &[Vec<f32>], labels: &[usize], t: f64) -> f64 {
    let total: f64 = logits
        .iter()
        .zip(labels)
        .map(|(l, &y)| {
            let scaled: Vec<f32> = l.iter().map(|&v| (f64::from(v) / t) as f32).collect();
            let p = softmax(&scaled);
            -f64::from(p[y].max(1e-30)).ln()
        })
        .sum();
    total / labels.len().max(1) as f64
}

/// Photos' logits and labels, and the weight their mean negative log-likelihood carries in a
/// pooled fit ([`fit_pooled`]).
pub struct Weighted<'a> {
    pub logits: &'a [Vec<f32>],
    pub labels: &'a [usize],
    pub weight: f64,
}

/// The temperature in [0.05, 20] minimising [`nll`].
pub fn fit(logits: &[Vec<f32>], labels: &[usize]) -> f32 {
    fit_pooled(&[Weighted {
        logits,
        labels,
        weight: 1.0,
    }])
}

/// The temperature in [0.05, 20] minimising the weighted sum of each group's [`nll`]:
/// golden-section search on log t (each group's NLL is unimodal in t, and so is a positive
/// sum of them).
pub fn fit_pooled(groups: &[Weighted]) -> f32 {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (LOWEST.ln(), HIGHEST.ln());
    let f = |x: f64| {
        groups
            .iter()
            .map(|g| g.weight * nll(g.logits, g.labels, x.exp()))
            .sum::<f64>()
    };
    let (mut c, mut d) = (b - ratio * (b - a), a + ratio * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..60 {
        if fc < fd {
            (b, d, fd) = (d, c, fc);
            c = b - ratio * (b - a);
            fc = f(c);
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + ratio * (b - a);
            fd = f(d);
        }
    }
    ((a + b) / 2.0).exp() as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const NUM_CLASSES: usize = 7;

    /// Logits of a model that is right 70% of the time, scaled by `sharpness`.
    fn overconfident(sharpness: f32) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let (mut logits, mut labels) = (Vec::new(), Vec::new());
        for i in 0..2000 {
            let label = i % NUM_CLASSES;
            let top = if rng.random_bool(0.7) {
                label
            } else {
                (label + 1) % NUM_CLASSES
            };
            let mut l = [0.0f32; NUM_CLASSES];
            for v in l.iter_mut() {
                *v = rng.random_range(-0.5..0.5);
            }
            l[top] += 2.0;
            logits.push(l.iter().map(|v| v * sharpness).collect());
            labels.push(label);
        }
        (logits, labels)
    }

    #[test]
    fn it_undoes_a_known_overconfidence() {
        let (calibrated, labels) = overconfident(1.0);
        let t1 = fit(&calibrated, &labels);
        let (sharp, _) = overconfident(3.0);
        let t3 = fit(&sharp, &labels);
        // Logits three times too sharp need a temperature three times as high.
        assert!((t3 / t1 - 3.0).abs() < 0.05, "{t1} then {t3}");
        assert!(nll(&sharp, &labels, f64::from(t3)) < nll(&sharp, &labels, 1.0));
    }

    #[test]
    fn it_never_leaves_the_searched_range() {
        // All right by a small margin: sharper is always better, down to the lowest t.
        let logits = vec![vec![0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]; 10];
        let t = fit(&logits, &[0; 10]);
        assert!((0.05..0.06).contains(&t), "{t}");
        // All wrong: flatter is always better, up to the highest.
        let t = fit(&logits, &[1; 10]);
        assert!((19.0..=20.0).contains(&t), "{t}");
    }

    #[test]
    fn a_pooled_fit_lands_between_its_groups_by_their_weights() {
        let (calibrated, labels) = overconfident(1.0);
        let (sharp, _) = overconfident(3.0);
        let (t1, t3) = (fit(&calibrated, &labels), fit(&sharp, &labels));
        let pooled = |w1: f64, w3: f64| {
            fit_pooled(&[
                Weighted {
                    logits: &calibrated,
                    labels: &labels,
                    weight: w1,
                },
                Weighted {
                    logits: &sharp,
                    labels: &labels,
                    weight: w3,
                },
            ])
        };
        let (even, mostly_sharp) = (pooled(0.5, 0.5), pooled(0.1, 0.9));
        assert!(
            t1 < even && even < mostly_sharp && mostly_sharp < t3,
            "{t1} {even} {mostly_sharp} {t3}"
        );
        // One group at full weight is that group's own fit.
        assert_eq!(pooled(1.0, 0.0), t1);
    }
}
