//! `train-native`: train the skin-lesion CNN on HAM10000, evaluate it and classify photos.
//!
//! The binary is a thin shell over these modules; they are a library so the integration tests
//! can drive the data loader and the CLI alike.

pub mod allocator;
pub mod answer_fit;
pub mod backend;
pub mod checkpoint;
pub mod cli;
pub mod commands;
pub mod data;
pub mod export;
pub mod fsutil;
pub mod intervals;
pub mod linalg;
pub mod model_files;
pub mod offsets;
pub mod paths;
pub mod plots;
pub mod pretrained;
pub mod printout;
pub mod quantise;
pub mod robustness;
pub mod sampler;
pub mod score;
