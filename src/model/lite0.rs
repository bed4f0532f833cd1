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
use serde::{Deserialize, Serialize};

use super::density::FeatureDensity;
use super::head::{self, Outputs};
#[cfg(not(target_family = "wasm"))]
use dense::dense;
use depthwise::depthwise;
use norm_pass::{Then, normalised, shifted};

/// The stem's convolution in the browser's modules: flex's own. Natively `dense.rs` computes
/// it; built for size, as the modules are, its gathering of the windows is slower than flex's
/// (built for speed), and in Chromium the two came out even (docs/throughput.md).
#[cfg(target_family = "wasm")]
fn dense(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv.forward(x)
}

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

/// The network's settings ([`super::NetworkConfig::Lite0`]); the layer sizes are Lite0's own
/// and not configurable, since only they fit the pretrained weights.
#[derive(Config, Debug, PartialEq)]
pub struct Lite0Config {
    /// Dropout before the classifier head.
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// Which of Lite0's activations a training-only mask head reads (`train --mask-cells`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskCells {
    /// The head's activations (1280 channels at 1/32 of the input: 4x4 cells at 128 pixels),
    /// where nearly every lesion covers the middle cells.
    #[default]
    Head,
    /// The output of the last block at 1/16 of the input (block 10, 112 channels: 8x8 cells
    /// at 128 pixels), fine enough to place the lesion's edge.
    Sixteenth,
}

impl MaskCells {
    /// Channels of the activations the head reads.
    pub fn channels(self) -> usize {
        match self {
            Self::Head => HEAD,
            Self::Sixteenth => STAGES[sixteenth_stage()].4,
        }
    }

    /// The side of the cell grid for an input of side `input_size`: one cell per position of
    /// the activations, each halving rounding up as TF's "SAME" padding does.
    pub fn grid(self, input_size: usize) -> usize {
        match self {
            Self::Head => head_grid(input_size),
            Self::Sixteenth => (0..4).fold(input_size, |side, _| side.div_ceil(2)),
        }
    }
}

/// The stage that ends where the last halving begins: the last at 1/16 of the input.
fn sixteenth_stage() -> usize {
    let mut first = 0;
    STAGES
        .iter()
        .position(|&(repeats, ..)| {
            first += repeats;
            first == last_halving()
        })
        .expect("the last halving begins a stage")
}

/// Inverted-residual blocks in the network.
pub const BLOCKS: usize = 16;

/// Channels of each stage's output, then of the head: the pooled features
/// [`Lite0::stage_means`] lays end to end.
pub const STAGE_WIDTHS: [usize; 8] = [16, 24, 40, 80, 112, 192, 320, HEAD];

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
/// global average pooling, dropout and a linear classifier; in a shipped model also the
/// training features' density ([`FeatureDensity`], absent from the ImageNet weights).
#[derive(Module, Debug)]
pub struct Lite0 {
    conv_stem: Conv2d,
    bn0: BatchNorm,
    blocks: Vec<MbConv>,
    conv_head: Conv2d,
    bn1: BatchNorm,
    dropout: Dropout,
    fc: Linear,
    density: Option<FeatureDensity>,
    /// A training-only 1x1 convolution (to 1 channel) guessing which cells of the activations
    /// it reads lie on the lesion ([`Self::with_mask_head`]): the lesion masks as a second
    /// target. Never in a shipped model, whose files have no tensor for it.
    mask_head: Option<Conv2d>,
    /// Which activations the mask head reads; never stored (the recipe names it).
    #[module(skip)]
    mask_cells: MaskCells,
    /// Whether every batch norm's scale and running statistics are folded into the
    /// convolution before it ([`Lite0::with_norms_folded`]); never stored.
    #[module(skip)]
    folded: bool,
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

    /// The same block with its depthwise convolution at stride 1 (same weights, and "SAME"
    /// padding for stride 1): for [`Lite0::fine_maps`].
    fn at_unit_stride(&self) -> Self {
        let mut block = self.clone();
        block.depthwise_conv.stride = [1, 1];
        block
    }

