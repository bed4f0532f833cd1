use burn::module::Module;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

/// `rows` x `cols` weights with a few large ones (as trained 1x1 convolutions have), and
/// `XᵀX` of `samples` inputs whose channels co-vary (each a mix of a few shared factors).
fn layer(rows: usize, cols: usize, samples: usize, seed: u64) -> (Vec<f32>, Gram) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let weights: Vec<f32> = (0..rows * cols)
        .map(|_| {
            let w: f32 = rng.random_range(-0.1..0.1);
            if rng.random_range(0.0..1.0) < 0.02 {
                w * 20.0
            } else {
                w
            }
        })
        .collect();
    let factors = 4;
    let mixing: Vec<f32> = (0..factors * cols)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let mut gram = Gram {
        width: cols,
        sums: vec![0.0; cols * cols],
        totals: vec![0.0; cols],
        count: samples,
    };
    for _ in 0..samples {
        let f: Vec<f32> = (0..factors).map(|_| rng.random_range(-1.0..1.0)).collect();
        let x: Vec<f64> = (0..cols)
            .map(|c| {
                let shared: f32 = (0..factors).map(|k| f[k] * mixing[k * cols + c]).sum();
                f64::from(shared + 0.1 * rng.random_range(-1.0f32..1.0))
            })
            .collect();
        for i in 0..cols {
            gram.totals[i] += x[i];
            for j in 0..cols {
                gram.sums[i * cols + j] += x[i] * x[j];
            }
        }
    }
    (weights, gram)
}

/// `Σ_rows (w - ŵ)ᵀ XᵀX (w - ŵ)`: the squared error of the layer's outputs over the inputs.
fn output_error(weights: &[f32], rounded: &[f32], gram: &Gram) -> f64 {
    let n = gram.width;
    weights
        .chunks(n)
        .zip(rounded.chunks(n))
        .map(|(w, r)| {
            let d: Vec<f64> = w.iter().zip(r).map(|(a, &b)| f64::from(a - b)).collect();
            (0..n)
                .flat_map(|i| (0..n).map(move |j| (i, j)))
                .map(|(i, j)| d[i] * gram.sums[i * n + j] * d[j])
                .sum::<f64>()
        })
        .sum()
}

#[test]
fn gptq_moves_the_outputs_less_than_rounding_to_nearest() {
    for seed in 0..3 {
        let (weights, gram) = layer(24, 48, 400, seed);
        let grid = Grid {
            run: 16,
            largest: LARGEST_8BIT,
        };
        let nearest = round_nearest(&weights, grid);
        let fitted = gptq(&weights, (24, 48), grid, &gram);
        let (a, b) = (
            output_error(&weights, &nearest.values(), &gram),
            output_error(&weights, &fitted.values(), &gram),
        );
        assert!(
            b < 0.5 * a,
            "seed {seed}: GPTQ {b:.3e} against nearest {a:.3e}"
        );
        // Its noise to signal per channel says the same.
        let sum = |v: Vec<f64>| v.iter().sum::<f64>();
        assert!(
            sum(gram.noise_to_signal(&weights, &fitted.values()))
                < sum(gram.noise_to_signal(&weights, &nearest.values()))
        );
    }
}

#[test]
fn rounded_weights_are_whole_steps_of_their_blocks_scale() {
    let (weights, gram) = layer(8, 40, 200, 7);
    for largest in [LARGEST_8BIT, LARGEST_4BIT] {
        let grid = Grid { run: 20, largest };
        let mut reached = 0;
        for r in [
            round_nearest(&weights, grid),
            gptq(&weights, (8, 40), grid, &gram),
        ] {
            assert_eq!(r.scales.len(), 8 * 2, "one scale per row and run of 20");
            for (block, scale) in weights.chunks(20).zip(&r.scales) {
                let peak = block.iter().fold(0.0f32, |m, w| m.max(w.abs()));
                // Stored as the f16 nearest of the f32 scale the steps were chosen against.
                assert_eq!(*scale, f16_scale(peak / f32::from(largest)));
            }
            let values = r.values();
            for (i, (&q, v)) in r.steps.iter().zip(&values).enumerate() {
                assert!((-largest..=largest).contains(&q), "step {q} off the grid");
                assert_eq!(*v, f32::from(q) * r.scales[i / 20]);
            }
            reached += r.steps.iter().filter(|q| q.abs() == largest).count();
        }
        assert!(reached > 0, "the largest step is used");
    }
}

