//! The skin-lesion classifier network and its configuration.

use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};

use burn::prelude::*;

use super::density::FeatureDensity;
use super::head::{self, Outputs};
use super::{ConvBlock, Stem};

/// The from-scratch network's architecture ([`super::NetworkConfig::LesionNet`]); its defaults
/// are the shipped recipe's.
#[derive(Config, Debug, PartialEq)]
pub struct LesionNetConfig {
    /// Channels of the first stage; each later stage doubles them.
    #[config(default = 32)]
    pub base_width: usize,
    /// Number of resolution stages (each halves the side).
    #[config(default = 4)]
    pub stages: usize,
    /// Convolutions per stage.
    #[config(default = 1)]
    pub convs_per_stage: usize,
    /// Stride of a patchify stem before the first stage ([`super::Stem`]); 1 means no stem.
    #[config(default = 2)]
    pub stem: usize,
    /// Dropout before the classifier head.
    #[config(default = 0.3)]
    pub dropout: f64,
}

/// Upper bounds on [`LesionNetConfig`]: a `config.json` beyond them is refused before any
/// tensor is allocated (a hostile or damaged file must not ask for a 2^40-channel network).
pub mod limits {
    pub const MAX_WIDTH: usize = 256;
    pub const MAX_STAGES: usize = 6;
    pub const MAX_CONVS: usize = 4;
    pub const MAX_STEM: usize = 8;
    /// Channels of the widest stage.
    pub const MAX_CHANNELS: usize = 2048;
}

