//! The data a run needs before its first step: the data set, its split and the image cache.

use anyhow::{Result, bail};
use skin_lesion::TrainingConfig;

use super::cache::ImageCache;
use super::masks::MaskCache;
use super::{Dataset, Split};
use crate::cli::PathArgs;
use crate::paths;

/// The data a run needs before its first step.
pub struct Prepared {
    pub dataset: Dataset,
    pub split: Split,
    pub cache: ImageCache,
    /// The training photos' lesion masks, for a recipe with a mask loss.
    pub masks: Option<MaskCache>,
}

/// Refuse a split with a class missing from a part: a class never trained on, never validated
/// or never tested cannot be learnt, chosen on or measured.
fn check_every_class_in_every_part(dataset: &Dataset, split: &Split) -> Result<()> {
    let parts = [
        ("train", &split.train),
        ("validation", &split.val),
        ("test", &split.test),
    ];
    let per_part: Vec<Vec<usize>> = parts
        .iter()
        .map(|(_, part)| dataset.class_counts(part.iter().copied()))
        .collect();
    for (c, class) in dataset.classes.iter().enumerate() {
        let counts: Vec<usize> = per_part.iter().map(|part| part[c]).collect();
        if let Some(k) = counts.iter().position(|&n| n == 0) {
            let groups: std::collections::HashSet<&str> = dataset
                .records
                .iter()
                .filter(|r| r.label == c)
                .map(|r| r.lesion_id.as_str())
                .collect();
            bail!(
                "class {} has no photo in the {} part (train {}, validation {}, test {} photos; {} lesions or groups in all): \
                 the split needs at least one lesion of every class in each part, so give it more photos (of more lesions), \
                 larger --val-fraction/--test-fraction, or leave it out with --classes",
                class.code,
                parts[k].0,
                counts[0],
                counts[1],
                counts[2],
                groups.len()
            );
        }
    }
    Ok(())
}

/// Load the data set, split it and fill the image cache.
pub fn prepare(config: &TrainingConfig, paths: &PathArgs) -> Result<Prepared> {
    let data_dir = paths.data.clone().unwrap_or_else(paths::default_data);
    let dataset = Dataset::load(&data_dir, config.classes.as_deref())?.limited(config.split.limit);
    let split = Split::new(&dataset.records, &config.split)?;
    if split.train.is_empty() || split.val.is_empty() || split.test.is_empty() {
        bail!(
            "the split left a part empty (train {}, val {}, test {} images): use more data or larger fractions",
            split.train.len(),
            split.val.len(),
            split.test.len()
        );
    }
    check_every_class_in_every_part(&dataset, &split)?;
    eprintln!(
        "data: {} images of {} lesions in {}; split by lesion (seed {}): train {}, val {}, test {} images",
        dataset.records.len(),
        dataset.lesion_count(),
        dataset.root.display(),
        config.split.seed,
        split.train.len(),
        split.val.len(),
        split.test.len()
    );
    let side = config.preprocess.resize_size;
    let cache = ImageCache::for_dataset(&dataset, paths, side)?;
    let masks = (config.mask_weight() > 0.0)
        .then(|| MaskCache::build(&dataset.records, &split.train, &dataset.root, side as u32))
        .transpose()?;
    Ok(Prepared {
        dataset,
        split,
        cache,
        masks,
    })
}
