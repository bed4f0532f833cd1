//! One photo of a data set, and what a layout reads: below the data set and its layouts, so
//! that each layout can build records without knowing the others.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use rayon::prelude::*;

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

/// `records` without the photos that cannot be read or are not usable images (the decoder's
/// checks on the header: [`skin_lesion::preprocess::check`]), each named on stderr with their
/// count: a folder of one's own photos often holds a few broken files, and they should not stop
/// a run (HAM10000's own layout stays strict: a broken file there is a broken download).
pub fn readable(records: Vec<Record>, dir: &Path) -> Result<Vec<Record>> {
    let total = records.len();
    let usable: Vec<Record> = records
        .into_par_iter()
        .filter(|r| {
            let ok = std::fs::read(&r.path)
                .ok()
                .is_some_and(|bytes| skin_lesion::preprocess::check(&bytes).is_ok());
            if !ok {
                eprintln!(
                    "warning: skipped {}: not a readable image",
                    r.path.display()
                );
            }
            ok
        })
        .collect();
    if usable.is_empty() {
        bail!("{}: no photo could be decoded", dir.display());
    }
    if usable.len() < total {
        eprintln!(
            "warning: {} of {total} photos in {} could not be decoded and were skipped",
            total - usable.len(),
            dir.display()
        );
    }
    Ok(usable)
}
