//! Everything the trainer and the browser must agree on, in one crate.
//!
//! The classifier is only trustworthy if the photo a person drops on the page goes through the
//! exact same decoding, cropping and normalisation as the photos the network was trained and
//! evaluated on, and through the exact same network and the same rules for what to answer. So
//! this crate owns the class list, the CNN, the preprocessing, the weights format, the answer
//! (calibration, "unsure", out of distribution), the training recipe and the metrics;
//! `train-native` and the wasm app are thin shells around it.

pub mod answer;
pub mod classes;
pub mod inference;
pub mod metrics;
pub mod model;
pub mod patient;
pub mod preprocess;
pub mod report;
pub mod saliency;
pub mod training;
#[cfg(target_arch = "wasm32")]
pub mod web;
pub mod weights;

pub use answer::Answer;
pub use classes::{CLASSES, Class};
pub use inference::{Classifier, InferenceError, Photo, ViewSums};
pub use model::{
    LesionNet, LesionNetConfig, ModelConfig, Network, NetworkConfig, PreprocessConfig,
};
pub use patient::Patient;
pub use training::TrainingConfig;
