//! A folded norm's shift and what follows it (ReLU6, or the block's input added back) in one
//! pass over the activations, on the CPU outside training.
//!
//! With the norms folded into the convolutions ([`super::Lite0::with_norms_folded`]) each norm
//! is an addition of its shift per channel, and burn computes `relu6(x + shift)` as three
//! passes over the activations (the addition, then ReLU6's two clamps natively), each writing
//! a new tensor; a profile of one photo's 8 views natively put 12% of the time in those
//! passes. Here the activations are changed in place, each number by the same operations in
//! the same order (the addition, then ReLU6 as [`relu6_of`] computes it), so the answers are
//! burn's to the bit (a test). In Chromium a worker's 4 views took 8% less
//! (docs/throughput.md).

use burn::prelude::*;
use burn::tensor::DType;
#[cfg(not(target_family = "wasm"))]
use rayon::prelude::*;

use super::relu6::{relu6, relu6_of};

/// What follows a norm's shift. (Made for one call each: its size does not matter.)
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

/// `x + shift` (per channel), then `then`: in one pass where nothing needs the gradient and
/// the tensors are plain f32 on the CPU, by burn otherwise.
pub(super) fn shifted(x: Tensor<4>, shift: Tensor<1>, then: Then) -> Tensor<4> {
    let dims @ [_, channels, height, width] = x.dims();
    let plain =
        |t: &Tensor<4>| !t.is_autodiff() && t.device() == Device::flex() && t.dtype() == DType::F32;
    let added_fits = match &then {
        Then::Add(input) => plain(input) && input.dims() == dims,
        _ => true,
    };
    if !plain(&x) || !added_fits || shift.dims() != [channels] || shift.dtype() != DType::F32 {
        return then.by_burn(x + shift.reshape([1, channels, 1, 1]));
    }
    let device = x.device();
    let shift = shift
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32, checked");
    let mut data = x.into_data();
    let values = data.as_mut_slice::<f32>().expect("f32, checked");
    let plane = (height * width).max(1);
    let shift_of = |i: usize| shift[i % channels];
    match then {
        Then::Relu6 => each_plane(values, plane, |i, p| {
            let s = shift_of(i);
            p.iter_mut().for_each(|v| *v = relu6_of(*v + s));
        }),
        Then::Nothing => each_plane(values, plane, |i, p| {
            let s = shift_of(i);
            p.iter_mut().for_each(|v| *v += s);
        }),
        Then::Add(input) => {
            let input = input.into_data();
            let input = input.as_slice::<f32>().expect("f32, checked");
            each_plane(values, plane, |i, p| {
                let (s, q) = (shift_of(i), &input[i * plane..][..plane]);
                p.iter_mut().zip(q).for_each(|(v, &q)| *v = (*v + s) + q);
            });
        }
    }
    Tensor::from_data(data, &device)
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
        let values = t.into_data().try_into_vec::<f32>().unwrap();
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

    #[cfg(not(target_family = "wasm"))]
    #[test]
    fn tensors_in_a_graph_take_burns_passes() {
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::random([1, 2, 3, 3], Distribution::Default, &device).require_grad();
        let shift = Tensor::<1>::from_floats([1.0, -1.0], &device);
        assert!(shifted(x, shift, Then::Relu6).is_tracked());
    }
}
