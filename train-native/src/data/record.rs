//! One photo of a data set, and what a layout reads: below the data set and its layouts, so
//! that each layout can build records without knowing the others.

use std::path::PathBuf;

use skin_lesion::Patient;
use skin_lesion::model::ClassName;

/// One image of the data set.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub lesion_id: String,
    pub image_id: String,
    /// Index into the data set's [`super::Dataset::classes`].
    pub label: usize,
    /// The image file.
    pub path: PathBuf,
    /// 1-based line of the metadata CSV the record came from.
    pub line: u64,
    /// Age, sex and body site where the CSV has them (`age`, `sex`, `localization`);
    /// missing columns and values it does not know are unknown.
    pub patient: Patient,
}

/// What a layout reads: the records and the class list.
pub struct Layout {
    pub records: Vec<Record>,
    pub classes: Vec<ClassName>,
    pub kind: LayoutKind,
}

/// Which layout a data set was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutKind {
    /// `HAM10000_metadata.csv` ([`super::metadata`]).
    Ham10000,
    /// An ISIC ground-truth CSV ([`super::isic`]).
    Isic,
    /// A folder per class ([`super::image_folder`]).
    ImageFolder,
}

impl LayoutKind {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Ham10000 => "HAM10000's metadata layout",
            Self::Isic => "an ISIC ground-truth CSV",
            Self::ImageFolder => "a folder per class",
        }
    }
}
