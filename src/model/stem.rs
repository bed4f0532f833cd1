//! A patchify stem: one strided convolution that shrinks the photo before the first stage.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Relu};
use burn::prelude::*;

/// A `stride` x `stride` convolution with the same stride (non-overlapping patches, as in
/// ConvNeXt), batch norm and ReLU.
///
/// Why: on burn's CPU backend the cost of a layer is dominated by the element-wise passes
/// (batch norm, ReLU, pooling) over its activations, not by its multiply-adds. A 3x3
/// convolution at the full input resolution took half of a training step while holding 0.4% of
/// the parameters; starting at a quarter of the pixels (stride 2) lets the same time buy a
/// larger input or a deeper network.
#[derive(Module, Debug)]
pub struct Stem {
    conv: Conv2d,
    norm: BatchNorm,
    activation: Relu,
}

impl Stem {
    /// From 3 colour channels to `channels_out`, shrinking each side by `stride`.
    pub fn new(channels_out: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([3, channels_out], [stride, stride])
                .with_stride([stride, stride])
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(channels_out).init(device),
            activation: Relu::new(),
        }
    }

    /// `[batch, 3, h, w]` to `[batch, channels_out, h / stride, w / stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.activation
            .forward(self.norm.forward(self.conv.forward(x)))
    }
}
