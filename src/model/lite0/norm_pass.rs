//! A batch norm outside training and what follows it (ReLU6, or the block's input added back)
//! in one pass over the activations, on the CPU, wherever nothing needs the gradient.
//!
//! burn computes a norm and what follows as several passes over the activations, each writing
//! a new tensor. Folded into the convolutions ([`super::Lite0::with_norms_folded`]),
//! `relu6(x + shift)` is three (the addition, then ReLU6's two clamps natively): 12% of a
//! photo's 8 views natively. On its running statistics (training's frozen blocks), a norm is
//! four more (burn's `batch_norm`: subtract the mean, divide by `sqrt(var + eps)`, multiply by
//! `gamma`, add `beta`). Here the activations are changed in place, each number by the same
//! operations in the same order (ReLU6 as [`relu6_of`] computes it), so the results are
//! burn's to the bit (tests). In Chromium a worker's 4 views took 8% less, and a training step
//! less (docs/throughput.md).

use burn::nn::BatchNorm;
use burn::prelude::*;
#[cfg(not(target_family = "wasm"))]
use rayon::prelude::*;

use super::relu6::{relu6, relu6_of};
use super::untracked::{plain, untracked};

/// What follows a norm. (Made for one call each: its size does not matter.)
#[allow(clippy::large_enum_variant)]
pub(super) enum Then {
    Relu6,
    /// Nothing: a projection without its block's input (a block that changes shape).
    Nothing,
    /// The block's input added back (`x + input`).
    Add(Tensor<4>),
}

impl Then {
    /// `then` on `x` by burn's operations.
    pub(super) fn by_burn(self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Relu6 => relu6(x),
            Self::Nothing => x,
            Self::Add(input) => x + input,
        }
    }
}

/// A folded norm, `x + shift` (per channel), then `then`: in one pass where [`in_one_pass`]
/// can, by burn otherwise.
pub(super) fn shifted(x: Tensor<4>, shift: Tensor<1>, then: Then) -> Tensor<4> {
    let channels = x.dims()[1];
    // `fits` first: reading a GPU's tensor back is slow natively and impossible in the browser
    match fits(&x, &then).then(|| floats([shift.clone()], channels)) {
        Some(Some([shift])) => in_one_pass(x, then, |c| {
            let s = shift[c];
            move |v| v + s
        }),
        _ => then.by_burn(x + shift.reshape([1, channels, 1, 1])),
    }
}

/// `bn` on its running statistics, as burn's `batch_norm` computes it, then `then`: in one
/// pass where [`in_one_pass`] can, by burn otherwise. For a norm that does not learn on `x`'s
/// device (burn's own `BatchNorm::forward` otherwise).
pub(super) fn normalised(bn: &BatchNorm, x: Tensor<4>, then: Then) -> Tensor<4> {
    let channels = x.dims()[1];
    let statistics = || {
        // burn's own operations on the channels' statistics: the very divisors its
        // `batch_norm` computes
        let std = (bn.running_var.value() + bn.epsilon).sqrt();
        let statistics = [bn.running_mean.value(), std, bn.gamma.val(), bn.beta.val()];
        floats(statistics, channels)
    };
    // `fits` first: reading a GPU's tensor back is slow natively and impossible in the browser
    match fits(&x, &then).then(statistics) {
        Some(Some([mean, std, gamma, beta])) => in_one_pass(x, then, |c| {
            let (m, d, g, b) = (mean[c], std[c], gamma[c], beta[c]);
            move |v| ((v - m) / d) * g + b
        }),
        _ => then.by_burn(bn.forward(x)),
    }
}

/// Whether [`in_one_pass`] may compute on `x` (and the input `then` adds): plain f32 on the
/// CPU, outside any training graph.
fn fits(x: &Tensor<4>, then: &Then) -> bool {
    plain(x)
        && match then {
            Then::Add(input) => plain(input) && input.dims() == x.dims(),
            _ => true,
        }
}

