//! The one CNN definition used by training, native evaluation and the browser.

mod block;
mod config;
pub mod density;
pub mod lite0;
mod net;
mod stem;
pub mod views;

pub use block::ConvBlock;
pub use config::{
    CONFIG_FORMAT, ClassName, MAX_INPUT, MAX_RESIZE, ModelConfig, NetworkConfig, PreprocessConfig,
    ham10000_classes,
};
pub use net::{LesionNet, LesionNetConfig, Outputs, limits};
pub use stem::Stem;
