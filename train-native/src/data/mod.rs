//! Reading a data set (HAM10000's layout, or a folder per class): its records and classes, the
//! lesion-grouped split, the decoded-image cache and batches.

pub mod augment;
pub mod batch;
pub mod cache;
pub mod classes;
pub mod corrupt;
mod dataset;
pub mod image_folder;
pub mod isic;
pub mod masks;
pub mod metadata;
mod prepared;
mod record;
pub mod split;
mod table;

pub use dataset::Dataset;
pub use prepared::{Prepared, prepare};
pub use record::{Layout, LayoutKind, Record};
pub use split::{Split, SplitName};
