//! Classify photos with a loaded model: the same code path natively and in the browser.
//!
//! One path for every caller: [`Classifier::prepare`] turns a photo into the network's input,
//! [`Classifier::view_sums`] runs some or all of its views, and [`Classifier::answer`] turns the
//! sums over all views into an [`Answer`]. [`Classifier::classify`] does the three in a row;
//! the browser splits the middle step between two workers on the CPU.

use std::ops::Range;

use burn::prelude::*;
use thiserror::Error;

use crate::answer::{self, Answer, AnswerConfig, NonFinite};
use crate::model::Outputs;
use crate::model::density::Mahalanobis;
use crate::preprocess::{self, PreprocessError};
use crate::saliency::MapSums;
use crate::weights::{self, WeightsError};
use crate::{ModelConfig, Network};

/// A photo as the caller has it.
#[derive(Debug, Clone, Copy)]
pub enum Photo<'a> {
    /// A JPEG, PNG, WebP, BMP or GIF file's bytes.
    Encoded(&'a [u8]),
    /// Raw pixels (`ImageData`'s layout: `width * height * 4` bytes, RGBA).
    Rgba {
        width: u32,
        height: u32,
        pixels: &'a [u8],
    },
}

/// Why a photo could not be classified, by whose fault it is.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum InferenceError {
    /// The photo cannot be used (corrupt, empty, too large, not an image).
    #[error(transparent)]
    Input(#[from] PreprocessError),
    /// The caller asked for something this model cannot do (views it does not have, an input
    /// of the wrong size).
    #[error("{0}")]
    Request(String),
    /// The model produced NaN or infinite numbers.
    #[error(transparent)]
    NonFinite(#[from] NonFinite),
    /// The device failed (a lost GPU, a failed read-back).
    #[error("the device failed: {0}")]
    Backend(String),
}

/// The sums of a photo's logits and pooled features over some of its views: what one worker
/// computes, and, added up over all views, what [`Classifier::answer`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewSums {
    /// How many views were summed.
    pub views: usize,
    /// One per class of the model.
    pub logits: Vec<f32>,
    pub features: Vec<f32>,
}

impl ViewSums {
    /// Add another part's sums (of other views of the same photo).
    pub fn add(&mut self, other: &ViewSums) -> Result<(), InferenceError> {
        if other.features.len() != self.features.len() || other.logits.len() != self.logits.len() {
            return Err(InferenceError::Request(
                "view sums of different models".into(),
            ));
        }
        self.views += other.views;
        self.logits
            .iter_mut()
            .zip(&other.logits)
            .for_each(|(a, b)| *a += b);
        self.features
            .iter_mut()
            .zip(&other.features)
            .for_each(|(a, b)| *a += b);
        Ok(())
    }

    /// The mean logits and features over the summed views.
    pub fn means(&self) -> (Vec<f32>, Vec<f32>) {
        let scale = 1.0 / self.views.max(1) as f32;
        let mean = |values: &[f32]| values.iter().map(|v| v * scale).collect();
        (mean(&self.logits), mean(&self.features))
    }

    /// `[views, logits.., features..]`: one flat array for handing between workers.
    pub fn to_flat(&self) -> Vec<f32> {
        let mut flat = Vec::with_capacity(1 + self.logits.len() + self.features.len());
        flat.push(self.views as f32);
        flat.extend_from_slice(&self.logits);
        flat.extend_from_slice(&self.features);
        flat
    }

    /// The inverse of [`Self::to_flat`], for a model of `classes` classes.
    pub fn from_flat(flat: &[f32], classes: usize) -> Result<Self, InferenceError> {
        let bad = || InferenceError::Request(format!("{} numbers are not view sums", flat.len()));
        if flat.len() <= 1 + classes || !(1.0..=8.0).contains(&flat[0]) || flat[0].fract() != 0.0 {
            return Err(bad());
        }
        Ok(Self {
            views: flat[0] as usize,
            logits: flat[1..=classes].to_vec(),
            features: flat[1 + classes..].to_vec(),
        })
    }
}

/// The most photo views one pass of the network takes natively: larger passes of Lite0 ran
/// slower, for the memory their activations move (docs/throughput.md, "Passes").
pub const FORWARD_IMAGES: usize = 32;

