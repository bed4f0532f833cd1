//! Reading HAM10000: metadata, the lesion-grouped split, the decoded-image cache and batches.

pub mod augment;
pub mod batch;
pub mod cache;
pub mod corrupt;
pub mod metadata;
mod prepared;
pub mod split;

pub use metadata::{Dataset, Record};
pub use prepared::{Prepared, prepare};
pub use split::{Split, SplitName};
