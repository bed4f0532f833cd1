//! Classify photos with a loaded model: the same code path natively and in the browser.

use burn::prelude::*;
use image::RgbImage;
use serde::Serialize;

use crate::preprocess::{self, PreprocessError};
use crate::weights::{self, WeightsError};
use crate::{CLASSES, LesionNet, LesionNetConfig, NUM_CLASSES};

/// The model's answer for one photo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Softmax probabilities in [`CLASSES`] order.
    pub probabilities: [f32; NUM_CLASSES],
}

impl Prediction {
    /// Index of the most probable class.
    pub fn top_index(&self) -> usize {
        argmax(&self.probabilities)
    }

    /// `dx` code of the most probable class.
    pub fn top(&self) -> &'static str {
        CLASSES[self.top_index()].code
    }
}

/// Index of the largest value (the first one on ties).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// A model ready to classify photos on one device.
#[derive(Debug)]
pub struct Classifier {
    model: LesionNet,
    config: LesionNetConfig,
    device: Device,
}

impl Classifier {
    /// Wrap an already loaded model (on a device without autodiff).
    pub fn new(model: LesionNet, config: LesionNetConfig, device: Device) -> Self {
        Self { model, config, device }
    }

    /// Load from `config.json` text and burnpack weights.
    pub fn from_bytes(config_json: &str, weights: &[u8], device: Device) -> Result<Self, WeightsError> {
        let config = weights::config_from_json(config_json)?;
        let model = weights::from_bytes(&config, weights, &device)?;
        Ok(Self::new(model, config, device))
    }

    /// The architecture config.
    pub fn config(&self) -> &LesionNetConfig {
        &self.config
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The network itself.
    pub fn model(&self) -> &LesionNet {
        &self.model
    }

    /// Classify an encoded photo.
    pub fn classify_bytes(&self, bytes: &[u8]) -> Result<Prediction, PreprocessError> {
        let input = preprocess::preprocess(bytes, &self.config)?;
        Ok(self.classify_batch(&input, 1).remove(0))
    }

    /// Classify a decoded photo.
    pub fn classify_image(&self, image: &RgbImage) -> Prediction {
        self.classify_batch(&preprocess::prepare(image, &self.config), 1).remove(0)
    }

    /// Classify `batch` preprocessed inputs laid end to end.
    pub fn classify_batch(&self, inputs: &[f32], batch: usize) -> Vec<Prediction> {
        let probabilities = self.probabilities(inputs, batch);
        probabilities
            .chunks_exact(NUM_CLASSES)
            .map(|p| Prediction { probabilities: p.try_into().expect("NUM_CLASSES wide") })
            .collect()
    }

    /// Softmax outputs for `batch` preprocessed inputs, flat (`batch * NUM_CLASSES`), from the
    /// logits averaged over the config's test-time views.
    ///
    /// Reads the result back synchronously, which a browser's WebGPU cannot do: the wasm app
    /// uses [`Self::probabilities_async`].
    pub fn probabilities(&self, inputs: &[f32], batch: usize) -> Vec<f32> {
        let output = self.model.probabilities_views(self.input_tensor(inputs, batch), self.config.views());
        output.into_data().convert::<f32>().try_to_vec::<f32>().expect("f32 output")
    }

    /// [`Self::probabilities`] with an asynchronous read-back, for WebGPU in the browser.
    /// A failed read-back (a lost GPU device, say) is an error in words, not a panic.
    pub async fn probabilities_async(&self, inputs: &[f32], batch: usize) -> Result<Vec<f32>, String> {
        let output = self.model.probabilities_views(self.input_tensor(inputs, batch), self.config.views());
        let data = output.into_data_async().await.map_err(|e| e.to_string())?;
        Ok(data.convert::<f32>().try_to_vec::<f32>().expect("f32 output"))
    }

    /// The summed logits (`NUM_CLASSES` of them) of views `range` of one preprocessed input
    /// ([`crate::model::views`]). Two workers can each compute part of a photo's views; adding
    /// their sums and passing them to [`Self::from_logit_sum`] gives what [`Self::probabilities`]
    /// gives, up to float rounding.
    pub async fn logit_sum_async(&self, input: &[f32], range: std::ops::Range<usize>) -> Result<Vec<f32>, String> {
        self.check_views(&range)?;
        let output = self.model.logit_sum(self.input_tensor(input, 1), range);
        let data = output.into_data_async().await.map_err(|e| e.to_string())?;
        Ok(data.convert::<f32>().try_to_vec::<f32>().expect("f32 output"))
    }

    /// Whether `range` is a non-empty run of this model's views.
    pub fn check_views(&self, range: &std::ops::Range<usize>) -> Result<(), String> {
        if range.is_empty() || range.end > self.config.views() {
            return Err(format!("views {range:?} are not within this model's {} views", self.config.views()));
        }
        Ok(())
    }

    /// The prediction from the logits of all the config's views summed (softmax of their mean).
    pub fn from_logit_sum(&self, sum: &[f32; NUM_CLASSES]) -> Prediction {
        let views = self.config.views() as f32;
        let mean: Vec<f32> = sum.iter().map(|s| s / views).collect();
        let max = mean.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = mean.iter().map(|m| (m - max).exp()).collect();
        let total: f32 = exp.iter().sum();
        Prediction { probabilities: std::array::from_fn(|c| exp[c] / total) }
    }

    /// Classify one preprocessed input with an asynchronous read-back.
    pub async fn classify_async(&self, input: &[f32]) -> Result<Prediction, String> {
        let probabilities = self.probabilities_async(input, 1).await?;
        Ok(Prediction { probabilities: probabilities.try_into().expect("NUM_CLASSES wide") })
    }

    fn input_tensor(&self, inputs: &[f32], batch: usize) -> Tensor<4> {
        let size = self.config.input_size;
        assert_eq!(inputs.len(), batch * 3 * size * size, "inputs do not hold {batch} images");
        Tensor::<4>::from_data(TensorData::new(inputs.to_vec(), [batch, 3, size, size]), &self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_split_in_two_give_the_probabilities_of_all_of_them() {
        let device = Device::flex();
        let config = LesionNetConfig::new().with_base_width(4).with_input_size(32).with_resize_size(32).with_test_time_views(Some(8));
        let classifier = Classifier::new(config.init(&device), config, device);
        let input: Vec<f32> = (0..3 * 32 * 32).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
        let whole = classifier.probabilities(&input, 1);
        let (a, b) = (
            ready_now(classifier.logit_sum_async(&input, 0..4)).unwrap(),
            ready_now(classifier.logit_sum_async(&input, 4..8)).unwrap(),
        );
        let sum: [f32; NUM_CLASSES] = std::array::from_fn(|c| a[c] + b[c]);
        let split = classifier.from_logit_sum(&sum).probabilities;
        for (x, y) in whole.iter().zip(&split) {
            assert!((x - y).abs() < 1e-6, "{whole:?} vs {split:?}");
        }
        assert!(ready_now(classifier.logit_sum_async(&input, 6..9)).is_err());
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