#[test]
fn four_bit_plans_pick_their_layers() {
    let plan = |four_bit| Plan {
        four_bit,
        ..SHIPPED_PLAN
    };
    let largest = |p: Plan, layer: &str| p.grid(layer, 64).largest;
    for layer in ["blocks.7.expand_conv", "blocks.7.project_conv", "conv_head"] {
        assert_eq!(largest(plan(FourBit::None), layer), LARGEST_8BIT);
        assert_eq!(largest(plan(FourBit::All), layer), LARGEST_4BIT);
    }
    let some = plan(FourBit::ExpansionsAndHead);
    assert_eq!(largest(some, "blocks.7.expand_conv"), LARGEST_4BIT);
    assert_eq!(largest(some, "conv_head"), LARGEST_4BIT);
    assert_eq!(largest(some, "blocks.7.project_conv"), LARGEST_8BIT);
}

#[test]
fn four_bit_steps_round_trip_through_the_8bit_file() {
    // The steps are kept one per byte in burn's Q8S: quantising whole steps of their scale
    // with that scale must give back exactly the values chosen, as for 8 bits.
    let (weights, gram) = layer(8, 32, 200, 5);
    let grid = Grid {
        run: 16,
        largest: LARGEST_4BIT,
    };
    let r = gptq(&weights, (8, 32), grid, &gram);
    let stored = r.stored([8, 32, 1, 1], &Device::flex());
    let back = stored.dequantize().into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(back, r.values());
}

#[test]
fn the_inverse_factor_is_the_cholesky_factor_of_the_damped_inverse() {
    let (_, gram) = layer(1, 12, 100, 3);
    let n = 12;
    let u = inverse_factor(&gram.sums, n);
    let mean = (0..n).map(|i| gram.sums[i * n + i]).sum::<f64>() / n as f64;
    // (G + λI) Uᵀ U = I.
    for i in 0..n {
        for j in 0..n {
            let product: f64 = (0..n)
                .map(|k| {
                    let g = gram.sums[i * n + k] + if i == k { DAMPING * mean } else { 0.0 };
                    let inverse: f64 = (0..n).map(|m| u[m * n + k] * u[m * n + j]).sum();
                    g * inverse
                })
                .sum();
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((product - want).abs() < 1e-8, "({i}, {j}): {product}");
        }
        for j in 0..i {
            assert_eq!(u[i * n + j], 0.0, "upper triangular");
        }
    }
}

#[derive(Module, Debug)]
struct Block {
    project_conv: burn::nn::conv::Conv2d,
    depthwise_conv: burn::nn::conv::Conv2d,
}

#[derive(Module, Debug)]
struct Net {
    blocks: Vec<Block>,
}

