//! The skin-lesion classifier network and its configuration.

use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::views::{VIEW_COUNTS, average_views, dihedral_views, stack_views, sum_views};
use super::{ConvBlock, Stem};
use crate::NUM_CLASSES;

/// The architecture's hyper-parameters. Saved next to the weights (`config.json`) so the
/// browser builds the same network the weights were trained for.
#[derive(Config, Debug, PartialEq)]
pub struct LesionNetConfig {
    /// Side of the square network input, in pixels.
    #[config(default = 64)]
    pub input_size: usize,
    /// Side the photo's central square is resized to before the central `input_size` crop
    /// (training takes random crops of this size instead).
    #[config(default = 72)]
    pub resize_size: usize,
    /// Channels of the first stage; each later stage doubles them.
    #[config(default = 24)]
    pub base_width: usize,
    /// Number of resolution stages (each halves the side).
    #[config(default = 4)]
    pub stages: usize,
    /// Convolutions per stage.
    #[config(default = 1)]
    pub convs_per_stage: usize,
    /// Stride of a patchify stem before the first stage ([`super::Stem`]); `None` (the
    /// default, and what configs written before the stem existed mean) has no stem.
    pub stem: Option<usize>,
    /// Dropout before the classifier head.
    #[config(default = 0.3)]
    pub dropout: f64,
    /// How many flips/rotations of a photo the classifier averages ([`super::views`]);
    /// `None` (what configs written before test-time views existed mean) is one view.
    pub test_time_views: Option<usize>,
}

impl LesionNetConfig {
    /// Build the network with freshly initialised weights.
    pub fn init(&self, device: &Device) -> LesionNet {
        let mut blocks = Vec::with_capacity(self.stages);
        let stem = self.stem.map(|stride| Stem::new(self.base_width, stride, device));
        let mut channels = if stem.is_some() { self.base_width } else { 3 };
        for stage in 0..self.stages {
            let out = self.base_width << stage;
            blocks.push(ConvBlock::new(channels, out, self.convs_per_stage, device));
            channels = out;
        }
        LesionNet {
            stem,
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            head: LinearConfig::new(channels, NUM_CLASSES).init(device),
        }
    }

    /// Views averaged per photo at inference (1 = the photo as it is).
    pub fn views(&self) -> usize {
        self.test_time_views.unwrap_or(1)
    }

    /// Channels of the last stage, which feed the classifier head.
    pub fn feature_width(&self) -> usize {
        self.base_width << (self.stages.max(1) - 1)
    }

    /// A short human-readable architecture name, e.g. `LesionNet-s2-4x1-32` (stem stride 2,
    /// 4 stages of 1 convolution, 32 channels in the first).
    pub fn architecture_name(&self) -> String {
        let stem = self.stem.map_or(String::new(), |s| format!("s{s}-"));
        format!(
            "LesionNet-{stem}{}x{}-{} (VGG-style CNN, batch norm, global average pooling)",
            self.stages, self.convs_per_stage, self.base_width
        )
    }

    /// Checks the numbers make a network that can run at all.
    pub fn validate(&self) -> Result<(), String> {
        if self.stages == 0 || self.convs_per_stage == 0 || self.base_width == 0 {
            return Err("stages, convs_per_stage and base_width must be at least 1".into());
        }
        let stride = self.stem.unwrap_or(1);
        if stride == 0 || self.input_size % stride != 0 {
            return Err(format!("the stem stride {stride} must divide input_size {}", self.input_size));
        }
        if (self.input_size / stride) >> self.stages == 0 {
            return Err(format!(
                "input_size {} is too small for {} stages",
                self.input_size, self.stages
            ));
        }
        if self.resize_size < self.input_size {
            return Err(format!(
                "resize_size {} must be at least input_size {}",
                self.resize_size, self.input_size
            ));
        }
        if !VIEW_COUNTS.contains(&self.views()) {
            return Err(format!("test_time_views {} must be one of {VIEW_COUNTS:?}", self.views()));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout {} must be in [0, 1)", self.dropout));
        }
        Ok(())
    }
}