/// Each tensor's numbers, when all are `channels` f32s and none is trained (a norm's `gamma`
/// may be, on a norm that does not update its statistics).
fn floats<const N: usize>(tensors: [Tensor<1>; N], channels: usize) -> Option<[Vec<f32>; N]> {
    let fit = |t: &Tensor<1>| plain(t) && t.dims() == [channels] && !t.is_require_grad();
    if !tensors.iter().all(fit) {
        return None;
    }
    let values = tensors.map(|t| untracked(t).into_data().try_into_vec::<f32>());
    values
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .ok()?
        .try_into()
        .ok()
}

/// `norm(c)` on each number of channel `c` of `x` (which [`fits`]), then `then`, in place.
fn in_one_pass<F: Fn(f32) -> f32>(
    x: Tensor<4>,
    then: Then,
    norm: impl Fn(usize) -> F + Sync + Send,
) -> Tensor<4> {
    let [_, channels, height, width] = x.dims();
    let autodiff = x.is_autodiff();
    let x = untracked(x);
    let device = x.device();
    let mut data = x.into_data();
    let values = data.as_mut_slice::<f32>().expect("f32, checked");
    let plane = (height * width).max(1);
    match then {
        Then::Relu6 => each_plane(values, plane, |i, p| {
            let f = norm(i % channels);
            p.iter_mut().for_each(|v| *v = relu6_of(f(*v)));
        }),
        Then::Nothing => each_plane(values, plane, |i, p| {
            let f = norm(i % channels);
            p.iter_mut().for_each(|v| *v = f(*v));
        }),
        Then::Add(input) => {
            let input = untracked(input).into_data();
            let input = input.as_slice::<f32>().expect("f32, checked");
            each_plane(values, plane, |i, p| {
                let (f, q) = (norm(i % channels), &input[i * plane..][..plane]);
                p.iter_mut().zip(q).for_each(|(v, &q)| *v = f(*v) + q);
            });
        }
    }
    let out = Tensor::from_data(data, &device);
    if autodiff {
        Tensor::from_inner(out)
    } else {
        out
    }
}

