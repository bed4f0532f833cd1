//! The Rust half of the browser app, compiled only for `wasm32`.
//!
//! It is deliberately thin: [`WebClassifier`] wraps the crate's [`Classifier`](crate::Classifier),
//! so a photo dropped on the page goes through exactly the code that `train-native predict`
//! runs. The UI (the `<skin-lesion-classifier>` element), the worker that keeps inference off
//! the main thread and the report page are plain JavaScript in `web/`; everything numeric
//! happens here.

mod backend;
mod classifier;
mod error;

pub use backend::Backend;
pub use classifier::{WebClassifier, trap_for_tests};
pub use error::WebError;
