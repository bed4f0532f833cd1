//! A data set: its records (one per photo, with its class and group) and its class list, read
//! from whichever layout the folder has: HAM10000's metadata CSV ([`super::metadata`]), an ISIC
//! ground-truth CSV ([`super::isic`]) or a folder per class ([`super::image_folder`]).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use skin_lesion::Patient;
use skin_lesion::model::ClassName;

use super::record::{LayoutKind, Record};
use super::{image_folder, isic, metadata};

/// The data set: every metadata row, each with its image file found, and its classes.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub root: PathBuf,
    pub records: Vec<Record>,
    /// The classes, in the order of the model's outputs.
    pub classes: Vec<ClassName>,
    pub kind: LayoutKind,
}

impl Dataset {
    /// Read the data set in `dir`: HAM10000's layout when `dir/HAM10000_metadata.csv` exists,
    /// an ISIC layout when a `*GroundTruth*.csv` does, else a folder per class. `classes` fixes
    /// the class list (and its order); without it the labels found make it
    /// ([`super::classes::resolve`]).
    pub fn load(dir: &Path, classes: Option<&[ClassName]>) -> Result<Self> {
        if !dir.is_dir() {
            bail!(metadata::download_hint(dir));
        }
        let layout = if dir.join(metadata::METADATA_FILE).is_file() {
            metadata::load(dir, classes)?
        } else if let Some(truth) = isic::ground_truth_file(dir)? {
            isic::load(dir, &truth, classes)?
        } else if metadata::looks_like_ham10000(dir) {
            bail!(
                "{} is missing.\n{}",
                dir.join(metadata::METADATA_FILE).display(),
                metadata::download_hint(dir)
            );
        } else {
            image_folder::load(dir, classes)?
        };
        Ok(Self {
            root: dir.to_path_buf(),
            records: layout.records,
            classes: layout.classes,
            kind: layout.kind,
        })
    }

    /// HAM10000 itself: its layout and its seven classes (the model card then cites it).
    pub fn is_ham10000(&self) -> bool {
        self.kind == LayoutKind::Ham10000 && self.classes == skin_lesion::model::ham10000_classes()
    }

    /// The model card's line on the data: HAM10000's citation, or the layout and folder.
    pub fn description(&self) -> String {
        let counts = format!(
            "{} images of {} lesions",
            self.records.len(),
            self.lesion_count()
        );
        if self.is_ham10000() {
            format!("HAM10000 (Tschandl et al. 2018, doi:10.1038/sdata.2018.161), {counts}")
        } else {
            let name = self.root.file_name().unwrap_or_default().to_string_lossy();
            format!("{name} ({}), {counts}", self.kind.describe())
        }
    }

    /// The data's licence where the trainer knows it (HAM10000's), else a note that it does not.
    pub fn licence(&self) -> String {
        if self.is_ham10000() {
            "CC BY-NC-SA 4.0".into()
        } else {
            "not recorded: the data's own".into()
        }
    }

    /// The class codes, in the order of the model's outputs.
    pub fn codes(&self) -> Vec<String> {
        self.classes.iter().map(|c| c.code.clone()).collect()
    }

    /// The first `limit` records only, when a limit is given (quick experiments).
    pub fn limited(mut self, limit: Option<usize>) -> Self {
        if let Some(n) = limit {
            self.records.truncate(n);
        }
        self
    }

    /// Distinct lesions.
    pub fn lesion_count(&self) -> usize {
        self.records
            .iter()
            .map(|r| &r.lesion_id)
            .collect::<std::collections::HashSet<_>>()
            .len()
    }

    /// A digest of what a model trained on this data set learns from: every record's lesion,
    /// image, class and file size, in order. A checkpoint keeps it, so that `--resume` on
    /// changed data is refused rather than silently mixing two data sets.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for r in &self.records {
            let size = std::fs::metadata(&r.path).map_or(0, |m| m.len());
            hash.update(
                format!("{}\t{}\t{}\t{size}\n", r.lesion_id, r.image_id, r.label).as_bytes(),
            );
        }
        format!("{:x}", hash.finalize())
    }

    /// The class of each of `indices`.
    pub fn labels(&self, indices: &[usize]) -> Vec<usize> {
        indices.iter().map(|&i| self.records[i].label).collect()
    }

    /// The patient data of each of `indices`.
    pub fn patients(&self, indices: &[usize]) -> Vec<Patient> {
        indices.iter().map(|&i| self.records[i].patient).collect()
    }

    /// Images per class, in model order.
    pub fn class_counts(&self, indices: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for i in indices {
            counts[self.records[i].label] += 1;
        }
        counts
    }
}