    /// [`Self::forward_by`], also pushing the input of each 1x1 convolution onto `seen` under its
    /// path (`{prefix}.expand_conv`, `{prefix}.project_conv`).
    fn forward_seen(
        &self,
        input: Tensor<4>,
        prefix: &str,
        seen: &mut PointwiseInputs,
        norms: &mut Norms,
    ) -> Tensor<4> {
        let mut x = input.clone();
        if let (Some(conv), Some(bn)) = (&self.expand_conv, &self.bn0) {
            seen.push((format!("{prefix}.expand_conv"), x.clone()));
            x = norms.apply_then(bn, conv.forward(x), Then::Relu6);
        }
        x = norms.apply_then(&self.bn1, depthwise(&self.depthwise_conv, x), Then::Relu6);
        seen.push((format!("{prefix}.project_conv"), x.clone()));
        self.project(x, input, norms)
    }

    /// The block on `input`, its norms applied as `norms` says (as the modules do, gathering
    /// their batch statistics, or folded).
    fn forward_by(&self, input: Tensor<4>, norms: &mut Norms) -> Tensor<4> {
        let mut x = input.clone();
        if let (Some(conv), Some(bn)) = (&self.expand_conv, &self.bn0) {
            x = norms.apply_then(bn, conv.forward(x), Then::Relu6);
        }
        x = norms.apply_then(&self.bn1, depthwise(&self.depthwise_conv, x), Then::Relu6);
        self.project(x, input, norms)
    }

    /// The 1x1 projection of `x` and its norm, `input` added back when the shapes allow.
    fn project(&self, x: Tensor<4>, input: Tensor<4>, norms: &mut Norms) -> Tensor<4> {
        let x = self.project_conv.forward(x);
        let then = if x.dims() == input.dims() {
            Then::Add(input)
        } else {
            Then::Nothing
        };
        norms.apply_then(&self.bn2, x, then)
    }

    /// Its norms in the order a forward pass applies them.
    fn norms(&self) -> impl Iterator<Item = &BatchNorm> {
        self.bn0.iter().chain([&self.bn1, &self.bn2])
    }
}

/// The batch statistics (mean, biased variance) of each norm that normalised a training pass
/// over its batch, in the order the pass applied them ([`Lite0::forward_gathering`]).
pub type NormStats = Vec<(Tensor<1>, Tensor<1>)>;

/// How a forward pass applies the batch norms.
enum Norms<'a> {
    /// As the modules do: over the batch in training, updating their running statistics as
    /// they go; on the running statistics otherwise.
    AsModules,
    /// Like the modules, but the norms being trained hand their batch statistics here instead
    /// of updating the running statistics, which [`Lite0::update_running_stats`] does after.
    Gathering(&'a mut NormStats),
    /// Folded into the convolutions before them ([`Lite0::with_norms_folded`]): each norm's
    /// shift is all that is left to add.
    Folded,
}

impl Norms<'_> {
    /// `bn` on `x`, then `then`. A norm that does not learn here (folded, or on its running
    /// statistics: inference, and training's frozen blocks) takes one pass over the
    /// activations where it can ([`shifted`], [`normalised`]).
    fn apply_then(&mut self, bn: &BatchNorm, x: Tensor<4>, then: Then) -> Tensor<4> {
        let normed = match self {
            Self::Folded => return shifted(x, bn.beta.val(), then),
            _ if !learns(bn, &x.device()) => return normalised(bn, x, then),
            Self::Gathering(stats) => {
                let out = burn::tensor::module::batch_norm_train(
                    x,
                    bn.gamma.val(),
                    bn.beta.val(),
                    bn.epsilon,
                );
                stats.push((out.mean.detach(), out.variance.detach()));
                out.output
            }
            Self::AsModules => bn.forward(x),
        };
        then.by_burn(normed)
    }
}

/// Fold `bn`'s scale into `conv` (bias-free, as every convolution here) and leave `bn` its
/// shift alone, for [`Norms::Folded`].
fn fold(conv: &mut Conv2d, bn: &mut BatchNorm) {
    let scale = bn.gamma.val() / (bn.running_var.value() + bn.epsilon).sqrt();
    let channels = scale.dims()[0];
    let per_output = scale.clone().reshape([channels, 1, 1, 1]);
    conv.weight = conv.weight.clone().map(|w| w * per_output);
    let shift = bn.beta.val() - bn.running_mean.value() * scale;
    bn.beta = bn.beta.clone().map(|_| shift);
}

