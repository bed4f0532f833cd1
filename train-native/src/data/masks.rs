//! HAM10000's lesion masks (`masks_200x150/<image_id>_segmentation.png`, white on the lesion):
//! framed as their photos are, for scoring the saliency maps and as a second training target
//! (`train --mask-loss`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use image::{GrayImage, Rgb, RgbImage};
use rayon::prelude::*;
use skin_lesion::preprocess::square_resize;

use super::Record;

/// The folder of HAM10000's lesion masks below the data folder.
pub const MASKS_DIR: &str = "masks_200x150";

/// A mask pixel at least this grey is on the lesion (the data set's README).
pub const ON_LESION: u8 = 128;

/// `<data>/masks_200x150/<image_id>_segmentation.png`, if it exists.
pub fn mask_path(root: &Path, record: &Record) -> Option<PathBuf> {
    let path = root
        .join(MASKS_DIR)
        .join(format!("{}_segmentation.png", record.image_id));
    path.exists().then_some(path)
}

/// The mask at `path` through its photo's framing (the central square resized to `side`), as
/// grey levels; threshold at [`ON_LESION`] after any further crop or resize.
pub fn mask_square(path: &Path, side: u32) -> Result<GrayImage> {
    let gray = image::open(path)
        .with_context(|| format!("cannot read the mask {}", path.display()))?
        .to_luma8();
    // The photos' own resize (an RgbImage's), so that mask and photo line up to the pixel.
    let rgb = RgbImage::from_fn(gray.width(), gray.height(), |x, y| {
        let v = gray.get_pixel(x, y)[0];
        Rgb([v, v, v])
    });
    let square = square_resize(&rgb, side);
    Ok(GrayImage::from_fn(side, side, |x, y| {
        image::Luma([square.get_pixel(x, y)[0]])
    }))
}

/// The framed masks of some records, in memory (a few seconds to build for HAM10000's
/// training photos; 20 KB each at 144 pixels).
pub struct MaskCache {
    side: u32,
    /// Each record's slot in `pixels`, for the records given to [`Self::build`].
    slots: Vec<Option<usize>>,
    pixels: Vec<u8>,
}

impl MaskCache {
    /// The masks of `records[i]` for each `i` in `indices`, framed at `side`: every one must
    /// exist, since a photo without one would train on no target.
    pub fn build(records: &[Record], indices: &[usize], root: &Path, side: u32) -> Result<Self> {
        let missing: Vec<&str> = indices
            .iter()
            .filter(|&&i| mask_path(root, &records[i]).is_none())
            .map(|&i| records[i].image_id.as_str())
            .collect();
        if let Some(first) = missing.first() {
            bail!(
                "--mask-loss needs a lesion mask for every training photo, but {} of {} have none in {} (the first: {first}_segmentation.png)",
                missing.len(),
                indices.len(),
                root.join(MASKS_DIR).display()
            );
        }
        let squares: Vec<GrayImage> = indices
            .par_iter()
            .map(|&i| {
                let path = mask_path(root, &records[i]).expect("checked above");
                mask_square(&path, side)
            })
            .collect::<Result<_>>()?;
        let mut slots = vec![None; records.len()];
        for (slot, &i) in indices.iter().enumerate() {
            slots[i] = Some(slot);
        }
        let pixels = squares.into_iter().flat_map(GrayImage::into_raw).collect();
        Ok(Self {
            side,
            slots,
            pixels,
        })
    }

    /// The framed mask of record `i`, if it was built.
    pub fn mask(&self, i: usize) -> Option<GrayImage> {
        let n = (self.side * self.side) as usize;
        let slot = self.slots.get(i).copied().flatten()?;
        GrayImage::from_raw(self.side, self.side, self.pixels[slot * n..][..n].to_vec())
    }
}

/// The share of each of `grid` x `grid` cells of `mask` on the lesion, row by row: the target
/// of the mask head, whose cells tile the network's input as its last activations do (cell
/// `k` covers pixels `k * side / grid` up to `(k + 1) * side / grid`).
pub fn cell_shares(mask: &GrayImage, grid: usize) -> Vec<f32> {
    let side = mask.width() as usize;
    let edge = |k: usize| k * side / grid;
    let mut shares = Vec::with_capacity(grid * grid);
    for row in 0..grid {
        for col in 0..grid {
            let (mut on, mut all) = (0usize, 0usize);
            for y in edge(row)..edge(row + 1) {
                for x in edge(col)..edge(col + 1) {
                    on += usize::from(mask.get_pixel(x as u32, y as u32)[0] >= ON_LESION);
                    all += 1;
                }
            }
            shares.push(if all == 0 {
                0.0
            } else {
                on as f32 / all as f32
            });
        }
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Photo ISIC_1 of lesion HAM_1, in `dir`.
    fn one_record(dir: &Path) -> Record {
        Record {
            lesion_id: "HAM_1".into(),
            image_id: "ISIC_1".into(),
            label: 0,
            path: dir.join("ISIC_1.jpg"),
            line: 2,
            patient: Default::default(),
        }
    }

    #[test]
    fn cell_shares_count_the_lesion_in_each_cell() {
        // 8x8, the lesion on the left half and the top row of the right half.
        let mask = GrayImage::from_fn(8, 8, |x, y| {
            image::Luma([if x < 4 || y == 0 { 200 } else { 127 }])
        });
        assert_eq!(cell_shares(&mask, 2), vec![1.0, 0.25, 1.0, 0.0]);
        assert_eq!(cell_shares(&mask, 1), vec![(32.0 + 4.0) / 64.0]);
    }

    #[test]
    fn a_missing_mask_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let record = one_record(dir.path());
        let err = MaskCache::build(&[record], &[0], dir.path(), 16)
            .err()
            .expect("no mask");
        assert!(
            format!("{err}").contains("ISIC_1_segmentation.png"),
            "{err}"
        );
    }

    #[test]
    fn masks_are_framed_as_their_photos() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(MASKS_DIR)).unwrap();
        // 40x30: the central square is columns 5..35; the lesion its left half.
        image::GrayImage::from_fn(40, 30, |x, _| image::Luma([if x < 20 { 255 } else { 0 }]))
            .save(dir.path().join(MASKS_DIR).join("ISIC_1_segmentation.png"))
            .unwrap();
        let record = one_record(dir.path());
        let cache = MaskCache::build(&[record.clone(), record], &[1], dir.path(), 30).unwrap();
        assert!(cache.mask(0).is_none(), "record 0 was not asked for");
        let mask = cache.mask(1).unwrap();
        assert_eq!(mask.dimensions(), (30, 30));
        assert_eq!(cell_shares(&mask, 2), vec![1.0, 0.0, 1.0, 0.0]);
    }
}