/// `f(i, plane i)` for each plane of `values`: on rayon's threads natively (the browser's
/// module has one).
fn each_plane(values: &mut [f32], plane: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    #[cfg(not(target_family = "wasm"))]
    values
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(i, p)| f(i, p));
    #[cfg(target_family = "wasm")]
    values
        .chunks_mut(plane)
        .enumerate()
        .for_each(|(i, p)| f(i, p));
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    fn bits(t: Tensor<4>) -> Vec<u32> {
        let values = untracked(t).into_data().try_into_vec::<f32>().unwrap();
        values.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn one_pass_answers_as_burns_passes_to_the_bit() {
        let device = Device::flex();
        let dims = [3, 5, 4, 6];
        let x = Tensor::<4>::random(dims, Distribution::Normal(2.0, 4.0), &device);
        // zeros of both signs (`-0.0 + -0.0` stays `-0.0` in the last channel), and the
        // bounds themselves
        let x = x
            .slice_fill([0..1, 4..5, 0..1, 0..2], -0.0)
            .slice_fill([0..1, 0..1, 0..1, 0..2], -0.0)
            .slice_fill([1..2, 1..2, 0..1, 0..2], 6.0)
            .slice_fill([2..3, 2..3, 0..1, 0..2], 0.0);
        let shift = Tensor::<1>::from_floats([0.0, -1.5, 0.25, 3.0, -0.0], &device);
        let input = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &device);
        let by_burn = |then: Then| then.by_burn(x.clone() + shift.clone().reshape([1, 5, 1, 1]));
        let cases = [
            (Then::Relu6, Then::Relu6),
            (Then::Nothing, Then::Nothing),
            (Then::Add(input.clone()), Then::Add(input)),
        ];
        for (ours, burns) in cases {
            let ours = shifted(x.clone(), shift.clone(), ours);
            assert_eq!(bits(ours), bits(by_burn(burns)));
        }
    }

    /// A norm on `device` with statistics far from the identity, frozen as training's first
    /// blocks are.
    fn norm(channels: usize, device: &Device) -> BatchNorm {
        let random = |mean, spread| {
            let d = Distribution::Normal(mean, spread);
            Tensor::<1>::random([channels], d, device)
        };
        let mut bn = burn::nn::BatchNormConfig::new(channels)
            .with_epsilon(1e-3)
            .init(device);
        bn.gamma = bn.gamma.map(|_| random(1.0, 0.5));
        bn.beta = bn.beta.map(|_| random(0.0, 2.0));
        bn.running_mean = burn::module::RunningState::new(random(0.5, 1.0));
        bn.running_var = burn::module::RunningState::new(random(2.0, 1.0).abs());
        bn.freeze()
    }

    /// Activations with zeros of both signs, the bounds of ReLU6 and huge values among them.
    fn activations(dims: [usize; 4], device: &Device) -> Tensor<4> {
        Tensor::<4>::random(dims, Distribution::Normal(0.5, 3.0), device)
            .slice_fill([0..1, 0..1, 0..1, 0..2], -0.0)
            .slice_fill([0..1, 1..2, 0..1, 0..2], 0.0)
            .slice_fill([1..2, 1..2, 1..2, 0..2], 6.0)
            .slice_fill([1..2, 2..3, 1..2, 0..2], 1e30)
    }

    #[test]
    fn a_norm_on_its_statistics_answers_as_burns_passes_to_the_bit() {
        let device = Device::flex();
        let dims = [2, 7, 5, 3];
        let (bn, x) = (norm(7, &device), activations(dims, &device));
        let input = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &device);
        let cases = [
            (Then::Relu6, Then::Relu6),
            (Then::Nothing, Then::Nothing),
            (Then::Add(input.clone()), Then::Add(input)),
        ];
        for (ours, burns) in cases {
            let by_burn = burns.by_burn(bn.forward(x.clone()));
            assert_eq!(bits(normalised(&bn, x.clone(), ours)), bits(by_burn));
        }
    }

    /// Training's frozen blocks: untracked tensors on the training device, computed here and
    /// handed back on that device, outside the graph.
    #[cfg(not(target_family = "wasm"))]
    #[test]
    fn frozen_norms_in_training_answer_as_burns_passes_to_the_bit() {
        let device = Device::flex().autodiff();
        let bn = norm(4, &device);
        let x = activations([2, 4, 6, 6], &device);
        let input = Tensor::<4>::random([2, 4, 6, 6], Distribution::Default, &device);
        let ours = normalised(&bn, x.clone(), Then::Add(input.clone()));
        assert!(ours.is_autodiff() && !ours.is_tracked());
        let burns = Then::Relu6.by_burn(bn.forward(x.clone()) + input);
        assert_eq!(bits(Then::Relu6.by_burn(ours)), bits(burns));
        let ours = normalised(&bn, x.clone(), Then::Relu6);
        assert_eq!(bits(ours), bits(Then::Relu6.by_burn(bn.forward(x))));
    }

    #[cfg(not(target_family = "wasm"))]
    #[test]
    fn tensors_in_a_graph_take_burns_passes() {
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::random([1, 2, 3, 3], Distribution::Default, &device).require_grad();
        let shift = Tensor::<1>::from_floats([1.0, -1.0], &device);
        assert!(shifted(x.clone(), shift, Then::Relu6).is_tracked());
        assert!(normalised(&norm(2, &device), x, Then::Relu6).is_tracked());
        // a norm on its statistics whose scale is trained: the scale's gradient needs burn's
        let mut bn = norm(2, &device);
        bn.gamma = bn.gamma.set_require_grad(true);
        let x = Tensor::<4>::random([1, 2, 3, 3], Distribution::Default, &device);
        assert!(normalised(&bn, x, Then::Relu6).is_tracked());
    }
}