/// A model ready to classify photos on one device.
#[derive(Debug)]
pub struct Classifier {
    model: Network,
    config: ModelConfig,
    device: Device,
    density: Option<Mahalanobis>,
}

impl Classifier {
    /// Wrap a model loaded on the CPU (its feature density, if any, is read back from it).
    pub fn new(model: Network, config: ModelConfig, device: Device) -> Self {
        let density = model.density().map(|d| d.to_scorer());
        Self {
            model: model.with_norms_folded(),
            config,
            device,
            density,
        }
    }

    /// Load a model folder's `config.json` text and `model.bpk` bytes, checking that they were
    /// exported together and that every tensor fits the architecture.
    pub fn from_files(
        config_json: &str,
        weights: &[u8],
        device: Device,
    ) -> Result<Self, WeightsError> {
        let config = weights::config_for(config_json, weights)?;
        // The density is read back synchronously, which only the CPU can do in a browser: load
        // there first, then move the network to the target device if that is another (only
        // f32 tensors travel: 8-bit weights are dequantised on the CPU).
        let on_cpu = weights::from_bytes(&config, weights, &Device::flex())?;
        let density = on_cpu.density().map(|d| d.to_scorer());
        let on_cpu = on_cpu.with_norms_folded();
        let model = if device == Device::flex() {
            on_cpu
        } else {
            on_cpu.to_device(&device)
        };
        Ok(Self {
            model,
            config,
            device,
            density,
        })
    }

    /// The same network and answer settings answering from the first `views` of its views
    /// only (view 0 is the photo as given): how the robustness suite measures twelve
    /// corruptions in a quarter of the time (`train-native`'s `robustness::SUITE_VIEWS`).
    /// Refuses no views, or more than the model has.
    pub fn with_views(&self, views: usize) -> Result<Self, InferenceError> {
        self.check_views(&(0..views))?;
        let mut config = self.config.clone();
        config.preprocess.test_time_views = views;
        Ok(Self {
            model: self.model.clone(),
            config,
            device: self.device.clone(),
            density: self.density.clone(),
        })
    }

