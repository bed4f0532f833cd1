//! The model as JavaScript sees it: load once, classify encoded photos or raw RGBA pixels.

use std::rc::Rc;

use js_sys::{Float32Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::backend::{self, Backend};
use super::error::{ErrorKind, js_error};
use crate::{CLASSES, Classifier, preprocess};

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
