//! A train/validation/test split grouped by lesion and stratified by class.
//!
//! HAM10000 often has several photos of one lesion; a split by image would put near-copies in
//! train and test and inflate every figure. We split lesions, class by class, so each part has
//! the data set's class mix, and the same seed always gives the same split.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use skin_lesion::training::SplitConfig;

use super::Record;

/// The three parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitName {
    Train,
    Val,
    Test,
}

impl SplitName {
    pub fn as_str(self) -> &'static str {
        match self {
            SplitName::Train => "train",
            SplitName::Val => "val",
            SplitName::Test => "test",
        }
    }
}

/// Indices into the data set's records, per part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

impl Split {
    /// Split `records` as `config` says (its `limit` is the caller's: see [`super::Dataset::limited`]).
    pub fn new(records: &[Record], config: &SplitConfig) -> Result<Self> {
        let (val_fraction, test_fraction, seed) =
            (config.val_fraction, config.test_fraction, config.seed);
        if !(0.0..1.0).contains(&val_fraction)
            || !(0.0..1.0).contains(&test_fraction)
            || val_fraction + test_fraction >= 1.0
        {
            bail!(
                "validation ({val_fraction}) and test ({test_fraction}) fractions must be in [0, 1) and sum to less than 1"
            );
        }
        // Lesion → its images and class (the class of its first image: HAM10000 never mixes).
        let mut lesions: BTreeMap<&str, (usize, Vec<usize>)> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            lesions
                .entry(&r.lesion_id)
                .or_insert((r.label, Vec::new()))
                .1
                .push(i);
        }
        let classes = records.iter().map(|r| r.label).max().map_or(0, |m| m + 1);
        let mut by_class: Vec<Vec<&Vec<usize>>> = vec![Vec::new(); classes];
        for (label, images) in lesions.values() {
            by_class[*label].push(images);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut split = Split {
            train: Vec::new(),
            val: Vec::new(),
            test: Vec::new(),
        };
        for group in &mut by_class {
            group.shuffle(&mut rng);
            let n = group.len();
            let n_test = (n as f64 * test_fraction).round() as usize;
            let n_val = (n as f64 * val_fraction).round() as usize;
            for (k, images) in group.iter().enumerate() {
                let part = if k < n_test {
                    &mut split.test
                } else if k < n_test + n_val {
                    &mut split.val
                } else {
                    &mut split.train
                };
                part.extend(images.iter().copied());
            }
        }
        for part in [&mut split.train, &mut split.val, &mut split.test] {
            part.sort_unstable();
        }
        Ok(split)
    }

    /// The indices of one part.
    pub fn part(&self, name: SplitName) -> &[usize] {
        match name {
            SplitName::Train => &self.train,
            SplitName::Val => &self.val,
            SplitName::Test => &self.test,
        }
    }
}
