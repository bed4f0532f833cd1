//! EfficientNet-Lite0 (Tan & Le 2019, the "Lite" variant: ReLU6, no squeeze-excite), the
//! ImageNet-pretrained backbone the project fine-tunes instead of learning every filter from
//! 7,000 photos.
//!
//! Its field names follow EfficientNet-PyTorch's state dict without the leading underscores
//! (`_blocks.3._depthwise_conv.weight` is `blocks.3.depthwise_conv.weight` here), so the
//! ImageNet weights load by name (`train-native`'s `pretrained` module). The weights were
//! ported from TensorFlow: every convolution pads as TF's "SAME" does (the extra pixel of an
//! even padding on the bottom and right, which burn's [`PaddingConfig2d::Same`] matches), and
//! inputs are scaled as `(x - 127) / 128` on 0..255 RGB.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu6;

/// Batch-norm epsilon of the TensorFlow original.
const BN_EPSILON: f64 = 1e-3;

/// Channels of the stem, and of the head's 1x1 convolution.
const STEM: usize = 32;
const HEAD: usize = 1280;

/// One stage: `(repeats, kernel, stride of the first block, expansion, channels out)`.
const STAGES: [(usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
];

/// The network's settings; the layer sizes are Lite0's own and not configurable, since only
/// they fit the pretrained weights.
#[derive(Config, Debug, PartialEq)]
pub struct Lite0Config {
    /// Outputs of the classifier head (1000 for ImageNet's).
    pub classes: usize,
    /// Dropout before the classifier head.
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// An inverted-residual block: 1x1 expansion (absent in the first stage), depthwise k x k,
/// 1x1 projection; the input is added back when the shape allows.
#[derive(Module, Debug)]
pub struct MbConv {
    expand_conv: Option<Conv2d>,
    bn0: Option<BatchNorm>,
    depthwise_conv: Conv2d,
    bn1: BatchNorm,
    project_conv: Conv2d,
    bn2: BatchNorm,
}

/// EfficientNet-Lite0: stem, 16 inverted-residual blocks, a 1x1 head to 1280 channels,
/// global average pooling, dropout and a linear classifier.
#[derive(Module, Debug)]
pub struct Lite0 {
    conv_stem: Conv2d,
    bn0: BatchNorm,
    blocks: Vec<MbConv>,
    conv_head: Conv2d,
    bn1: BatchNorm,
    dropout: Dropout,
    fc: Linear,
}

fn conv(input: usize, output: usize, kernel: usize, stride: usize, groups: usize) -> Conv2dConfig {
    Conv2dConfig::new([input, output], [kernel, kernel])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_padding(PaddingConfig2d::Same)
        .with_bias(false)
}

fn norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels)
        .with_epsilon(BN_EPSILON)
        .init(device)
}

impl MbConv {
    fn new(
        input: usize,
        output: usize,
        kernel: usize,
        stride: usize,
        expand: usize,
        device: &Device,
    ) -> Self {
        let wide = input * expand;
        let (expand_conv, bn0) = if expand == 1 {
            (None, None)
        } else {
            (
                Some(conv(input, wide, 1, 1, 1).init(device)),
                Some(norm(wide, device)),
            )
        };
        Self {
            expand_conv,
            bn0,
            depthwise_conv: conv(wide, wide, kernel, stride, wide).init(device),
            bn1: norm(wide, device),
            project_conv: conv(wide, output, 1, 1, 1).init(device),
            bn2: norm(output, device),
        }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let mut x = input.clone();
        if let (Some(conv), Some(bn)) = (&self.expand_conv, &self.bn0) {
            x = relu6(bn.forward(conv.forward(x)));
        }
        x = relu6(self.bn1.forward(self.depthwise_conv.forward(x)));
        x = self.bn2.forward(self.project_conv.forward(x));
        if x.dims() == input.dims() {
            x + input
        } else {
            x
        }
    }
}

impl Lite0Config {
    /// Lite0 with freshly initialised weights (to be overwritten by the pretrained ones).
    pub fn init(&self, device: &Device) -> Lite0 {
        let mut blocks = Vec::with_capacity(16);
        let mut channels = STEM;
        for (repeats, kernel, stride, expand, output) in STAGES {
            for r in 0..repeats {
                let stride = if r == 0 { stride } else { 1 };
                blocks.push(MbConv::new(
                    channels, output, kernel, stride, expand, device,
                ));
                channels = output;
            }
        }
        Lite0 {
            conv_stem: conv(3, STEM, 3, 2, 1).init(device),
            bn0: norm(STEM, device),
            blocks,
            conv_head: conv(channels, HEAD, 1, 1, 1).init(device),
            bn1: norm(HEAD, device),
            dropout: DropoutConfig::new(self.dropout).init(),
            fc: LinearConfig::new(HEAD, self.classes).init(device),
        }
    }
}

impl Lite0 {
    /// Width of the pooled features, the classifier's input.
    pub const FEATURES: usize = HEAD;

    /// The head's activations before pooling, `[batch, 1280, h/32, w/32]`.
    pub fn maps(&self, images: Tensor<4>) -> Tensor<4> {
        let mut x = relu6(self.bn0.forward(self.conv_stem.forward(images)));
        for block in &self.blocks {
            x = block.forward(x);
        }
        relu6(self.bn1.forward(self.conv_head.forward(x)))
    }

    /// Pooled features `[batch, 1280]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        self.maps(images).mean_dim(3).mean_dim(2).flatten::<2>(1, 3)
    }

    /// Normalised images `[batch, 3, h, w]` to logits `[batch, classes]` (dropout is active
    /// only on an autodiff device).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.fc.forward(self.dropout.forward(self.features(images)))
    }

    /// The same network with the stem and the first `blocks` blocks frozen: no gradients, and
    /// their batch norms on their running statistics, as ImageNet left them. Early filters are
    /// the most generic, and every frozen block is one whose backward pass is not computed.
    pub fn freeze_first(mut self, blocks: usize) -> Self {
        self.conv_stem = self.conv_stem.freeze();
        self.bn0 = self.bn0.freeze();
        self.blocks = self
            .blocks
            .into_iter()
            .enumerate()
            .map(|(i, b)| if i < blocks { b.freeze() } else { b })
            .collect();
        self
    }

    /// Blocks of the network (16).
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// The same backbone with a new, freshly initialised classifier of `classes` outputs: how
    /// the ImageNet network becomes a skin-lesion one.
    pub fn with_new_head(mut self, classes: usize, device: &Device) -> Self {
        self.fc = LinearConfig::new(HEAD, classes).init(device);
        self
    }
}

#[cfg(test)]
mod tests;
