//! Decoded, resized images kept on disk so that epochs and runs do not re-decode JPEGs.
//!
//! The cache holds exactly what [`skin_lesion::preprocess::square_resize`] makes of each photo
//! (the shared preprocessing up to the final crop). Its file name carries a key over the
//! preprocessing version, the resize side and every image's path, size and modification
//! time, so changing the data or the preprocessing simply misses the old cache.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use skin_lesion::preprocess;

use super::Record;

/// Bump when the decoding or resizing code changes in a way that alters pixels.
pub const PREPROCESS_VERSION: u32 = 1;

/// Every record's `side` x `side` RGB square, in record order.
pub struct ImageCache {
    pub side: usize,
    pixels: Vec<u8>,
}

impl ImageCache {
    /// The RGB bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.side * self.side * 3;
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Image `i` as an `RgbImage`.
    pub fn rgb(&self, i: usize) -> image::RgbImage {
        image::RgbImage::from_raw(self.side as u32, self.side as u32, self.image(i).to_vec()).expect("cache image size")
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / (self.side * self.side * 3)
    }

    /// Load the cache for `records` from `dir`, building it (in parallel) when missing or stale.
    /// With `dir = None` nothing is read or written.
    pub fn load_or_build(records: &[Record], side: usize, dir: Option<&Path>) -> Result<Self> {
        let path = match dir {
            Some(dir) => Some(dir.join(format!("ham-{}-{side}px.rgb", key(records, side)?))),
            None => None,
        };
        if let Some(path) = &path {
            if let Ok(pixels) = std::fs::read(path) {
                if pixels.len() == records.len() * side * side * 3 {
                    return Ok(Self { side, pixels });
                }
                eprintln!("warning: ignoring damaged image cache {}", path.display());
            }
        }
        let cache = Self::build(records, side)?;
        if let Some(path) = &path {
            cache.save(path)?;
        }
        Ok(cache)
    }

    fn build(records: &[Record], side: usize) -> Result<Self> {
        let bar = ProgressBar::new(records.len() as u64).with_style(
            ProgressStyle::with_template("decoding {bar:40} {pos}/{len} images ({per_sec}, ETA {eta})").expect("template"),
        );
        let squares: Vec<Vec<u8>> = records
            .par_iter()
            .map(|r| {
                let bytes = std::fs::read(&r.path).with_context(|| format!("cannot read {}", r.path.display()))?;
                let image = preprocess::decode(&bytes)
                    .with_context(|| format!("{}: cannot decode {} (metadata line {})", r.path.display(), r.image_id, r.line))?;
                bar.inc(1);
                Ok(preprocess::square_resize(&image, side as u32).into_raw())
            })
            .collect::<Result<_>>()?;
        bar.finish_and_clear();
        Ok(Self { side, pixels: squares.concat() })
    }

    /// Write atomically: a crash mid-write never leaves a truncated cache behind.
    fn save(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(&self.pixels)?;
        tmp.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

/// A key that changes whenever the images, their order or the preprocessing change.
fn key(records: &[Record], side: usize) -> Result<String> {
    let mut hash = Sha256::new();
    hash.update(PREPROCESS_VERSION.to_le_bytes());
    hash.update((side as u64).to_le_bytes());
    for r in records {
        let meta = std::fs::metadata(&r.path).with_context(|| format!("cannot stat {}", r.path.display()))?;
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
        hash.update(r.path.to_string_lossy().as_bytes());
        hash.update(meta.len().to_le_bytes());
        hash.update(mtime.to_le_bytes());
    }
    let digest = format!("{:x}", hash.finalize());
    Ok(digest[..16].to_string())
}

/// The default cache folder: beside the training runs, out of git.
pub fn default_dir() -> PathBuf {
    crate::paths::workspace().join("train-native/runs/cache")
}

/// Refuse a cache side the model cannot use.
pub fn check_side(side: usize) -> Result<()> {
    if side == 0 || side > 1024 {
        bail!("image cache side {side} is out of range");
    }
    Ok(())
}
