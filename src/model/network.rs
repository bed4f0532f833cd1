//! The network a model folder holds, whichever architecture its `config.json` names: one type
//! that training, native evaluation and the browser run, so that a second architecture is one
//! more variant here, not edits in every reader.
//!
//! Every architecture takes the project's standardised input ([`crate::preprocess::normalize`])
//! and gives logits plus pooled features. Lite0's ImageNet weights expect TensorFlow's scaling,
//! `(x - 127) / 128` on 0..255 RGB: [`Network`] converts to it first, so the one preprocessing
//! path stays as it is.

use std::ops::Range;

use burn::prelude::*;

use super::density::FeatureDensity;
use super::head::Outputs;
use super::lite0::{Lite0, MaskCells};
use super::net::LesionNet;
use super::views::{stack_views, sum_views};
use crate::preprocess::{MEAN, STD};

/// A classifier network. Saved and loaded through its variant's own record
/// ([`crate::weights`]), so a file's tensor names are the architecture's, without a prefix.
///
/// The variants differ in size by a few hundred bytes of layer headers (the tensors live on
/// the device); burn's `Module` has no impl for `Box`, and a network is built once per run.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Network {
    /// The from-scratch CNN.
    LesionNet(LesionNet),
    /// EfficientNet-Lite0, from ImageNet weights.
    Lite0(Lite0),
}

/// The project's standardised input `(p / 255 - MEAN) / STD` as TensorFlow's `(p - 127) / 128`.
fn tf_scaled(images: Tensor<4>) -> Tensor<4> {
    let device = images.device();
    let scale: [f32; 3] = std::array::from_fn(|c| 255.0 * STD[c] / 128.0);
    let shift: [f32; 3] = std::array::from_fn(|c| (255.0 * MEAN[c] - 127.0) / 128.0);
    let column =
        |v: [f32; 3]| Tensor::<1>::from_floats(v.as_slice(), &device).reshape([1, 3, 1, 1]);
    images * column(scale) + column(shift)
}

/// Why LesionNet cannot train on a batch in parts ([`Network::forward_gathering`]).
const PARTS_NEED_LITE0: &str = "only Lite0 trains on a batch in parts";

impl Network {
    /// The same network for inference, Lite0's batch norms folded into its convolutions
    /// ([`Lite0::with_norms_folded`]); LesionNet as it is.
    pub fn with_norms_folded(self) -> Self {
        match self {
            Self::LesionNet(net) => Self::LesionNet(net),
            Self::Lite0(net) => Self::Lite0(net.with_norms_folded()),
        }
    }