/// Whether `bn` normalises over the batch on `device` (what [`BatchNorm::forward`] decides).
fn learns(bn: &BatchNorm, device: &Device) -> bool {
    device.is_autodiff() && bn.training.is_enabled()
}

impl Lite0Config {
    /// Lite0 with `classes` outputs and freshly initialised weights (to be overwritten by the
    /// pretrained ones), with room for a feature density over `density_width` features.
    pub fn init(&self, classes: usize, density_width: Option<usize>, device: &Device) -> Lite0 {
        let mut blocks = Vec::with_capacity(BLOCKS);
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
            fc: LinearConfig::new(HEAD, classes).init(device),
            density: density_width.map(|width| FeatureDensity::zeros(classes, width, device)),
            mask_head: None,
            mask_cells: MaskCells::Head,
            folded: false,
        }
    }

    /// Checks the settings and that `input_size` leaves at least one pixel after five halvings.
    pub fn validate(&self, input_size: usize) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout {} must be in [0, 1)", self.dropout));
        }
        if input_size < 32 {
            return Err(format!(
                "input_size {input_size} is too small for Lite0 (at least 32 pixels)"
            ));
        }
        Ok(())
    }
}

/// The input of each 1x1 convolution by the convolution's path in the module
/// (`blocks.3.project_conv`, `conv_head`), in the order the network runs them.
pub type PointwiseInputs = Vec<(String, Tensor<4>)>;

/// The side of the head's activations for an input of side `input_size`: five halvings, each
/// rounding up as TF's "SAME" padding does (4 at 128 pixels).
pub fn head_grid(input_size: usize) -> usize {
    (0..5).fold(input_size, |side, _| side.div_ceil(2))
}

/// Blocks that end a stage (the last block of each of [`STAGES`]).
fn stage_ends() -> [usize; 7] {
    let mut end = 0;
    STAGES.map(|(repeats, ..)| {
        end += repeats;
        end - 1
    })
}

/// The first block of the last stage that halves its input: from here on the network works at
/// 1/32 of the input, so [`Lite0::fine_maps`] runs it at stride 1.
fn last_halving() -> usize {
    let mut first = 0;
    let mut last = 0;
    for (repeats, _, stride, ..) in STAGES {
        if stride == 2 {
            last = first;
        }
        first += repeats;
    }
    last
}

/// `[batch, c, h, w]` to its four 2x2 phases stacked on the batch axis, `[4 * batch, c, h/2,
/// w/2]`, phase `(py, px)` (rows `py::2`, columns `px::2`) at rows `(2 * py + px) * batch ..`.
fn phases(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h / 2, 2, w / 2, 2])
        .permute([3, 5, 0, 1, 2, 4])
        .reshape([4 * b, c, h / 2, w / 2])
}

/// The inverse of [`phases`]: the four phases interleaved again.
fn interleave(x: Tensor<4>) -> Tensor<4> {
    let [b4, c, h, w] = x.dims();
    let b = b4 / 4;
    x.reshape([2, 2, b, c, h, w])
        .permute([2, 3, 4, 0, 5, 1])
        .reshape([b, c, 2 * h, 2 * w])
}

/// `[batch, c, h, w]` averaged over positions to `[batch, c]`.
fn pooled(maps: Tensor<4>) -> Tensor<2> {
    maps.mean_dim(3).mean_dim(2).flatten::<2>(1, 3)
}

impl Lite0 {
    /// Width of the pooled features, the classifier's input.
    pub const FEATURES: usize = HEAD;

