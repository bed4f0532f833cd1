//! The one CNN definition used by training, native evaluation and the browser.

mod block;
pub mod density;
pub mod lite0;
mod net;
mod stem;
pub mod views;

pub use block::ConvBlock;
pub use net::{LesionNet, LesionNetConfig, Outputs, limits};
pub use stem::Stem;
