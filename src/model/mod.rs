//! The network definitions used by training, native evaluation and the browser, one per
//! architecture, behind the one [`Network`] type.

mod block;
mod config;
pub mod density;
mod head;
pub mod lite0;
mod net;
mod network;
mod stem;
pub mod views;

pub use block::ConvBlock;
pub use config::{
    CONFIG_FORMAT, ClassName, DescribedClass, MAX_CLASSES, MAX_INPUT, MAX_RESIZE, ModelConfig,
    NetworkConfig, PreprocessConfig, ham10000_classes, validate_classes,
};
pub use head::Outputs;
pub use net::{LesionNet, LesionNetConfig, limits};
pub use network::Network;
pub use stem::Stem;
