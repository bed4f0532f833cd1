//! The out-of-distribution picture set (`train-native/ood/`): pictures that are not
//! dermatoscopy photos, built by `train-native/ood/build.py` into `train-native/runs/ood`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

/// One row of `train-native/ood/manifest.csv`.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    pub id: String,
    pub kind: String,
    pub split: String,
    pub source: String,
    pub member: String,
    pub licence: String,
}

/// A picture of the set, read from disk.
pub struct Picture {
    pub id: String,
    pub kind: String,
    pub bytes: Vec<u8>,
}

/// The manifest that lists the set.
pub fn manifest_path() -> PathBuf {
    crate::paths::workspace().join("train-native/ood/manifest.csv")
}

/// The pictures of one part (`dev` or `report`) found in `dir`, or `None` when the set has
/// not been built there. A listed picture that is missing is an error: a partial set would
/// give figures that look like the whole set's.
pub fn load(dir: &Path, part: &str) -> Result<Option<Vec<Picture>>> {
    if !dir.join(part).is_dir() {
        return Ok(None);
    }
    let manifest = manifest_path();
    let mut reader = csv::Reader::from_path(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let mut pictures = Vec::new();
    for entry in reader.deserialize::<Entry>() {
        let entry = entry.with_context(|| format!("{} is malformed", manifest.display()))?;
        if entry.split != part {
            continue;
        }
        let path = dir.join(part).join(format!("{}.png", entry.id));
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "{} is missing: run train-native/ood/build.py again",
                path.display()
            )
        })?;
        pictures.push(Picture {
            id: entry.id,
            kind: entry.kind,
            bytes,
        });
    }
    Ok(Some(pictures))
}
