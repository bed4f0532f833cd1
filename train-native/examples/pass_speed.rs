//! Views a second of a model natively, by photos x views in one pass of the network, one pass
//! at a time: run it with the default threads and with `RAYON_NUM_THREADS=1`, and two of the
//! latter side by side, to see how flex spreads one pass over the cores (docs/throughput.md,
//! "Passes side by side").
//!
//! `cargo run --release -p train-native --example pass_speed [-- MODEL_DIR]`

use std::time::Instant;

use burn::prelude::*;
use skin_lesion::Classifier;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "web/model".into());
    let classifier = Classifier::from_files(
        &std::fs::read_to_string(format!("{dir}/config.json"))?,
        &std::fs::read(format!("{dir}/model.bpk"))?,
        Device::flex(),
    )?;
    let size = classifier.config().preprocess.input_size;
    let views = classifier.config().preprocess.test_time_views;
    for (photos, v) in [(1, views), (2, views), (4, views), (4, 1), (8, 1), (32, 1)] {
        let input: Vec<f32> = (0..photos * 3 * size * size)
            .map(|i| ((i * 37 % 255) as f32 / 255.0 - 0.5) * 2.0)
            .collect();
        let start = Instant::now();
        let mut done = 0;
        while start.elapsed().as_secs_f64() < 6.0 {
            std::hint::black_box(classifier.view_sums(&input, photos, 0..v)?);
            done += photos * v;
        }
        let rate = done as f64 / start.elapsed().as_secs_f64();
        println!("{photos} photo(s) x {v} view(s) a pass: {rate:.0} views/s");
    }
    Ok(())
}
