//! The subcommands of `train-native`, one module each. They sit above everything else in the
//! crate: the modules beside `commands/` never call into a command.

pub mod evaluate;
pub mod explain;
pub mod plot;
pub mod predict;
pub mod recalibrate;
pub mod train;