fn weight_of(conv: &burn::nn::conv::Conv2d) -> Vec<f32> {
    conv.weight.val().into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn layers_are_found_by_path_and_stored_as_the_steps_chosen() {
    let device = Device::flex();
    device.seed(3);
    let block = |wide| Block {
        project_conv: burn::nn::conv::Conv2dConfig::new([wide, 8], [1, 1]).init(&device),
        depthwise_conv: burn::nn::conv::Conv2dConfig::new([wide, wide], [3, 3])
            .with_groups(wide)
            .init(&device),
    };
    let net = Net {
        blocks: (0..12).map(|_| block(16)).collect(),
    };
    let (_, gram) = layer(8, 16, 100, 1);
    // `blocks.1.project_conv` must not match `blocks.11.project_conv`.
    let mut grams = BTreeMap::new();
    grams.insert("blocks.1.project_conv".to_string(), gram);
    let plan = Plan {
        rounding: Rounding::Gptq,
        max_run: 8,
        keep_blocks: 0,
        sequential: false,
        four_bit: FourBit::None,
    };
    let before: Vec<Vec<f32>> = net
        .blocks
        .iter()
        .map(|b| weight_of(&b.project_conv))
        .collect();
    let layers = ["blocks.1.project_conv".to_string()];
    let mut rounder = Rounder {
        path: Vec::new(),
        layers: &layers,
        grams: Some(&grams),
        plan,
        done: Vec::new(),
    };
    let net = net.map(&mut rounder);
    assert_eq!(rounder.done.len(), 1);
    let (name, rounded, noise) = rounder.done.pop().unwrap();
    assert_eq!(name, "blocks.1.project_conv");
    assert_eq!(noise.len(), 8, "one figure per output channel");
    for (i, b) in net.blocks.iter().enumerate() {
        let now = weight_of(&b.project_conv);
        if i == 1 {
            assert_eq!(now, rounded.values());
        } else {
            assert_eq!(now, before[i], "block {i} untouched");
        }
    }
    let mut all = BTreeMap::new();
    all.insert(name, rounded);
    let stored = net.map(&mut Storer {
        path: Vec::new(),
        rounded: &all,
    });
    let weight = stored.blocks[1].project_conv.weight.val();
    assert!(matches!(weight.dtype(), burn::tensor::DType::QFloat(_)));
    let back = weight.dequantize().into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(back, all["blocks.1.project_conv"].values());
    assert!(!matches!(
        stored.blocks[11].project_conv.weight.val().dtype(),
        burn::tensor::DType::QFloat(_)
    ));
}

#[test]
fn rounding_to_the_nearest_step_needs_no_activations() {
    let device = Device::flex();
    device.seed(5);
    let net = Net {
        blocks: (0..2)
            .map(|_| Block {
                project_conv: burn::nn::conv::Conv2dConfig::new([16, 8], [1, 1]).init(&device),
                depthwise_conv: burn::nn::conv::Conv2dConfig::new([16, 16], [3, 3])
                    .with_groups(16)
                    .init(&device),
            })
            .collect(),
    };
    let (_, gram) = layer(8, 16, 100, 1);
    let layers = ["blocks.0.project_conv".to_string()];
    let grams = BTreeMap::from([(layers[0].clone(), gram)]);
    let plan = trained::FOUR_BIT_PLAN;
    let round = |grams| {
        let mut rounder = Rounder {
            path: Vec::new(),
            layers: &layers,
            grams,
            plan,
            done: Vec::new(),
        };
        let net = net.clone().map(&mut rounder);
        (weight_of(&net.blocks[0].project_conv), rounder.done)
    };
    let (with, done_with) = round(Some(&grams));
    let (without, done_without) = round(None);
    assert_eq!(with, without, "the same steps either way");
    assert_ne!(with, weight_of(&net.blocks[0].project_conv), "rounded");
    assert_eq!(done_with[0].2.len(), 8, "noise figures from the XᵀX");
    assert!(done_without[0].2.is_empty(), "none without it");
    assert_eq!(done_without[0].1.values(), without);
}

#[test]
fn four_bit_plans_store_their_layers_without_photos() {
    let device = Device::flex();
    device.seed(6);
    let config = skin_lesion::ModelConfig::new(
        skin_lesion::model::lite0::Lite0Config::new(),
        PreprocessConfig::new()
            .with_input_size(32)
            .with_resize_size(36),
    );
    let network = config.init(&device);
    let plan = trained::FOUR_BIT_PLAN;
    let names = rounded_layers(&network, &config.preprocess, plan.keep_blocks).unwrap();
    let (stored, count) = stored_nearest(network.clone(), &config.preprocess, plan).unwrap();
    assert_eq!(count, names.len());
    assert_eq!(
        count, 21,
        "Lite0's 1x1 convolutions after block 5, and its head"
    );
    assert!(already_8bit(&stored));
    assert!(!already_8bit(&network));
}

#[test]
fn layers_are_named_by_block() {
    assert_eq!(block_of("blocks.11.project_conv"), Some(11));
    assert_eq!(block_of("blocks.0.expand_conv"), Some(0));
    assert_eq!(block_of("conv_head"), None);
}
