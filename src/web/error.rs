//! Errors handed to JavaScript as `Error` objects whose `name` says whose fault it was.
//!
//! The worker decides what to do from the name: an `InputError` is the photo's problem (tell the
//! person, keep the model), a `BackendError` is the GPU's (fall back to the CPU and retry), a
//! `ModelError` is the weights' (nothing will work until they are fixed). Every fallible call
//! of the wasm API returns a [`WebError`], converted to JavaScript in one place.

use thiserror::Error;
use wasm_bindgen::JsValue;

use crate::InferenceError;
use crate::preprocess::PreprocessError;
use crate::weights::WeightsError;

/// What went wrong, as far as the caller needs to know.
#[derive(Debug, Error)]
pub enum WebError {
    /// The photo cannot be classified (corrupt, empty, too large, not an image), or the caller
    /// passed something that is not a photo or a valid request.
    #[error("{0}")]
    Input(String),
    /// The device failed (WebGPU unavailable or lost).
    #[error("{0}")]
    Backend(String),
    /// The model files are wrong (config.json or model.bpk), or the model produced NaN.
    #[error("{0}")]
    Model(String),
}

impl WebError {
    fn name(&self) -> &'static str {
        match self {
            Self::Input(_) => "InputError",
            Self::Backend(_) => "BackendError",
            Self::Model(_) => "ModelError",
        }
    }
}

impl From<PreprocessError> for WebError {
    fn from(error: PreprocessError) -> Self {
        Self::Input(error.to_string())
    }
}

impl From<WeightsError> for WebError {
    fn from(error: WeightsError) -> Self {
        Self::Model(error.to_string())
    }
}

impl From<InferenceError> for WebError {
    fn from(error: InferenceError) -> Self {
        match error {
            InferenceError::Input(e) => e.into(),
            InferenceError::Request(m) => Self::Input(m),
            InferenceError::NonFinite(e) => Self::Model(e.to_string()),
            InferenceError::Backend(m) => Self::Backend(m),
        }
    }
}

/// A JavaScript `Error` with `name` set from the kind.
impl From<WebError> for JsValue {
    fn from(error: WebError) -> Self {
        let js = js_sys::Error::new(&error.to_string());
        js.set_name(error.name());
        js.into()
    }
}