/// A small VGG-style CNN: an optional patchify stem, conv stages, global average pooling,
/// dropout and a linear head.
#[derive(Module, Debug)]
pub struct LesionNet {
    stem: Option<Stem>,
    blocks: Vec<ConvBlock>,
    pool: AdaptiveAvgPool2d,
    dropout: Dropout,
    head: Linear,
}

impl LesionNet {
    /// Normalised images `[batch, 3, size, size]` to class logits `[batch, NUM_CLASSES]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = match &self.stem {
            Some(stem) => stem.forward(images),
            None => images,
        };
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x = self.pool.forward(x).flatten::<2>(1, 3);
        self.head.forward(self.dropout.forward(x))
    }

    /// Add `offsets` to the classifier's biases: shifts each class's logit, which is how a
    /// decision threshold chosen on validation data is baked into the shipped weights.
    pub fn with_class_offsets(mut self, offsets: &[f32; NUM_CLASSES]) -> Self {
        let device = self.head.weight.val().device();
        let shift = Tensor::<1>::from_floats(offsets.as_slice(), &device);
        self.head.bias = self.head.bias.map(|b| b.map(|t| t + shift));
        self
    }

    /// Normalised images to class probabilities `[batch, NUM_CLASSES]`.
    pub fn probabilities(&self, images: Tensor<4>) -> Tensor<2> {
        softmax(self.forward(images), 1)
    }

    /// Class logits averaged over `views` orientations of each image
    /// ([`super::views::dihedral_views`]); 1 view is [`Self::forward`].
    pub fn forward_views(&self, images: Tensor<4>, views: usize) -> Tensor<2> {
        average_views(self.forward(dihedral_views(images, views)), views)
    }

    /// The sum of the logits of views `range` of each image: part of [`Self::forward_views`]'s
    /// average, for splitting one photo's views between workers.
    pub fn logit_sum(&self, images: Tensor<4>, range: std::ops::Range<usize>) -> Tensor<2> {
        let count = range.len();
        sum_views(self.forward(stack_views(images, range)), count)
    }

    /// Class probabilities from the logits averaged over `views` orientations: what
    /// evaluation and the browser report, with `views` from [`LesionNetConfig::views`].
    pub fn probabilities_views(&self, images: Tensor<4>, views: usize) -> Tensor<2> {
        softmax(self.forward_views(images, views), 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_has_one_logit_per_class() {
        let device = Device::flex();
        let config = LesionNetConfig::new();
        let net = config.init(&device);
        let x = Tensor::<4>::zeros([2, 3, config.input_size, config.input_size], &device);
        assert_eq!(net.forward(x).dims(), [2, NUM_CLASSES]);
    }

    #[test]
    fn the_stem_shrinks_the_input_before_the_stages() {
        let device = Device::flex();
        let config = LesionNetConfig::new().with_base_width(4).with_stem(Some(2)).with_stages(4);
        let net = config.init(&device);
        let x = Tensor::<4>::zeros([2, 3, config.input_size, config.input_size], &device);
        assert_eq!(net.forward(x).dims(), [2, NUM_CLASSES]);
        // 64 / 2 (stem) = 32 pixels: 5 stages leave 1x1, a sixth would leave nothing.
        assert!(config.clone().with_stages(5).validate().is_ok());
        assert!(config.with_stages(6).validate().is_err());
    }

    #[test]
    fn probabilities_sum_to_one() {
        let device = Device::flex();
        let config = LesionNetConfig::new().with_base_width(4).with_input_size(32).with_resize_size(32);
        let net = config.init(&device);
        let x = Tensor::<4>::random([3, 3, 32, 32], burn::tensor::Distribution::Default, &device);
        let sums: Vec<f32> = net.probabilities(x).sum_dim(1).into_data().try_to_vec::<f32>().unwrap();
        for s in sums {
            assert!((s - 1.0).abs() < 1e-5, "row sums to {s}");
        }
    }

    #[test]
    fn class_offsets_shift_the_logits() {
        let device = Device::flex();
        let config = LesionNetConfig::new().with_base_width(4).with_input_size(32).with_resize_size(32);
        let net = config.init(&device);
        let x = Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &device);
        let before: Vec<f32> = net.forward(x.clone()).into_data().try_to_vec::<f32>().unwrap();
        let offsets = [0.0, 1.5, 0.0, 0.0, -2.0, 0.0, 0.25];
        let after: Vec<f32> = net.with_class_offsets(&offsets).forward(x).into_data().try_to_vec::<f32>().unwrap();
        for (i, (a, b)) in after.iter().zip(&before).enumerate() {
            assert!((a - b - offsets[i % NUM_CLASSES]).abs() < 1e-5);
        }
    }

    #[test]
    fn eight_views_make_the_network_blind_to_orientation() {
        let device = Device::flex();
        let config = LesionNetConfig::new().with_base_width(4).with_input_size(32).with_resize_size(32).with_stem(Some(2));
        device.seed(11);
        let net = config.init(&device);
        // A ramp from left to right, brighter in the top-left corner: the turn moves both.
        let values: Vec<f32> = (0..2 * 3 * 32 * 32)
            .map(|i| {
                let (x, y) = ((i % 32) as f32 / 31.0, ((i / 32) % 32) as f32 / 31.0);
                x * 2.0 - 1.0 + if x < 0.3 && y < 0.3 { 1.5 } else { 0.0 }
            })
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(values, [2, 3, 32, 32]), &device);
        let quarter_turn = x.clone().swap_dims(2, 3).flip([3]);
        let logits = |t: Tensor<4>, views| net.forward_views(t, views).into_data().try_to_vec::<f32>().unwrap();
        let plain = (logits(x.clone(), 1), logits(quarter_turn.clone(), 1));
        let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(max_diff(&plain.0, &plain.1) > 1e-3, "a random network should see the turn");
        let averaged = (logits(x, 8), logits(quarter_turn, 8));
        assert!(max_diff(&averaged.0, &averaged.1) < 1e-5, "8 views still depend on orientation");
    }

    #[test]
    fn offsets_shift_the_averaged_logits_exactly() {
        let device = Device::flex();
        let config = LesionNetConfig::new().with_base_width(4).with_input_size(32).with_resize_size(32);
        let net = config.init(&device);
        let x = Tensor::<4>::random([3, 3, 32, 32], burn::tensor::Distribution::Default, &device);
        let before: Vec<f32> = net.forward_views(x.clone(), 4).into_data().try_to_vec::<f32>().unwrap();
        let offsets = [0.5, 0.0, -1.0, 0.0, 0.0, 0.25, 0.0];
        let after: Vec<f32> = net.with_class_offsets(&offsets).forward_views(x, 4).into_data().try_to_vec::<f32>().unwrap();
        for (i, (a, b)) in after.iter().zip(&before).enumerate() {
            assert!((a - b - offsets[i % NUM_CLASSES]).abs() < 1e-5);
        }
    }

    #[test]
    fn rejects_impossible_configs() {
        assert!(LesionNetConfig::new().validate().is_ok());
        assert!(LesionNetConfig::new().with_stages(0).validate().is_err());
        assert!(LesionNetConfig::new().with_input_size(8).validate().is_err());
        assert!(LesionNetConfig::new().with_resize_size(32).validate().is_err());
        assert!(LesionNetConfig::new().with_dropout(1.0).validate().is_err());
        assert!(LesionNetConfig::new().with_stem(Some(3)).validate().is_err());
        assert!(LesionNetConfig::new().with_test_time_views(Some(8)).validate().is_ok());
        assert!(LesionNetConfig::new().with_test_time_views(Some(3)).validate().is_err());
        assert!(LesionNetConfig::new().with_stem(Some(0)).validate().is_err());
        assert!(LesionNetConfig::new().with_input_size(32).with_stem(Some(2)).with_stages(5).validate().is_err());
    }
}
