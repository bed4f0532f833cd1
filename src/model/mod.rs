//! The one CNN definition used by training, native evaluation and the browser.

mod block;
mod net;
mod stem;
pub mod views;

pub use block::ConvBlock;
pub use net::{LesionNet, LesionNetConfig};
pub use stem::Stem;