impl LesionNetConfig {
    /// Build the network of `classes` outputs with freshly initialised weights, with room for
    /// a feature density over `density_width` features when the answer uses one.
    pub fn init(&self, classes: usize, density_width: Option<usize>, device: &Device) -> LesionNet {
        let mut blocks = Vec::with_capacity(self.stages);
        let stem = (self.stem > 1).then(|| Stem::new(self.base_width, self.stem, device));
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
            head: LinearConfig::new(channels, classes).init(device),
            density: density_width.map(|width| FeatureDensity::zeros(classes, width, device)),
        }
    }

    /// A short human-readable architecture name, e.g. `LesionNet-s2-4x1-32` (stem stride 2,
    /// 4 stages of 1 convolution, 32 channels in the first).
    pub fn architecture_name(&self) -> String {
        let stem = if self.stem > 1 {
            format!("s{}-", self.stem)
        } else {
            String::new()
        };
        format!(
            "LesionNet-{stem}{}x{}-{} (VGG-style CNN, batch norm, global average pooling)",
            self.stages, self.convs_per_stage, self.base_width
        )
    }

    /// Checks the numbers make a network that can run at all on `input_size` pixels, within
    /// [`limits`].
    pub fn validate(&self, input_size: usize) -> Result<(), String> {
        use limits::*;
        let within = |name: &str, value: usize, max: usize| {
            if value == 0 || value > max {
                Err(format!("{name} {value} must be between 1 and {max}"))
            } else {
                Ok(())
            }
        };
        within("base_width", self.base_width, MAX_WIDTH)?;
        within("stages", self.stages, MAX_STAGES)?;
        within("convs_per_stage", self.convs_per_stage, MAX_CONVS)?;
        within("stem", self.stem, MAX_STEM)?;
        if self.base_width << (self.stages - 1) > MAX_CHANNELS {
            return Err(format!(
                "base_width {} doubled over {} stages exceeds {MAX_CHANNELS} channels",
                self.base_width, self.stages
            ));
        }
        if !input_size.is_multiple_of(self.stem) {
            return Err(format!(
                "the stem stride {} must divide input_size {input_size}",
                self.stem
            ));
        }
        if (input_size / self.stem) >> self.stages == 0 {
            return Err(format!(
                "input_size {input_size} is too small for {} stages",
                self.stages
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout {} must be in [0, 1)", self.dropout));
        }
        Ok(())
    }
}

/// A small VGG-style CNN: an optional patchify stem, conv stages, global average pooling,
/// dropout and a linear head; in a shipped model also the training features' density that
/// tells a dermatoscopy photo from anything else ([`FeatureDensity`]).
#[derive(Module, Debug)]
pub struct LesionNet {
    stem: Option<Stem>,
    blocks: Vec<ConvBlock>,
    pool: AdaptiveAvgPool2d,
    dropout: Dropout,
    head: Linear,
    density: Option<FeatureDensity>,
}

impl LesionNet {
    /// Normalised images `[batch, 3, size, size]` to class logits `[batch, classes]`
    /// (what training optimises: dropout is active on an autodiff device).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.head
            .forward(self.dropout.forward(self.features(images)))
    }

    /// The last stage's activations before its pooling, `[batch, channels, h, w]`: the finest
    /// map whose channels the head weighs, which the class activation map is made of.
    pub fn maps(&self, images: Tensor<4>) -> Tensor<4> {
        let mut x = match &self.stem {
            Some(stem) => stem.forward(images),
            None => images,
        };
        let (last, earlier) = self.blocks.split_last().expect("at least one stage");
        for block in earlier {
            x = block.forward(x);
        }
        last.forward_unpooled(x)
    }

    /// Every stage's output averaged over positions, `[batch, channels]` each, the last one
    /// being the head's input: what a photo looks like to the network at each scale.
    pub fn stage_means(&self, images: Tensor<4>) -> Vec<Tensor<2>> {
        let mut x = match &self.stem {
            Some(stem) => stem.forward(images),
            None => images,
        };
        let mut means = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            x = block.forward(x);
            means.push(self.pool.forward(x.clone()).flatten::<2>(1, 3));
        }
        means
    }

    /// Pooled features `[batch, channels]`: the input of the classifier head.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let last = self.blocks.last().expect("at least one stage");
        self.pool
            .forward(last.downsample(self.maps(images)))
            .flatten::<2>(1, 3)
    }

    /// Logits and features of each image (no dropout outside training): the features are
    /// every stage's output averaged over positions, laid end to end, the last stage's (the
    /// head's input) last.
    pub fn outputs(&self, images: Tensor<4>) -> Outputs {
        head::outputs(self.stage_means(images), &self.dropout, &self.head)
    }

    /// The head's weights `[classes, channels]` and biases: a class's activation map is
    /// its weights applied to [`Self::maps`] at each position.
    pub fn head(&self) -> (Tensor<2>, Option<Tensor<1>>) {
        head::weights(&self.head)
    }

    /// Add `offsets` to the classifier's biases (`head::with_offsets`).
    pub fn with_class_offsets(mut self, offsets: &[f32]) -> Self {
        self.head = head::with_offsets(self.head, offsets);
        self
    }

    /// The same features with a new, freshly initialised classifier of `classes` outputs
    /// (fine-tuning a trained network on another class list).
    pub fn with_new_head(mut self, classes: usize, device: &Device) -> Self {
        // burn keeps a linear layer's weight as `[inputs, outputs]`.
        let [channels, _] = self.head.weight.val().dims();
        self.head = LinearConfig::new(channels, classes).init(device);
        self
    }

    /// The same network carrying `density` (or none), fitted on its training features.
    pub fn with_density(mut self, density: Option<FeatureDensity>) -> Self {
        self.density = density;
        self
    }

    /// The feature density stored with the weights, if this is a shipped model.
    pub fn density(&self) -> Option<&FeatureDensity> {
        self.density.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSES: usize = 7;

    /// A narrow network, run on 32-pixel inputs.
    fn small() -> LesionNetConfig {
        LesionNetConfig::new().with_base_width(4)
    }

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_into_vec_as::<f32>().unwrap()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn the_default_network_has_one_logit_per_class() {
        let device = Device::flex();
        let config = LesionNetConfig::new();
        let net = config.init(CLASSES, None, &device);
        let x = Tensor::<4>::zeros([2, 3, 64, 64], &device);
        let out = net.outputs(x);
        assert_eq!(out.logits.dims(), [2, CLASSES]);
        assert_eq!(
            out.features.dims(),
            [2, super::super::NetworkConfig::from(config).feature_width()]
        );
        assert_eq!(out.features.dims()[1], 32 + 64 + 128 + 256);
    }

    #[test]
    fn the_stem_shrinks_the_input_before_the_stages() {
        let device = Device::flex();
        let config = small().with_stem(2);
        let net = config.init(CLASSES, None, &device);
        let x = Tensor::<4>::zeros([2, 3, 64, 64], &device);
        // 64 / 2 (stem) = 32; the last of 4 stages sees 4x4 before its pooling.
        assert_eq!(net.maps(x.clone()).dims(), [2, 32, 4, 4]);
        assert_eq!(net.forward(x).dims(), [2, CLASSES]);
        // 5 stages leave 1x1, a sixth would leave nothing.
        assert!(config.clone().with_stages(5).validate(64).is_ok());
        assert!(config.with_stages(6).validate(64).is_err());
    }

    #[test]
    fn class_offsets_shift_the_logits() {
        let device = Device::flex();
        let net = small().init(CLASSES, None, &device);
        let x = Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &device);
        let before = values(net.outputs(x.clone()).logits);
        let offsets = [0.0, 1.5, 0.0, 0.0, -2.0, 0.0, 0.25];
        let after = values(net.with_class_offsets(&offsets).outputs(x).logits);
        for (i, (a, b)) in after.iter().zip(&before).enumerate() {
            assert!((a - b - offsets[i % CLASSES]).abs() < 1e-5);
        }
    }

    #[test]
    fn eight_views_make_the_network_blind_to_orientation() {
        let device = Device::flex();
        let config = small().with_stem(2);
        device.seed(11);
        let net = super::super::Network::LesionNet(config.init(CLASSES, None, &device));
        // A ramp from left to right, brighter in the top-left corner: the turn moves both.
        let values_: Vec<f32> = (0..2 * 3 * 32 * 32)
            .map(|i| {
                let (x, y) = ((i % 32) as f32 / 31.0, ((i / 32) % 32) as f32 / 31.0);
                x * 2.0 - 1.0 + if x < 0.3 && y < 0.3 { 1.5 } else { 0.0 }
            })
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(values_, [2, 3, 32, 32]), &device);
        let turned = x.clone().swap_dims(2, 3).flip([3]);
        let logits = |t: Tensor<4>, views| values(net.view_sums(t, 0..views).logits);
        let plain = (logits(x.clone(), 1), logits(turned.clone(), 1));
        assert!(
            max_diff(&plain.0, &plain.1) > 1e-3,
            "a random network should see the turn"
        );
        let all = (logits(x, 8), logits(turned, 8));
        assert!(
            max_diff(&all.0, &all.1) < 1e-4,
            "8 views still depend on orientation"
        );
    }

    #[test]
    fn view_sums_add_up_across_ranges() {
        let device = Device::flex();
        let net = super::super::Network::LesionNet(small().init(CLASSES, None, &device));
        let x = Tensor::<4>::random([3, 3, 32, 32], burn::tensor::Distribution::Default, &device);
        let whole = net.view_sums(x.clone(), 0..8);
        let (a, b) = (net.view_sums(x.clone(), 0..3), net.view_sums(x, 3..8));
        let joined = values(a.logits + b.logits);
        assert!(max_diff(&values(whole.logits), &joined) < 1e-4);
        assert!(max_diff(&values(whole.features), &values(a.features + b.features)) < 1e-4);
    }

    #[test]
    fn rejects_impossible_networks() {
        let net = LesionNetConfig::new;
        assert!(net().validate(64).is_ok());
        assert!(net().with_stages(0).validate(64).is_err());
        // 64 / 2 (stem) leaves 4 pixels after 3 halvings: too few for 4 stages at 8 pixels.
        assert!(net().validate(8).is_err());
        assert!(net().with_dropout(1.0).validate(64).is_err());
        assert!(net().with_stem(3).validate(64).is_err());
        assert!(net().with_stem(0).validate(64).is_err());
        assert!(small().with_stem(2).with_stages(5).validate(32).is_err());
    }

    #[test]
    fn rejects_networks_beyond_the_limits() {
        // Widths that would overflow a shift or allocate gigabytes are refused up front.
        let net = LesionNetConfig::new;
        assert!(net().with_base_width(usize::MAX >> 1).validate(64).is_err());
        assert!(
            net()
                .with_base_width(256)
                .with_stages(6)
                .validate(64)
                .is_err()
        );
        assert!(net().with_stages(64).validate(64).is_err());
    }
}
