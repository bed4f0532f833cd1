//! What Lite0's own CPU kernels for its convolutions share: which layers they may compute,
//! how a tensor goes to plain floats and back, and where a kernel reads its input.
//!
//! Each computes a layer only where nothing needs its gradient (inference, natively and in the
//! browser, and training's frozen layers), only on the CPU (a GPU's tensors would have to be
//! read back and sent again), only in f32 and only without a bias; everything else keeps
//! burn's convolution.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::{DType, TensorData};

/// `conv`'s weights as plain floats when a kernel of this project's may compute `conv` on `x`
/// (see the module's doc); `None` when burn must.
pub(super) fn plain_weights(conv: &Conv2d, x: &Tensor<4>) -> Option<Vec<f32>> {
    let weight = conv.weight.val();
    if weight.is_require_grad() || conv.bias.is_some() || !plain(&weight) || !plain(x) {
        return None;
    }
    untracked(weight).into_data().try_into_vec::<f32>().ok()
}

/// Whether a kernel of this project's may read `t` as plain floats: f32 on the CPU, outside
/// any training graph.
pub(super) fn plain<const D: usize>(t: &Tensor<D>) -> bool {
    !tracked(t) && t.device() == Device::flex() && t.dtype() == DType::F32
}

/// `t` off the training device (the same tensor elsewhere).
pub(super) fn untracked<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    if t.is_autodiff() { t.inner() } else { t }
}

/// `compute` on `x`'s floats (row-major, untracked), its output of shape `dims` a tensor on
/// `x`'s device again (on the training device, outside the graph).
pub(super) fn on_floats(
    x: Tensor<4>,
    dims: [usize; 4],
    compute: impl FnOnce(&[f32]) -> Vec<f32>,
) -> Tensor<4> {
    let autodiff = x.is_autodiff();
    let x = untracked(x);
    let device = x.device();
    let input = x.into_data().try_into_vec::<f32>();
    let input = input.expect("plain_weights checked the input is f32");
    let output = Tensor::from_data(TensorData::new(compute(&input), dims), &device);
    if autodiff {
        Tensor::from_inner(output)
    } else {
        output
    }
}

/// Whether `x` is in a training graph (the browser's modules have none).
fn tracked<const D: usize>(x: &Tensor<D>) -> bool {
    #[cfg(not(target_family = "wasm"))]
    return x.is_tracked();
    #[cfg(target_family = "wasm")]
    return {
        let _ = x;
        false
    };
}

/// `((top, bottom), (left, right))` as burn's `Conv2d` pads an input of `size`.
fn padding(
    config: &PaddingConfig2d,
    [height, width]: [usize; 2],
    kernel: usize,
    stride: usize,
) -> ((usize, usize), (usize, usize)) {
    match config {
        PaddingConfig2d::Valid => ((0, 0), (0, 0)),
        PaddingConfig2d::Same => (same(kernel, stride, height), same(kernel, stride, width)),
        PaddingConfig2d::Explicit(top, left, bottom, right) => ((*top, *bottom), (*left, *right)),
    }
}

/// TF's and burn's "SAME" padding (before, after): the output is the input divided by the
/// stride, rounded up, and an odd total puts its extra zero after.
fn same(kernel: usize, stride: usize, size: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out.max(1) - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// Where a square kernel at a square stride reads an input, and the output's size: what
/// the kernels work from.
pub(super) struct Geometry {
    /// Batch, channels, input height and width.
    pub input: [usize; 4],
    pub kernel: usize,
    pub stride: usize,
    /// Zeros above and to the left of the input; those below and to the right follow from
    /// the output's size.
    pub pad: [usize; 2],
    /// Output height and width.
    pub out: [usize; 2],
}

impl Geometry {
    /// `conv`'s on `x`; `None` for a kernel or stride that is not square, dilation, an empty
    /// input, or a window larger than the padded input.
    pub fn of(conv: &Conv2d, x: &Tensor<4>) -> Option<Self> {
        let input @ [_, _, height, width] = x.dims();
        let [_, _, kernel, kernel_w] = conv.weight.dims();
        let square = kernel == kernel_w && conv.stride[0] == conv.stride[1];
        let empty = height == 0 || width == 0;
        if !square || empty || conv.dilation != [1, 1] {
            return None;
        }
        let stride = conv.stride[0];
        let (rows, columns) = padding(&conv.padding, [height, width], kernel, stride);
        let out_size = |size: usize, (before, after): (usize, usize)| {
            Some((size + before + after).checked_sub(kernel)? / stride + 1)
        };
        Some(Self {
            input,
            kernel,
            stride,
            pad: [rows.0, columns.0],
            out: [out_size(height, rows)?, out_size(width, columns)?],
        })
    }
}