    /// Standardised images `[batch, 3, h, w]` to class logits (what training optimises:
    /// dropout is active on an autodiff device).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Self::LesionNet(net) => net.forward(images),
            Self::Lite0(net) => net.forward(tf_scaled(images)),
        }
    }

    /// [`Self::forward`] gathering the trained norms' batch statistics instead of updating
    /// their running statistics ([`Lite0::forward_gathering`]), so that parts of a batch can
    /// run side by side. Lite0 only: LesionNet's norms update as they go.
    pub fn forward_gathering(
        &self,
        images: Tensor<4>,
        keep: Tensor<2>,
        stats: &mut super::lite0::NormStats,
    ) -> Result<(Tensor<2>, Option<Tensor<4>>), String> {
        match self {
            Self::LesionNet(_) => Err(PARTS_NEED_LITE0.into()),
            Self::Lite0(net) => Ok(net.forward_gathering(tf_scaled(images), keep, stats)),
        }
    }

    /// [`Self::forward`] with the mask head's logits per cell when the network has one
    /// ([`Lite0::forward_with_mask`]).
    pub fn forward_with_mask(&self, images: Tensor<4>) -> (Tensor<2>, Option<Tensor<4>>) {
        match self {
            Self::LesionNet(net) => (net.forward(images), None),
            Self::Lite0(net) => net.forward_with_mask(tf_scaled(images)),
        }
    }

    /// The same network with a fresh, training-only mask head ([`Lite0::with_mask_head`]);
    /// Lite0 only.
    pub fn with_mask_head(self, cells: MaskCells, device: &Device) -> Result<Self, String> {
        match self {
            Self::LesionNet(_) => Err("only Lite0 trains with a mask loss".into()),
            Self::Lite0(net) => Ok(Self::Lite0(net.with_mask_head(cells, device))),
        }
    }

    /// Whether the network carries a mask head ([`Lite0::has_mask_head`]).
    pub fn has_mask_head(&self) -> bool {
        matches!(self, Self::Lite0(net) if net.has_mask_head())
    }

    /// The same network without a mask head ([`Lite0::without_mask_head`]).
    pub fn without_mask_head(self) -> Self {
        match self {
            Self::LesionNet(net) => Self::LesionNet(net),
            Self::Lite0(net) => Self::Lite0(net.without_mask_head()),
        }
    }

    /// The dropout mask of [`Self::forward_gathering`] for `batch` images
    /// ([`Lite0::dropout_mask`]).
    pub fn dropout_mask(&self, batch: usize, device: &Device) -> Result<Tensor<2>, String> {
        match self {
            Self::LesionNet(_) => Err(PARTS_NEED_LITE0.into()),
            Self::Lite0(net) => Ok(net.dropout_mask(batch, device)),
        }
    }

    /// Fold the batch statistics that [`Self::forward_gathering`] gathered on each part of a
    /// batch into the running statistics ([`Lite0::update_running_stats`]).
    pub fn update_running_stats(&self, parts: &[super::lite0::NormStats]) -> Result<(), String> {
        match self {
            Self::LesionNet(_) => Err(PARTS_NEED_LITE0.into()),
            Self::Lite0(net) => net.update_running_stats(parts),
        }
    }

    /// Logits and pooled features of each image, without dropout outside training.
    pub fn outputs(&self, images: Tensor<4>) -> Outputs {
        match self {
            Self::LesionNet(net) => net.outputs(images),
            Self::Lite0(net) => net.outputs(tf_scaled(images)),
        }
    }

    /// The sums of the logits and features over views `range` of each image
    /// ([`super::views`]): the whole average when `range` covers every view, or a part of it
    /// for splitting one photo's views between workers.
    pub fn view_sums(&self, images: Tensor<4>, range: Range<usize>) -> Outputs {
        let count = range.len();
        let out = self.outputs(stack_views(images, range));
        Outputs {
            logits: sum_views(out.logits, count),
            features: sum_views(out.features, count),
        }
    }

    /// The finest activations whose channels the head weighs, before their pooling: what a
    /// class activation map is made of (Lite0's at 1/16 of the input, [`Lite0::fine_maps`]).
    pub fn maps(&self, images: Tensor<4>) -> Tensor<4> {
        match self {
            Self::LesionNet(net) => net.maps(images),
            Self::Lite0(net) => net.fine_maps(tf_scaled(images)),
        }
    }

    /// The input of each 1x1 convolution by its path ([`Lite0::pointwise_inputs`]); `None` for
    /// LesionNet, which has no 8-bit storage.
    pub fn pointwise_inputs(&self, images: Tensor<4>) -> Option<super::lite0::PointwiseInputs> {
        match self {
            Self::LesionNet(_) => None,
            Self::Lite0(net) => Some(net.pointwise_inputs(tf_scaled(images))),
        }
    }

    /// The head's weights `[classes, channels]` and biases.
    pub fn head(&self) -> (Tensor<2>, Option<Tensor<1>>) {
        match self {
            Self::LesionNet(net) => net.head(),
            Self::Lite0(net) => net.head(),
        }
    }

    /// Add `offsets` to the classifier's biases: how decision thresholds chosen on validation
    /// are baked into the shipped weights.
    pub fn with_class_offsets(self, offsets: &[f32]) -> Self {
        match self {
            Self::LesionNet(net) => Self::LesionNet(net.with_class_offsets(offsets)),
            Self::Lite0(net) => Self::Lite0(net.with_class_offsets(offsets)),
        }
    }

    /// The same network carrying `density` (or none), fitted on its training features.
    pub fn with_density(self, density: Option<FeatureDensity>) -> Self {
        match self {
            Self::LesionNet(net) => Self::LesionNet(net.with_density(density)),
            Self::Lite0(net) => Self::Lite0(net.with_density(density)),
        }
    }

    /// The same network with a new classifier of `classes` outputs (Lite0's behind `dropout`):
    /// a trained network fine-tuned on another class list keeps everything but its head.
    pub fn with_new_head(self, classes: usize, dropout: f64, device: &Device) -> Self {
        match self {
            Self::LesionNet(net) => Self::LesionNet(net.with_new_head(classes, device)),
            Self::Lite0(net) => {
                let config = super::lite0::Lite0Config::new().with_dropout(dropout);
                Self::Lite0(net.with_new_head(classes, &config, device))
            }
        }
    }

    /// The same network with `f` applied to the depthwise kernels of block `first` on (the
    /// 8-bit storage's rounding); the from-scratch network has none and is returned as it is.
    pub fn map_depthwise(self, first: usize, f: impl FnMut(Tensor<4>) -> Tensor<4>) -> Self {
        match self {
            Self::LesionNet(net) => Self::LesionNet(net),
            Self::Lite0(net) => Self::Lite0(net.map_depthwise(first, f)),
        }
    }

    /// The feature density stored with the weights, if this is a shipped model.
    pub fn density(&self) -> Option<&FeatureDensity> {
        match self {
            Self::LesionNet(net) => net.density(),
            Self::Lite0(net) => net.density(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::normalize;

    #[test]
    fn a_new_head_answers_with_the_new_classes_over_the_same_features() {
        let device = Device::flex();
        let scratch = crate::LesionNetConfig::new()
            .with_base_width(4)
            .init(7, None, &device);
        let lite0 = crate::model::lite0::Lite0Config::new().init(7, None, &device);
        for net in [Network::LesionNet(scratch), Network::Lite0(lite0)] {
            let x =
                Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &device);
            let before = net.outputs(x.clone());
            let after = net.with_new_head(3, 0.2, &device).outputs(x);
            assert_eq!(after.logits.dims(), [2, 3]);
            let (a, b) = (before.features.into_data(), after.features.into_data());
            assert_eq!(a, b, "the layers below the head are kept");
        }
    }

    #[test]
    fn lite0_sees_what_tensorflow_would_feed_it() {
        let device = Device::flex();
        let image = image::RgbImage::from_fn(4, 2, |x, y| {
            image::Rgb([0, 127 + x as u8, 200 + y as u8 * 55])
        });
        let x = Tensor::<4>::from_data(TensorData::new(normalize(&image), [1, 3, 2, 4]), &device);
        let got = tf_scaled(x).into_data().try_into_vec_as::<f32>().unwrap();
        let want: Vec<f32> = (0..3)
            .flat_map(|c| image.pixels().map(move |p| (p[c] as f32 - 127.0) / 128.0))
            .collect();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "{g} vs {w}");
        }
    }
}