    /// How this network's forward passes apply its batch norms outside training.
    fn norm_mode(&self) -> Norms<'static> {
        if self.folded {
            Norms::Folded
        } else {
            Norms::AsModules
        }
    }

    /// The same network for inference, each batch norm folded into the convolution before
    /// it: the convolution's weights scaled by `gamma / sqrt(var + eps)` per output channel and
    /// the norm left as a shift, `beta - mean * scale`. Outside training a norm is that affine
    /// map, so the answers are the same to float rounding, and each norm costs one addition
    /// over its activations instead of burn's four (subtract, divide, multiply, add): about a
    /// tenth of a pass of the network on the CPU (docs/throughput.md). Training, which needs
    /// the norms as they are, refuses a folded network; it is never stored.
    pub fn with_norms_folded(mut self) -> Self {
        if self.folded {
            return self;
        }
        fold(&mut self.conv_stem, &mut self.bn0);
        for block in &mut self.blocks {
            if let (Some(conv), Some(bn)) = (&mut block.expand_conv, &mut block.bn0) {
                fold(conv, bn);
            }
            fold(&mut block.depthwise_conv, &mut block.bn1);
            fold(&mut block.project_conv, &mut block.bn2);
        }
        fold(&mut self.conv_head, &mut self.bn1);
        self.folded = true;
        self
    }

    /// The same network with `f` applied to the depthwise kernels of block `first` on.
    pub fn map_depthwise(
        mut self,
        first: usize,
        mut f: impl FnMut(Tensor<4>) -> Tensor<4>,
    ) -> Self {
        for block in self.blocks.iter_mut().skip(first) {
            let weight = block.depthwise_conv.weight.clone();
            block.depthwise_conv.weight = weight.map(&mut f);
        }
        self
    }

    /// The head's activations before pooling, `[batch, 1280, h/32, w/32]`.
    pub fn maps(&self, images: Tensor<4>) -> Tensor<4> {
        self.maps_from(self.stem(images), 0)
    }

    /// The head's activations at 1/16 of the input, `[batch, 1280, h/16, w/16]`, for class
    /// activation maps finer than [`Self::maps`]' (4x4 cells at 128 pixels).
    ///
    /// The last block that halves (block 11) runs at stride 1, and the blocks after it run on
    /// each of the four 2x2 phases of its output, interleaved again at the end: how atrous
    /// convolution is computed (space to batch), with the network's own weights. The phase the
    /// halving would have kept (odd rows and columns, where TF's "SAME" padding centres a
    /// stride-2 window on an even grid) is [`Self::maps`] exactly; the other three are the
    /// same filters half a cell away. A 1/16 grid with an odd side (7 cells at 112 pixels)
    /// cannot be split into phases: [`Self::maps`] then.
    pub fn fine_maps(&self, images: Tensor<4>) -> Tensor<4> {
        let halving = last_halving();
        let mut x = self.stem(images);
        for block in &self.blocks[..halving] {
            x = block.forward_by(x, &mut self.norm_mode());
        }
        let [_, _, h, w] = x.dims();
        if h % 2 == 1 || w % 2 == 1 {
            return self.maps_from(x, halving);
        }
        let x = self.blocks[halving]
            .at_unit_stride()
            .forward_by(x, &mut self.norm_mode());
        interleave(self.maps_from(phases(x), halving + 1))
    }

    fn stem(&self, images: Tensor<4>) -> Tensor<4> {
        self.norm_mode()
            .apply_then(&self.bn0, dense(&self.conv_stem, images), Then::Relu6)
    }

    /// Blocks `first..` and the head's 1x1 convolution on `x`, the output of block `first - 1`.
    fn maps_from(&self, mut x: Tensor<4>, first: usize) -> Tensor<4> {
        let mut norms = self.norm_mode();
        for block in &self.blocks[first..] {
            x = block.forward_by(x, &mut norms);
        }
        norms.apply_then(&self.bn1, self.conv_head.forward(x), Then::Relu6)
    }

    /// What every 1x1 convolution receives for `images` (scaled as the network takes them):
    /// the statistics that 8-bit storage rounds its weights against (train-native's
    /// `quantise`).
    pub fn pointwise_inputs(&self, images: Tensor<4>) -> PointwiseInputs {
        let mut seen = Vec::with_capacity(2 * BLOCKS + 1);
        let mut x = self.stem(images);
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward_seen(x, &format!("blocks.{i}"), &mut seen, &mut self.norm_mode());
        }
        seen.push(("conv_head".to_string(), x));
        seen
    }

    /// [`Self::forward`] in training, the batch statistics of every norm being trained pushed
    /// onto `stats` and the running statistics left alone: several parts of a batch can run
    /// side by side this way, and [`Self::update_running_stats`] then folds their statistics in
    /// one fixed order (burn's running statistics, updated from several threads at once, would
    /// depend on which thread got there first).
    ///
    /// `keep` is the dropout's mask ([`Self::dropout_mask`]), drawn beforehand: parts drawing
    /// their own from the device's one random generator at once would get whichever numbers
    /// their thread reached first. The logits come with the mask head's, as
    /// [`Self::forward_with_mask`]'s.
    pub fn forward_gathering(
        &self,
        images: Tensor<4>,
        keep: Tensor<2>,
        stats: &mut NormStats,
    ) -> (Tensor<2>, Option<Tensor<4>>) {
        assert!(
            !self.folded,
            "a network with folded norms is for inference only"
        );
        let (maps, mask) = self.maps_and_mask(images, &mut Norms::Gathering(stats));
        (self.fc.forward(pooled(maps) * keep), mask)
    }

    /// [`Self::forward`] with the mask head's logits per cell of the activations it reads
    /// (`[batch, 1, h/32, w/32]` or `[batch, 1, h/16, w/16]`, [`MaskCells`]), when the network
    /// has one.
    pub fn forward_with_mask(&self, images: Tensor<4>) -> (Tensor<2>, Option<Tensor<4>>) {
        let (maps, mask) = self.maps_and_mask(images, &mut self.norm_mode());
        (self.fc.forward(self.dropout.forward(pooled(maps))), mask)
    }

    /// The head's activations ([`Self::maps`]) and the mask head's logits, its norms applied
    /// as `norms` says.
    fn maps_and_mask(
        &self,
        images: Tensor<4>,
        norms: &mut Norms,
    ) -> (Tensor<4>, Option<Tensor<4>>) {
        let reads_sixteenth = self.mask_cells == MaskCells::Sixteenth;
        let mut mask = None;
        let mut x = norms.apply_then(&self.bn0, dense(&self.conv_stem, images), Then::Relu6);
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward_by(x, norms);
            if reads_sixteenth && i + 1 == last_halving() {
                mask = self.mask_logits(&x);
            }
        }
        let maps = norms.apply_then(&self.bn1, self.conv_head.forward(x), Then::Relu6);
        if !reads_sixteenth {
            mask = self.mask_logits(&maps);
        }
        (maps, mask)
    }

    fn mask_logits(&self, activations: &Tensor<4>) -> Option<Tensor<4>> {
        self.mask_head
            .as_ref()
            .map(|head| head.forward(activations.clone()))
    }

    /// The same network with a fresh mask head (`train --mask-loss`) reading `cells`: a 1x1
    /// convolution with a bias from their channels to one logit per cell.
    pub fn with_mask_head(mut self, cells: MaskCells, device: &Device) -> Self {
        let config = Conv2dConfig::new([cells.channels(), 1], [1, 1]);
        self.mask_head = Some(config.init(device));
        self.mask_cells = cells;
        self
    }

    /// Whether the network carries a mask head ([`Self::with_mask_head`]).
    pub fn has_mask_head(&self) -> bool {
        self.mask_head.is_some()
    }

    /// The same network without its mask head: what is validated, exported and shipped.
    pub fn without_mask_head(mut self) -> Self {
        self.mask_head = None;
        self
    }

    /// A dropout mask for `batch` images on `device`, as the dropout layer draws one in
    /// training (each feature kept with probability `1 - p` and scaled by `1 / (1 - p)`; all
    /// ones outside training or at `p = 0`).
    pub fn dropout_mask(&self, batch: usize, device: &Device) -> Tensor<2> {
        let d = &self.dropout;
        let ones = Tensor::<2>::ones([batch, HEAD], device);
        if !d.training.is_enabled() || !device.is_autodiff() || d.prob == 0.0 {
            return ones;
        }
        let keep = 1.0 - d.prob;
        ones.random_like(burn::tensor::Distribution::Bernoulli(keep)) * (1.0 / keep)
    }

    /// Move each trained norm's running statistics towards the mean of `parts`' batch
    /// statistics (each from [`Self::forward_gathering`] on one part of a batch), as
    /// [`BatchNorm`] moves them towards one batch's: by its momentum.
    pub fn update_running_stats(&self, parts: &[NormStats]) -> Result<(), String> {
        let Some(device) = parts
            .first()
            .and_then(|p| p.first())
            .map(|(m, _)| m.device())
        else {
            return Ok(());
        };
        let learning: Vec<&BatchNorm> = self.norms().filter(|bn| learns(bn, &device)).collect();
        if let Some(part) = parts.iter().find(|p| p.len() != learning.len()) {
            return Err(format!(
                "{} batch statistics for {} norms being trained",
                part.len(),
                learning.len()
            ));
        }
        let share = 1.0 / parts.len() as f64;
        for (k, bn) in learning.into_iter().enumerate() {
            let mean = parts
                .iter()
                .map(|p| p[k].0.clone())
                .reduce(|a, b| a + b)
                .expect("parts");
            let var = parts
                .iter()
                .map(|p| p[k].1.clone())
                .reduce(|a, b| a + b)
                .expect("parts");
            let m = bn.momentum;
            for (state, batch) in [(&bn.running_mean, mean), (&bn.running_var, var)] {
                let running = state.value_sync().to_device(&device);
                let moved = running.mul_scalar(1.0 - m).add(batch.mul_scalar(share * m));
                state.update(moved.detach());
            }
        }
        Ok(())
    }

    /// Every batch norm in the order a forward pass applies them.
    fn norms(&self) -> impl Iterator<Item = &BatchNorm> {
        std::iter::once(&self.bn0)
            .chain(self.blocks.iter().flat_map(MbConv::norms))
            .chain(std::iter::once(&self.bn1))
    }

    /// Pooled features `[batch, 1280]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        pooled(self.maps(images))
    }

    /// Each stage's output and the head's averaged over positions (widths
    /// [`STAGE_WIDTHS`]), the head's (the classifier's input) last.
    pub fn stage_means(&self, images: Tensor<4>) -> Vec<Tensor<2>> {
        let ends = stage_ends();
        let mut means = Vec::with_capacity(STAGE_WIDTHS.len());
        let mut x = self.stem(images);
        let mut norms = self.norm_mode();
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward_by(x, &mut norms);
            if ends.contains(&i) {
                means.push(pooled(x.clone()));
            }
        }
        means.push(pooled(norms.apply_then(
            &self.bn1,
            self.conv_head.forward(x),
            Then::Relu6,
        )));
        means
    }

    /// Logits and every stage's pooled features laid end to end (no dropout outside training).
    pub fn outputs(&self, images: Tensor<4>) -> Outputs {
        head::outputs(self.stage_means(images), &self.dropout, &self.fc)
    }

    /// The classifier's weights `[classes, 1280]` and biases.
    pub fn head(&self) -> (Tensor<2>, Option<Tensor<1>>) {
        head::weights(&self.fc)
    }

    /// Add `offsets` to the classifier's biases (`head::with_offsets`).
    pub fn with_class_offsets(mut self, offsets: &[f32]) -> Self {
        self.fc = head::with_offsets(self.fc, offsets);
        self
    }

    /// The same network carrying `density`, fitted on its training features.
    pub fn with_density(mut self, density: Option<FeatureDensity>) -> Self {
        self.density = density;
        self
    }

    /// The feature density stored with the weights, if this is a shipped model.
    pub fn density(&self) -> Option<&FeatureDensity> {
        self.density.as_ref()
    }

    /// Normalised images `[batch, 3, h, w]` to logits `[batch, classes]` (dropout is active
    /// only on an autodiff device).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_with_mask(images).0
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

    /// The same backbone with a new, freshly initialised classifier of `classes` outputs behind
    /// `config`'s dropout: how the ImageNet network becomes a skin-lesion one.
    pub fn with_new_head(mut self, classes: usize, config: &Lite0Config, device: &Device) -> Self {
        self.fc = LinearConfig::new(HEAD, classes).init(device);
        self.dropout = DropoutConfig::new(config.dropout).init();
        self
    }
}

#[cfg(not(target_family = "wasm"))]
mod dense;
mod depthwise;
mod norm_pass;
mod relu6;
#[cfg(test)]
mod tests;
mod untracked;
