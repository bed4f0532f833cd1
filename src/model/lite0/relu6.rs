//! ReLU6, `min(max(x, 0), 6)`, computed where each path runs it fastest, with the same values
//! and, in training, the same gradients as burn's `clamp(0, 6)`.

use burn::prelude::*;

/// ReLU6 in the browser modules: burn's [`burn::tensor::activation::relu6`] (`clamp(0, 6)`).
/// The native split below gained nothing in Chromium, and the browser never trains.
#[cfg(target_family = "wasm")]
pub(super) fn relu6(x: Tensor<4>) -> Tensor<4> {
    burn::tensor::activation::relu6(x)
}

/// ReLU6 natively, for every pass of the network.
///
/// - Outside training: the two one-sided clamps. flex's `clamp` runs `f32::clamp`,
///   whose bounds check keeps the loop from vectorising: 3.8 ms against 0.9 + 0.9 for the two
///   clamps on 3.1M activations, a seventh of a photo's time (docs/throughput.md).
/// - In training (an autodiff device): burn's autodiff has no clamp of its own, so `clamp` became
///   two comparisons and two `mask_fill`s forward and two `mask_fill`s backward, and flex's
///   `mask_fill` on a tensor it owns is a loop with a branch per number, unpredictable on
///   activations: 11.8% of a `train` epoch in a profile. Untracked tensors (the frozen
///   blocks) take the clamps on flex directly; tracked ones are [`tracked`].
///
/// The one value that differs from `clamp(0, 6)` is the sign of a zero, which no later
/// operation of the network or its optimiser can see.
#[cfg(not(target_family = "wasm"))]
pub(super) fn relu6(x: Tensor<4>) -> Tensor<4> {
    if !x.is_autodiff() {
        clamped(x)
    } else if !x.is_tracked() {
        Tensor::from_inner(clamped(x.inner()))
    } else {
        tracked(x)
    }
}

/// ReLU6 of one number as [`relu6`] computes it outside training in the browser's modules:
/// flex's `clamp(0, 6)`, `f32::clamp` (which keeps a `-0.0` and a NaN).
#[cfg(target_family = "wasm")]
pub(super) fn relu6_of(x: f32) -> f32 {
    x.clamp(0.0, 6.0)
}

/// ReLU6 of one number as [`relu6`] computes it natively outside training: flex's
/// `clamp_max(6)` then `clamp_min(0)`, each keeping a NaN (and the second making `-0.0` a
/// `+0.0`).
#[cfg(not(target_family = "wasm"))]
pub(super) fn relu6_of(x: f32) -> f32 {
    let y = if x.is_nan() || x < 6.0 { x } else { 6.0 };
    if y.is_nan() || y > 0.0 { y } else { 0.0 }
}

#[cfg(not(target_family = "wasm"))]
fn clamped(x: Tensor<4>) -> Tensor<4> {
    x.clamp_max(6.0).clamp_min(0.0)
}