    /// The architecture and answer settings.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// How many classes the model answers with (`config.json`'s list).
    pub fn classes(&self) -> usize {
        self.config.classes.len()
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The network itself.
    pub fn model(&self) -> &Network {
        &self.model
    }

    /// Numbers in one prepared input (`3 * input_size²`).
    pub fn input_len(&self) -> usize {
        3 * self.config.preprocess.input_size * self.config.preprocess.input_size
    }

    /// Decode (if encoded) and preprocess a photo into the network's input.
    pub fn prepare(&self, photo: Photo) -> Result<Vec<f32>, PreprocessError> {
        let image = match photo {
            Photo::Encoded(bytes) => preprocess::decode(bytes)?,
            Photo::Rgba {
                width,
                height,
                pixels,
            } => preprocess::from_rgba(width, height, pixels)?,
        };
        Ok(preprocess::prepare(&image, &self.config.preprocess))
    }

    /// Refuse a range that is not a non-empty run of this model's views.
    pub fn check_views(&self, range: &Range<usize>) -> Result<(), InferenceError> {
        if range.is_empty() || range.end > self.config.preprocess.test_time_views {
            return Err(InferenceError::Request(format!(
                "views {range:?} are not within this model's {} views",
                self.config.preprocess.test_time_views
            )));
        }
        Ok(())
    }

    /// Sums over views `range` for `batch` prepared inputs laid end to end. Reads the result
    /// back synchronously, which a browser's WebGPU cannot do: see [`Self::view_sums_async`].
    ///
    /// The network runs on at most [`FORWARD_IMAGES`] views of photos at a time, whatever the
    /// batch: the answers do not depend on it, and a larger pass only moves more memory.
    pub fn view_sums(
        &self,
        inputs: &[f32],
        batch: usize,
        range: Range<usize>,
    ) -> Result<Vec<ViewSums>, InferenceError> {
        if batch == 0 || !inputs.len().is_multiple_of(batch) {
            return Err(InferenceError::Request(format!(
                "{} numbers are not {batch} prepared inputs",
                inputs.len()
            )));
        }
        let per_pass = Self::photos_per_pass(range.len());
        let input_len = inputs.len() / batch;
        let mut sums = Vec::with_capacity(batch);
        for chunk in inputs.chunks(per_pass * input_len) {
            let (outputs, count) = self.run(chunk, chunk.len() / input_len, range.clone())?;
            let logits = outputs.logits.try_into_data().map_err(backend)?;
            let features = outputs.features.try_into_data().map_err(backend)?;
            sums.extend(split(logits, features, count, self.classes())?);
        }
        Ok(sums)
    }

    /// How many photos [`Self::view_sums`] puts in one pass of the network at `views` views
    /// each: at most [`FORWARD_IMAGES`] views, at least one photo. A caller that runs passes
    /// side by side cuts its batch at these boundaries to compute the same sums.
    pub fn photos_per_pass(views: usize) -> usize {
        (FORWARD_IMAGES / views.max(1)).max(1)
    }

    /// [`Self::view_sums`] for one input with an asynchronous read-back (WebGPU in a browser).
    pub async fn view_sums_async(
        &self,
        input: &[f32],
        range: Range<usize>,
    ) -> Result<ViewSums, InferenceError> {
        let (outputs, count) = self.run(input, 1, range)?;
        let logits = outputs.logits.into_data_async().await.map_err(backend)?;
        let features = outputs.features.into_data_async().await.map_err(backend)?;
        let mut sums = split(logits, features, count, self.classes())?;
        Ok(sums.remove(0))
    }

    fn run(
        &self,
        inputs: &[f32],
        batch: usize,
        range: Range<usize>,
    ) -> Result<(Outputs, usize), InferenceError> {
        self.check_views(&range)?;
        let x = self.input(inputs, batch)?;
        let count = range.len();
        Ok((self.model.view_sums(x, range), count))
    }

    /// `batch` prepared inputs as a tensor on the model's device.
    fn input(&self, inputs: &[f32], batch: usize) -> Result<Tensor<4>, InferenceError> {
        let size = self.config.preprocess.input_size;
        if inputs.len() != batch * self.input_len() || batch == 0 {
            return Err(InferenceError::Request(format!(
                "{} numbers are not {batch} prepared inputs of {} each",
                inputs.len(),
                self.input_len()
            )));
        }
        let data = TensorData::new(inputs.to_vec(), [batch, 3, size, size]);
        Ok(Tensor::<4>::from_data(data, &self.device))
    }

    /// The answer from sums over all of this model's views.
    pub fn answer(&self, sums: &ViewSums) -> Result<Answer, InferenceError> {
        let views = self.config.preprocess.test_time_views;
        if sums.views != views
            || sums.features.len() != self.config.feature_width()
            || sums.logits.len() != self.classes()
        {
            return Err(InferenceError::Request(format!(
                "sums over {} views of {} classes and {} features are not this model's {views} views of {} and {}",
                sums.views,
                sums.logits.len(),
                sums.features.len(),
                self.classes(),
                self.config.feature_width()
            )));
        }
        let (logits, features) = sums.means();
        Ok(answer::answer(
            &self.answer_config(),
            logits,
            &features,
            self.density.as_ref(),
        )?)
    }

    /// The answer settings in force (neutral for an uncalibrated model).
    pub fn answer_config(&self) -> AnswerConfig {
        self.config.answer_config()
    }

    /// Where the network looked for `class` in one prepared input: its class activation map
    /// over every view ([`crate::saliency`]), `input_size²` values in [0, 1], row-major over
    /// the crop the network saw. Reads back synchronously: see [`Self::saliency_sums_async`].
    pub fn saliency(&self, input: &[f32], class: usize) -> Result<Vec<f32>, InferenceError> {
        let views = 0..self.saliency_views();
        self.saliency_map(&self.saliency_sums(input, class, views)?)
    }

    /// How many of the model's views a saliency map averages: all of them, up to
    /// [`crate::model::views::SALIENCY_VIEWS`].
    pub fn saliency_views(&self) -> usize {
        self.config
            .preprocess
            .test_time_views
            .min(crate::model::views::SALIENCY_VIEWS)
    }

    /// The class activation map of `class` summed over views `range` of one prepared input.
    pub fn saliency_sums(
        &self,
        input: &[f32],
        class: usize,
        range: Range<usize>,
    ) -> Result<MapSums, InferenceError> {
        let (map, views) = self.class_map_sum(input, class, range)?;
        let [_, _, grid, _] = map.dims();
        let data = map.try_into_data().map_err(backend)?;
        map_sums(data, views, grid)
    }

    /// [`Self::saliency_sums`] with an asynchronous read-back (WebGPU in a browser).
    pub async fn saliency_sums_async(
        &self,
        input: &[f32],
        class: usize,
        range: Range<usize>,
    ) -> Result<MapSums, InferenceError> {
        let (map, views) = self.class_map_sum(input, class, range)?;
        let [_, _, grid, _] = map.dims();
        let data = map.into_data_async().await.map_err(backend)?;
        map_sums(data, views, grid)
    }

    /// The map from sums over every one of the [`Self::saliency_views`], scaled to [0, 1]
    /// and interpolated to `input_size²` values ([`crate::saliency::upsample`]).
    pub fn saliency_map(&self, sums: &MapSums) -> Result<Vec<f32>, InferenceError> {
        let views = self.saliency_views();
        if sums.views != views {
            return Err(InferenceError::Request(format!(
                "saliency sums over {} views are not this model's {views} saliency views",
                sums.views
            )));
        }
        if sums.cells.iter().any(|v| !v.is_finite()) {
            return Err(NonFinite("NaN").into());
        }
        Ok(crate::saliency::upsample(
            &sums.cells,
            sums.grid,
            self.config.preprocess.input_size,
        ))
    }

    fn class_map_sum(
        &self,
        input: &[f32],
        class: usize,
        range: Range<usize>,
    ) -> Result<(Tensor<4>, usize), InferenceError> {
        if class >= self.classes() {
            return Err(InferenceError::Request(format!(
                "there is no class {class}"
            )));
        }
        self.check_views(&range)?;
        let x = self.input(input, 1)?;
        let views = range.len();
        Ok((
            crate::saliency::class_map_sum(&self.model, x, class, range),
            views,
        ))
    }

    /// Classify one photo (natively; the browser uses [`Self::view_sums_async`]).
    pub fn classify(&self, photo: Photo) -> Result<Answer, InferenceError> {
        let input = self.prepare(photo)?;
        let mut answers = self.classify_batch(&input, 1)?;
        Ok(answers.remove(0))
    }

    /// Answers for `batch` prepared inputs laid end to end, over all views.
    pub fn classify_batch(
        &self,
        inputs: &[f32],
        batch: usize,
    ) -> Result<Vec<Answer>, InferenceError> {
        let sums = self.view_sums(inputs, batch, 0..self.config.preprocess.test_time_views)?;
        sums.iter().map(|s| self.answer(s)).collect()
    }
}

/// A read-back `[1, 1, grid, grid]` class activation map as [`MapSums`] over `views` views.
fn map_sums(data: TensorData, views: usize, grid: usize) -> Result<MapSums, InferenceError> {
    let cells = data.try_into_vec_as::<f32>().map_err(backend)?;
    Ok(MapSums { views, grid, cells })
}

/// A failed read-back (a lost GPU device, say): an error in words, not a panic.
fn backend<E: std::fmt::Debug>(error: E) -> InferenceError {
    InferenceError::Backend(format!("cannot read the outputs: {error:?}"))
}

/// Per-image [`ViewSums`] from `[batch, classes]` logits and `[batch, width]` features.
fn split(
    logits: TensorData,
    features: TensorData,
    views: usize,
    classes: usize,
) -> Result<Vec<ViewSums>, InferenceError> {
    let logits = logits.try_into_vec_as::<f32>().map_err(backend)?;
    let features = features.try_into_vec_as::<f32>().map_err(backend)?;
    let batch = logits.len() / classes.max(1);
    let width = features.len() / batch.max(1);
    Ok(logits
        .chunks_exact(classes.max(1))
        .zip(features.chunks_exact(width.max(1)))
        .map(|(l, f)| ViewSums {
            views,
            logits: l.to_vec(),
            features: f.to_vec(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier() -> Classifier {
        let device = Device::flex();
        let config = ModelConfig::new(
            crate::LesionNetConfig::new().with_base_width(4),
            crate::PreprocessConfig::new()
                .with_input_size(32)
                .with_resize_size(32),
        );
        Classifier::new(config.init(&device), config, device)
    }

    fn input(len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect()
    }

    #[test]
    fn views_split_in_two_give_the_answer_of_all_of_them() {
        let classifier = classifier();
        let input = input(classifier.input_len());
        let whole = classifier.classify_batch(&input, 1).unwrap().remove(0);
        let mut sums = ready_now(classifier.view_sums_async(&input, 0..4)).unwrap();
        let second = ready_now(classifier.view_sums_async(&input, 4..8)).unwrap();
        // Through the flat form the workers exchange.
        sums.add(&ViewSums::from_flat(&second.to_flat(), 7).unwrap())
            .unwrap();
        let split = classifier.answer(&sums).unwrap();
        for (x, y) in whole.probabilities.iter().zip(&split.probabilities) {
            assert!((x - y).abs() < 1e-6, "{whole:?} vs {split:?}");
        }
        assert!((whole.ood_score - split.ood_score).abs() < 1e-4);
        // Part of the views is not an answer, and views beyond the model's are refused.
        let part = ready_now(classifier.view_sums_async(&input, 0..4)).unwrap();
        assert!(matches!(
            classifier.answer(&part),
            Err(InferenceError::Request(_))
        ));
        assert!(ready_now(classifier.view_sums_async(&input, 6..9)).is_err());
        assert!(classifier.view_sums(&input[1..], 1, 0..1).is_err());
    }

    #[test]
    fn fewer_views_answer_from_the_first_of_them() {
        let classifier = classifier();
        let input = input(classifier.input_len());
        let one = classifier.with_views(1).unwrap();
        assert_eq!(one.config().preprocess.test_time_views, 1);
        let from_one = one.classify_batch(&input, 1).unwrap().remove(0);
        // The same as the first view's sums answered by the whole model's settings.
        let sums = classifier.view_sums(&input, 1, 0..1).unwrap().remove(0);
        let direct = one.answer(&sums).unwrap();
        assert_eq!(from_one.probabilities, direct.probabilities);
        let all = classifier.classify_batch(&input, 1).unwrap().remove(0);
        assert_ne!(from_one.probabilities, all.probabilities);
        assert!(classifier.with_views(0).is_err());
        assert!(classifier.with_views(9).is_err());
    }

    #[test]
    fn a_saliency_map_averages_at_most_the_first_four_views() {
        let classifier = classifier();
        assert_eq!(classifier.config().preprocess.test_time_views, 8);
        assert_eq!(classifier.saliency_views(), 4);
        let input = input(classifier.input_len());
        let map = classifier.saliency(&input, 2).unwrap();
        let four = classifier.saliency_sums(&input, 2, 0..4).unwrap();
        assert_eq!(map, classifier.saliency_map(&four).unwrap());
        // Sums over all eight views are not what a map is made of.
        let eight = classifier.saliency_sums(&input, 2, 0..8).unwrap();
        assert!(classifier.saliency_map(&eight).is_err());
        // A model of fewer views maps all of them.
        let two = classifier.with_views(2).unwrap();
        assert_eq!(two.saliency_views(), 2);
    }

    #[test]
    fn flat_sums_are_checked() {
        assert!(ViewSums::from_flat(&[1.0; 5], 7).is_err());
        assert!(ViewSums::from_flat(&[9.0; 20], 7).is_err());
        assert!(ViewSums::from_flat(&[1.5; 20], 7).is_err());
        let sums = ViewSums {
            views: 2,
            logits: vec![1.0; 7],
            features: vec![0.5; 4],
        };
        assert_eq!(ViewSums::from_flat(&sums.to_flat(), 7).unwrap(), sums);
    }

    /// The flex backend's read-back is ready at once: poll the future a single time.
    fn ready_now<T>(future: impl std::future::Future<Output = T>) -> T {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(value) => value,
            std::task::Poll::Pending => panic!("the CPU read-back should not wait"),
        }
    }
}
