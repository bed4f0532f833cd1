//! The model as JavaScript sees it: load once, classify encoded photos or raw RGBA pixels.

use std::rc::Rc;

use js_sys::{Float32Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::backend::{self, Backend};
use super::error::{ErrorKind, js_error};
use crate::{CLASSES, Classifier, NUM_CLASSES, preprocess};

/// A loaded, warmed-up model on one backend.
#[wasm_bindgen]
pub struct WebClassifier {
    // Shared with the futures of in-flight classifications, which outlive `&self`.
    inner: Rc<Classifier>,
    backend: Backend,
}

#[wasm_bindgen]
impl WebClassifier {
    /// Build the network from `config.json` text and burnpack weights on `backend`
    /// (`"webgpu"` or `"cpu"`), check every tensor's shape, and run it once so that shader
    /// compilation and buffer allocation happen now rather than on the first photo.
    pub async fn load(config_json: String, weights: Vec<u8>, backend: String) -> Result<WebClassifier, JsValue> {
        let backend = Backend::parse(&backend).map_err(|m| js_error(ErrorKind::Backend, m))?;
        let device = backend::device(backend).await.map_err(|m| js_error(ErrorKind::Backend, m))?;
        let classifier =
            Classifier::from_bytes(&config_json, &weights, device).map_err(|e| js_error(ErrorKind::Model, e.to_string()))?;
        warm_up(&classifier).await?;
        Ok(Self { inner: Rc::new(classifier), backend })
    }

    /// `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.name().to_string()
    }

    /// Classify an encoded photo (JPEG, PNG, WebP, BMP, GIF): resolves to a `Float32Array` of the
    /// seven probabilities in [`classes`] order.
    #[wasm_bindgen(js_name = classifyEncoded)]
    pub fn classify_encoded(&self, bytes: Vec<u8>) -> Promise {
        let classifier = Rc::clone(&self.inner);
        future_to_promise(async move {
            let input = preprocess::preprocess(&bytes, classifier.config())
                .map_err(|e| js_error(ErrorKind::Input, e.to_string()))?;
            run(&classifier, &input).await
        })
    }

    /// How many flips/rotations of a photo the model averages (`test_time_views`).
    #[wasm_bindgen(getter)]
    pub fn views(&self) -> usize {
        self.inner.config().views()
    }

    /// Decode and preprocess an encoded photo into the network's input, for
    /// [`Self::logit_sum`]: the first half of a classification split between two workers.
    #[wasm_bindgen(js_name = prepareEncoded)]
    pub fn prepare_encoded(&self, bytes: &[u8]) -> Result<Float32Array, JsValue> {
        let input = preprocess::preprocess(bytes, self.inner.config()).map_err(|e| js_error(ErrorKind::Input, e.to_string()))?;
        Ok(Float32Array::from(&input[..]))
    }

    /// [`Self::prepare_encoded`] for raw RGBA pixels.
    #[wasm_bindgen(js_name = prepareRgba)]
    pub fn prepare_rgba(&self, width: u32, height: u32, rgba: &[u8]) -> Result<Float32Array, JsValue> {
        let image = preprocess::from_rgba(width, height, rgba).map_err(|e| js_error(ErrorKind::Input, e.to_string()))?;
        Ok(Float32Array::from(&preprocess::prepare(&image, self.inner.config())[..]))
    }

    /// Resolves to the summed logits of views `first .. first + count` of a prepared input.
    #[wasm_bindgen(js_name = logitSum)]
    pub fn logit_sum(&self, input: Vec<f32>, first: usize, count: usize) -> Promise {
        let classifier = Rc::clone(&self.inner);
        future_to_promise(async move {
            let expected = 3 * classifier.config().input_size.pow(2);
            if input.len() != expected {
                return Err(js_error(ErrorKind::Input, format!("a prepared input holds {expected} numbers, not {}", input.len())));
            }
            let range = first..first + count;
            // Checked here too so that a bad range is the caller's InputError, not the backend's.
            classifier.check_views(&range).map_err(|m| js_error(ErrorKind::Input, m))?;
            let sum = classifier.logit_sum_async(&input, range).await.map_err(|m| js_error(ErrorKind::Backend, m))?;
            Ok(Float32Array::from(&sum[..]).into())
        })
    }

    /// The seven probabilities from logit sums that together cover every view once, laid end
    /// to end (seven numbers per part), added in order.
    pub fn combine(&self, sums: &[f32]) -> Result<Float32Array, JsValue> {
        if sums.is_empty() || sums.len() % NUM_CLASSES != 0 {
            return Err(js_error(ErrorKind::Input, format!("{} numbers are not whole logit sums", sums.len())));
        }
        let mut total = [0.0f32; NUM_CLASSES];
        for part in sums.chunks_exact(NUM_CLASSES) {
            for (t, v) in total.iter_mut().zip(part) {
                *t += v;
            }
        }
        Ok(Float32Array::from(&self.inner.from_logit_sum(&total).probabilities[..]))
    }

    /// Classify raw pixels (`ImageData`'s layout: `width * height * 4` bytes, RGBA).
    #[wasm_bindgen(js_name = classifyRgba)]
    pub fn classify_rgba(&self, width: u32, height: u32, rgba: Vec<u8>) -> Promise {
        let classifier = Rc::clone(&self.inner);
        future_to_promise(async move {
            let image = preprocess::from_rgba(width, height, &rgba).map_err(|e| js_error(ErrorKind::Input, e.to_string()))?;
            run(&classifier, &preprocess::prepare(&image, classifier.config())).await
        })
    }
}

/// A small synthetic JPEG (a blurred brown blob on skin tone, not a HAM10000 photo).
const WARM_UP_JPEG: &[u8] = include_bytes!("warmup.jpg");

/// Run the whole path once, decoder included: the browser compiles wasm functions lazily and
/// optimises them after their first calls, and WebGPU compiles its shaders on first use. Without
/// this the first photo took 7 times as long as the next ones on the CPU backend.
async fn warm_up(classifier: &Classifier) -> Result<(), JsValue> {
    let input = preprocess::preprocess(WARM_UP_JPEG, classifier.config()).map_err(|e| js_error(ErrorKind::Model, e.to_string()))?;
    classifier.classify_async(&input).await.map_err(|m| js_error(ErrorKind::Backend, m))?;
    Ok(())
}

async fn run(classifier: &Classifier, input: &[f32]) -> Result<JsValue, JsValue> {
    let prediction = classifier.classify_async(input).await.map_err(|m| js_error(ErrorKind::Backend, m))?;
    Ok(Float32Array::from(&prediction.probabilities[..]).into())
}

/// The seven classes in model order: `[{code, name, description}]`.
#[wasm_bindgen]
pub fn classes() -> Result<JsValue, JsValue> {
    serde_wasm_bindgen::to_value(&CLASSES).map_err(|e| js_error(ErrorKind::Model, e.to_string()))
}