/// ReLU6 of a tensor in the training graph as `x * pass + 6 * above`, where `pass` is 1 where
/// `0 <= x <= 6` and `above` is 1 where `x > 6`, both computed off the graph: the same values
/// as the clamps (`x * 1 = x`, `x * 0 + 6 = 6`, `x * 0 + 0 = 0` up to its sign), and the
/// backward pass is one product, `grad * pass`, which passes the gradient exactly where burn's
/// `clamp_max(6)` then `clamp_min(0)` does (`x <= 6`, then `y >= 0`).
#[cfg(not(target_family = "wasm"))]
fn tracked(x: Tensor<4>) -> Tensor<4> {
    let plain = x.clone().inner();
    let pass = plain
        .clone()
        .greater_equal_elem(0.0)
        .bool_and(plain.clone().lower_equal_elem(6.0))
        .float();
    let above = plain.greater_elem(6.0).float().mul_scalar(6.0);
    x * pass + above
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;

    /// Inputs on both sides of, and exactly at, each bound.
    fn inputs(device: &Device) -> Tensor<4> {
        let values = [
            -7.5f32, -1e-8, -0.0, 0.0, 1e-8, 0.5, 5.999999, 6.0, 6.000001, 12.5, 1e6,
        ];
        Tensor::<1>::from_floats(values, device).reshape([1, 1, 1, values.len()])
    }

    /// Each number's bits, both zeros as `+0.0`'s: the sign of a zero is the one difference
    /// allowed.
    fn bits(t: Tensor<4>) -> Vec<u32> {
        let values = t.into_data().try_to_vec::<f32>().unwrap();
        values
            .iter()
            .map(|&v| if v == 0.0 { 0 } else { v.to_bits() })
            .collect()
    }

    /// Values and gradients against burn's own `clamp(0, 6)` on the training device, with
    /// the gradient weighted so that every position's gradient is distinct.
    #[test]
    fn tracked_relu6_matches_burns_clamp_in_value_and_gradient() {
        let device = Device::flex().autodiff();
        let weights = Tensor::<1>::from_floats(
            [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0],
            &device,
        )
        .reshape([1, 1, 1, 11]);
        let run = |f: fn(Tensor<4>) -> Tensor<4>| {
            let x = inputs(&device).require_grad();
            let y = f(x.clone());
            let grads = (y.clone() * weights.clone()).sum().backward();
            let grad = x.grad(&grads).unwrap();
            (y.inner(), grad)
        };
        let (ours, our_grad) = run(relu6);
        let (burns, burn_grad) = run(|x| x.clamp(0.0, 6.0));
        assert_eq!(bits(ours.clone()), bits(burns));
        assert_eq!(bits(our_grad.clone()), bits(burn_grad));
        let expect = [
            0.0f32, 0.0, 0.0, 0.0, 1e-8, 0.5, 5.999999, 6.0, 6.0, 6.0, 6.0,
        ];
        assert_eq!(ours.into_data().try_to_vec::<f32>().unwrap(), expect);
        let passed: Vec<f32> = our_grad.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(
            passed,
            [0.0, 0.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 0.0, 0.0, 0.0]
        );
    }

    /// Off the graph (frozen blocks under training, where the tensor is autodiff's but not
    /// tracked) the clamps on flex, and the answer stays on the autodiff device.
    #[test]
    fn untracked_relu6_on_the_training_device_is_the_clamps() {
        let device = Device::flex().autodiff();
        let y = relu6(inputs(&device));
        assert!(y.is_autodiff() && !y.is_tracked());
        let values = y.inner().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(
            values,
            [0.0, 0.0, 0.0, 0.0, 1e-8, 0.5, 5.999999, 6.0, 6.0, 6.0, 6.0]
        );
    }

    #[test]
    fn relu6_answers_as_burns_clamp_but_for_the_sign_of_zero() {
        let device = Device::flex();
        let values = [
            f32::NEG_INFINITY,
            -7.0,
            -1e-30,
            -0.0,
            0.0,
            1e-30,
            0.5,
            5.999_999_5,
            6.0,
            6.000_000_5,
            1e30,
            f32::INFINITY,
        ];
        let x = Tensor::<1>::from_floats(values, &device).reshape([1, 3, 2, 2]);
        let ours = relu6(x.clone()).into_data().try_to_vec::<f32>().unwrap();
        let burns = burn::tensor::activation::relu6(x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for ((ours, burns), input) in ours.iter().zip(&burns).zip(values) {
            // `-0.0 == 0.0`: the one difference, which no sum or product downstream can see.
            assert_eq!(ours, burns, "relu6({input})");
            assert!(ours.to_bits() == burns.to_bits() || *ours == 0.0);
        }
        let nan = Tensor::<1>::from_floats([f32::NAN], &device).reshape([1, 1, 1, 1]);
        assert!(relu6(nan).into_scalar::<f32>().is_nan());
    }
}
