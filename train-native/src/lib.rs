//! `train-native`: train the skin-lesion CNN on HAM10000, evaluate it and classify photos.
//!
//! The binary is a thin shell over these modules; they are a library so the integration tests
//! can drive the data loader and the CLI alike.

pub mod backend;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod evaluate;
pub mod explain;
pub mod export;
pub mod fsutil;
pub mod honest;
pub mod intervals;
pub mod model_files;
pub mod offsets;
pub mod paths;
pub mod plots;
pub mod predict;
pub mod robustness;
pub mod sampler;
pub mod train;
