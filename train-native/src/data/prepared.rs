//! The data a run needs before its first step: the data set, its split and the image cache.

use anyhow::{Result, bail};
use skin_lesion::TrainingConfig;

use super::cache::ImageCache;
use super::{Dataset, Split};
use crate::cli::PathArgs;
use crate::paths;

/// The data a run needs before its first step.
pub struct Prepared {
    pub dataset: Dataset,
    pub split: Split,
    pub cache: ImageCache,
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
    let cache = ImageCache::for_dataset(&dataset, paths, config.preprocess.resize_size)?;
    Ok(Prepared {
        dataset,
        split,
        cache,
    })
}
