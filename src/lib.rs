//! Everything the trainer and the browser must agree on, in one crate.
//!
//! The classifier is only trustworthy if the photo a person drops on the page goes through the
//! exact same decoding, cropping and normalisation as the photos the network was trained and
//! evaluated on, and through the exact same network. So this crate owns the class list, the
//! CNN, the preprocessing, the weights format and the metrics; `train-native` and the wasm app
//! are thin shells around it.

pub mod classes;
pub mod inference;
pub mod metrics;
pub mod model;
pub mod preprocess;
pub mod report;
pub mod weights;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use classes::{CLASSES, Class, NUM_CLASSES};
pub use inference::{Classifier, Prediction};
pub use model::{LesionNet, LesionNetConfig};
