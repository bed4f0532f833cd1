//! Errors handed to JavaScript as `Error` objects whose `name` says whose fault it was.
//!
//! The worker decides what to do from the name: an `InputError` is the photo's problem (tell the
//! person, keep the model), a `BackendError` is the GPU's (fall back to the CPU and retry), a
//! `ModelError` is the weights' (nothing will work until they are fixed).

use wasm_bindgen::JsValue;

/// What went wrong, as far as the caller needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The photo cannot be classified (corrupt, empty, too large, not an image).
    Input,
    /// The device failed (WebGPU unavailable or lost).
    Backend,
    /// The model files are wrong (config.json or model.bpk).
    Model,
}

impl ErrorKind {
    fn name(self) -> &'static str {
        match self {
            Self::Input => "InputError",
            Self::Backend => "BackendError",
            Self::Model => "ModelError",
        }
    }
}

/// A JavaScript `Error` with `name` set from `kind`.
pub fn js_error(kind: ErrorKind, message: impl AsRef<str>) -> JsValue {
    let error = js_sys::Error::new(message.as_ref());
    error.set_name(kind.name());
    error.into()
}
