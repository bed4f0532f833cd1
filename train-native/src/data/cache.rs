//! Decoded, resized images kept on disk so that epochs and runs do not re-decode JPEGs.
//!
//! The cache holds exactly what [`skin_lesion::preprocess::Decoded::square`] makes of each
//! photo (the shared preprocessing up to the final crop). Its file name carries a key over
//! everything that changes those pixels: a version number bumped with the preprocessing code,
//! what the linked decoder and resizer make of a reference photo (so a new `image` or JPEG
//! decoder release misses the old cache even if nobody bumps anything), the resize side, and
//! every image's path, size, modification time and inode.

use std::path::Path;
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use skin_lesion::preprocess;

use super::{Dataset, Record};
use crate::cli::PathArgs;
use crate::fsutil::write_atomic;
use crate::paths;

/// Bump when the decoding or resizing code changes in a way that alters pixels.
pub const PREPROCESS_VERSION: u32 = 3;

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
        image::RgbImage::from_raw(self.side as u32, self.side as u32, self.image(i).to_vec())
            .expect("cache image size")
    }

    /// The cache for a data set, honouring `--cache-dir` / `--no-cache`.
    pub fn for_dataset(dataset: &Dataset, paths: &PathArgs, side: usize) -> Result<Self> {
        if side == 0 || side > skin_lesion::model::MAX_RESIZE {
            bail!("image cache side {side} is out of range");
        }
        let dir = if paths.no_cache {
            None
        } else {
            Some(
                paths
                    .cache_dir
                    .clone()
                    .unwrap_or_else(paths::default_cache_dir),
            )
        };
        Self::load_or_build(&dataset.records, side, dir.as_deref())
    }

    /// Load the cache for `records` from `dir`, building it (in parallel) when missing or stale.
    /// With `dir = None` nothing is read or written. A cache that cannot be written is a
    /// warning: training goes on with the images in memory.
    pub fn load_or_build(records: &[Record], side: usize, dir: Option<&Path>) -> Result<Self> {
        let path = match dir {
            Some(dir) => Some(dir.join(format!("ham-{}-{side}px.rgb", key(records, side)?))),
            None => None,
        };
        if let Some(path) = &path
            && let Ok(pixels) = std::fs::read(path)
        {
            if pixels.len() == records.len() * side * side * 3 {
                return Ok(Self { side, pixels });
            }
            eprintln!("warning: ignoring damaged image cache {}", path.display());
        }
        let cache = Self::build(records, side)?;
        if let Some(path) = &path
            && let Err(e) = write_atomic(path, &cache.pixels)
        {
            eprintln!(
                "warning: the decoded images could not be cached ({e:#}); they will be decoded again next run"
            );
        }
        Ok(cache)
    }

    fn build(records: &[Record], side: usize) -> Result<Self> {
        let bar = ProgressBar::new(records.len() as u64).with_style(
            ProgressStyle::with_template(
                "decoding {bar:40} {pos}/{len} images ({per_sec}, ETA {eta})",
            )
            .expect("template"),
        );
        let squares: Vec<Vec<u8>> = records
            .par_iter()
            .map(|r| {
                let bytes = std::fs::read(&r.path)
                    .with_context(|| format!("cannot read {}", r.path.display()))?;
                let image = preprocess::decode(&bytes).with_context(|| {
                    format!(
                        "{}: cannot decode {} (metadata line {})",
                        r.path.display(),
                        r.image_id,
                        r.line
                    )
                })?;
                bar.inc(1);
                Ok(image.square(side as u32).into_raw())
            })
            .collect::<Result<_>>()?;
        bar.finish_and_clear();
        Ok(Self {
            side,
            pixels: squares.concat(),
        })
    }
}

/// A key that changes whenever the images, their order or the preprocessing change.
fn key(records: &[Record], side: usize) -> Result<String> {
    let mut hash = Sha256::new();
    hash.update(PREPROCESS_VERSION.to_le_bytes());
    hash.update((side as u64).to_le_bytes());
    hash.update(reference_pixels(side));
    for r in records {
        let meta = std::fs::metadata(&r.path)
            .with_context(|| format!("cannot stat {}", r.path.display()))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        hash.update(r.path.to_string_lossy().as_bytes());
        hash.update(meta.len().to_le_bytes());
        hash.update(mtime.to_le_bytes());
        hash.update(inode(&meta).to_le_bytes());
    }
    let digest = format!("{:x}", hash.finalize());
    Ok(digest[..16].to_string())
}

/// What the linked decoder and resizer make of a fixed JPEG with EXIF-free 4:2:0 chroma: a
/// fingerprint of the code that produces the cached pixels.
fn reference_pixels(side: usize) -> Vec<u8> {
    const REFERENCE: &[u8] = include_bytes!("../../../src/web/warmup.jpg");
    let image = preprocess::decode(REFERENCE).expect("the reference JPEG decodes");
    image.square(side as u32).into_raw()
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of one small photo written in `dir`.
    fn one_photo(dir: &Path) -> Record {
        let path = dir.join("ISIC_1.jpg");
        image::RgbImage::from_pixel(30, 20, image::Rgb([200, 100, 50]))
            .save(&path)
            .unwrap();
        Record {
            lesion_id: "HAM_1".into(),
            image_id: "ISIC_1".into(),
            label: 0,
            path,
            line: 2,
            patient: skin_lesion::Patient::UNKNOWN,
        }
    }

    #[test]
    fn an_unwritable_cache_folder_is_a_warning_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let record = one_photo(dir.path());
        // A file where the cache folder should be: nothing can be written below it.
        let blocked = dir.path().join("not-a-folder");
        std::fs::write(&blocked, b"x").unwrap();
        let cache = ImageCache::load_or_build(&[record], 16, Some(&blocked.join("cache"))).unwrap();
        assert_eq!(cache.image(0).len(), 16 * 16 * 3);
    }

    #[test]
    fn the_key_follows_the_file_and_the_side() {
        let dir = tempfile::tempdir().unwrap();
        let record = one_photo(dir.path());
        let photo = record.path.clone();
        let first = key(std::slice::from_ref(&record), 16).unwrap();
        assert_ne!(first, key(std::slice::from_ref(&record), 17).unwrap());
        // Replaced by another file (a new inode, size or time), the key changes.
        let other = dir.path().join("other.jpg");
        image::RgbImage::from_pixel(31, 20, image::Rgb([10, 100, 50]))
            .save(&other)
            .unwrap();
        std::fs::rename(&other, &photo).unwrap();
        assert_ne!(first, key(&[record], 16).unwrap());
    }
}
