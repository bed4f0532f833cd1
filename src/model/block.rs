//! A VGG-style stage: 3x3 convolutions with batch norm and ReLU, then a 2x2 max pool.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

/// One resolution stage of [`super::LesionNet`].
///
/// Plain 3x3 convolutions are what burn's CPU backend runs fastest (im2col + GEMM), and batch
/// norm lets a small net train from scratch with a high learning rate in the few epochs a CPU
/// allows.
#[derive(Module, Debug)]
pub struct ConvBlock {
    convs: Vec<Conv2d>,
    norms: Vec<BatchNorm>,
    activation: Relu,
    pool: MaxPool2d,
}

impl ConvBlock {
    /// A stage of `depth` convolutions from `channels_in` to `channels_out`.
    pub fn new(channels_in: usize, channels_out: usize, depth: usize, device: &Device) -> Self {
        let mut convs = Vec::with_capacity(depth);
        let mut norms = Vec::with_capacity(depth);
        for i in 0..depth {
            let from = if i == 0 { channels_in } else { channels_out };
            convs.push(
                Conv2dConfig::new([from, channels_out], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_bias(false)
                    .init(device),
            );
            norms.push(BatchNormConfig::new(channels_out).init(device));
        }
        Self {
            convs,
            norms,
            activation: Relu::new(),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        }
    }

    /// `[batch, channels_in, h, w]` to `[batch, channels_out, h / 2, w / 2]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.downsample(self.forward_unpooled(x))
    }

    /// The convolutions without the final pooling: `[batch, channels_out, h, w]`.
    pub fn forward_unpooled(&self, mut x: Tensor<4>) -> Tensor<4> {
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            x = self.activation.forward(norm.forward(conv.forward(x)));
        }
        x
    }

    /// The stage's 2x2 max pooling.
    pub fn downsample(&self, x: Tensor<4>) -> Tensor<4> {
        self.pool.forward(x)
    }
}
