use burn::prelude::*;

use super::*;
use crate::Classifier;

fn small() -> ModelConfig {
    ModelConfig::new(
        crate::LesionNetConfig::new()
            .with_base_width(4)
            .with_stages(3)
            .with_stem(1),
        crate::PreprocessConfig::new()
            .with_input_size(32)
            .with_resize_size(36),
    )
}

fn input(config: &ModelConfig, batch: usize) -> Vec<f32> {
    let n = batch * 3 * config.preprocess.input_size * config.preprocess.input_size;
    (0..n)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect()
}

fn probabilities(classifier: &Classifier, x: &[f32], batch: usize) -> Vec<Vec<f32>> {
    classifier
        .classify_batch(x, batch)
        .unwrap()
        .into_iter()
        .map(|a| a.probabilities)
        .collect()
}

fn logits(model: &crate::Network, x: Tensor<4>) -> Vec<f32> {
    model
        .outputs(x)
        .logits
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap()
}

#[test]
fn round_trip_gives_identical_outputs() {
    let device = Device::flex();
    let config = small();
    let model = config.init(&device);
    let original = Classifier::new(model.clone(), config.clone(), device.clone());
    let bytes = to_bytes(model).unwrap();
    let loaded =
        Classifier::from_files(&config_to_json(&signed(&config, &bytes)), &bytes, device).unwrap();
    let x = input(&config, 3);
    assert_eq!(
        probabilities(&original, &x, 3),
        probabilities(&loaded, &x, 3)
    );
}

/// Gives every parameter a fresh random id, as burn does when it makes a network.
struct FreshIds;

impl ModuleMapper for FreshIds {
    fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.id = burn::module::ParamId::new();
        param
    }
}

#[test]
fn the_same_weights_make_the_same_shipped_file_whatever_their_ids() {
    let device = Device::flex();
    let config = small();
    let model = config.init(&device);
    let twin = from_bytes(&config, &to_bytes(model.clone()).unwrap(), &device)
        .unwrap()
        .map(&mut FreshIds);
    // Checkpoints keep burn's ids (an optimiser's state is keyed by them), so those differ...
    assert_ne!(
        to_bytes(model.clone()).unwrap(),
        to_bytes(twin.clone()).unwrap()
    );
    // ...but what ships is byte for byte the same, so its checksum stays.
    assert!(
        to_shipped_bytes(&config, model, Storage::F16).unwrap()
            == to_shipped_bytes(&config, twin, Storage::F16).unwrap()
    );
}

#[test]
fn half_precision_weights_are_half_the_size_and_load_as_f32() {
    let device = Device::flex();
    // Wide enough (25k parameters) that the tensors, not the names in the header, set the size.
    let config = small().map_lesion_net(|n| n.with_stem(2).with_base_width(16));
    let model = config.init(&device);
    let full = to_bytes(model.clone()).unwrap();
    let half = to_half_bytes(&config, model.clone()).unwrap();
    assert!(
        half.len() < full.len() * 6 / 10,
        "{} vs {} bytes",
        half.len(),
        full.len()
    );
    let loaded = from_bytes(&config, &half, &device).unwrap();
    let x = Tensor::<4>::from_data(TensorData::new(input(&config, 2), [2, 3, 32, 32]), &device);
    let out = loaded.outputs(x.clone()).logits;
    assert_eq!(out.dtype(), burn::tensor::DType::F32);
    let (a, b) = (
        logits(&model, x.clone()),
        out.into_data().try_into_vec_as::<f32>().unwrap(),
    );
    let worst = a
        .iter()
        .zip(&b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 2e-2, "f16 weights moved a logit by {worst}");
    // Loading the same half-precision bytes again gives the same outputs, to the bit.
    let again = from_bytes(&config, &half, &device).unwrap();
    assert_eq!(b, logits(&again, x));
}

#[test]
fn a_network_with_a_stem_round_trips() {
    let device = Device::flex();
    let config = small().map_lesion_net(|n| n.with_stem(2));
    let model = config.init(&device);
    let original = Classifier::new(model.clone(), config.clone(), device.clone());
    let bytes = to_bytes(model).unwrap();
    let loaded = Classifier::new(
        from_bytes(&config, &bytes, &device).unwrap(),
        config.clone(),
        device.clone(),
    );
    let x = input(&config, 2);
    assert_eq!(
        probabilities(&original, &x, 2),
        probabilities(&loaded, &x, 2)
    );
    // The same weights without the stem are another architecture.
    assert!(matches!(
        from_bytes(&small(), &bytes, &device),
        Err(WeightsError::Mismatch(_))
    ));
}

#[test]
fn a_config_with_an_impossible_view_count_is_refused() {
    let mut json: serde_json::Value = serde_json::from_str(&config_to_json(&small())).unwrap();
    json["test_time_views"] = 3.into();
    let err = config_from_json(&json.to_string()).unwrap_err();
    assert!(err.to_string().contains("test_time_views"), "{err}");
}

#[test]
fn weights_for_another_architecture_are_refused() {
    let device = Device::flex();
    let bytes = to_bytes(small().init(&device)).unwrap();
    let wider = small().map_lesion_net(|n| n.with_base_width(8));
    let err = from_bytes(&wider, &bytes, &device).unwrap_err();
    assert!(matches!(err, WeightsError::Mismatch(_)), "{err}");
    let deeper = small().map_lesion_net(|n| n.with_stages(4));
    assert!(matches!(
        from_bytes(&deeper, &bytes, &device),
        Err(WeightsError::Mismatch(_))
    ));
}

#[test]
fn corrupt_weights_are_refused() {
    let device = Device::flex();
    let config = small();
    let bytes = to_bytes(config.init(&device)).unwrap();
    for bad in [
        &b""[..],
        &b"not a burnpack file at all, sorry"[..],
        &bytes[..bytes.len() / 2],
    ] {
        let err = from_bytes(&config, bad, &device).unwrap_err();
        assert!(
            matches!(err, WeightsError::Corrupt(_) | WeightsError::Mismatch(_)),
            "{err}"
        );
    }
}

#[test]
fn config_json_round_trips_and_is_validated() {
    let config = small();
    assert_eq!(config_from_json(&config_to_json(&config)).unwrap(), config);
    assert!(matches!(
        config_from_json("{"),
        Err(WeightsError::Config(_))
    ));
    let bad = config_to_json(&config.map_lesion_net(|n| n.with_stages(0)));
    assert!(matches!(
        config_from_json(&bad),
        Err(WeightsError::Config(_))
    ));
}

#[test]
fn patient_tables_round_trip() {
    use crate::answer::AnswerConfig;
    use crate::patient::{PatientConfig, SITES};
    let plain = small().with_answer(Some(AnswerConfig::new().with_temperature(1.5)));
    assert_eq!(config_from_json(&config_to_json(&plain)).unwrap(), plain);
    let rows = |n: usize| vec![vec![-1.0; 7]; n];
    let tables = PatientConfig::new(0.5, vec![40.0], rows(2), rows(2), rows(SITES.len()));
    let with = small().with_answer(Some(AnswerConfig::new().with_patient(Some(tables))));
    let json = config_to_json(&with);
    assert_eq!(config_from_json(&json).unwrap(), with);
    let mut edited: serde_json::Value = serde_json::from_str(&json).unwrap();
    edited["answer"]["patient"]["site"] = serde_json::json!([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]);
    let err = config_from_json(&edited.to_string()).unwrap_err();
    assert!(err.to_string().contains("site table has 1 rows"), "{err}");
}

#[test]
fn a_config_belongs_to_the_weights_it_was_signed_for() {
    let device = Device::flex();
    let config = small();
    let bytes = to_bytes(config.init(&device)).unwrap();
    let json = config_to_json(&signed(&config, &bytes));
    assert!(Classifier::from_files(&json, &bytes, device.clone()).is_ok());

    // Fields no tensor shape can check, edited by hand: refused.
    for (part, field, value) in [
        ("preprocess", "input_size", serde_json::json!(24)),
        ("preprocess", "resize_size", serde_json::json!(48)),
        ("preprocess", "test_time_views", serde_json::json!(4)),
        ("network", "dropout", serde_json::json!(0.5)),
    ] {
        let mut edited: serde_json::Value = serde_json::from_str(&json).unwrap();
        edited[part][field] = value;
        let err = Classifier::from_files(&edited.to_string(), &bytes, device.clone()).unwrap_err();
        assert!(matches!(err, WeightsError::Checksum(_)), "{field}: {err}");
    }
    // A class renamed: refused by the checksum, as any edit is.
    let mut edited: serde_json::Value = serde_json::from_str(&json).unwrap();
    edited["classes"][0]["name"] = "Something else".into();
    let err = Classifier::from_files(&edited.to_string(), &bytes, device.clone()).unwrap_err();
    assert!(matches!(err, WeightsError::Checksum(_)), "{err}");
    // The same config laid out differently (compact, keys reordered) still belongs.
    let relaid = canonical_json(&signed(&config, &bytes));
    assert!(Classifier::from_files(&relaid, &bytes, device.clone()).is_ok());

    // Other weights of the same architecture (another run, say): refused.
    let other = to_bytes(config.init(&device)).unwrap();
    assert_ne!(other, bytes);
    assert!(matches!(
        Classifier::from_files(&json, &other, device.clone()),
        Err(WeightsError::Checksum(_))
    ));

    // A config without a checksum says so.
    let err = Classifier::from_files(&config_to_json(&config), &bytes, device).unwrap_err();
    assert!(err.to_string().contains("no checksum"), "{err}");
}

fn lite0() -> ModelConfig {
    ModelConfig::new(
        crate::model::lite0::Lite0Config::new(),
        crate::PreprocessConfig::new()
            .with_input_size(32)
            .with_resize_size(36)
            .with_test_time_views(2),
    )
}

#[test]
fn a_lite0_model_round_trips_under_its_own_tensor_names() {
    let device = Device::flex();
    let config = lite0();
    let model = config.init(&device);
    let bytes = to_bytes(model.clone()).unwrap();
    // The file names the architecture's tensors (its header holds the names as text),
    // without the enum's variant.
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("blocks.15.depthwise_conv.weight"));
    assert!(!text.contains("Lite0.") && !text.contains("LesionNet."));
    let json = config_to_json(&signed(&config, &bytes));
    assert!(json.contains("\"architecture\": \"lite0\""), "{json}");
    let loaded = Classifier::from_files(&json, &bytes, device.clone()).unwrap();
    let x = Tensor::<4>::from_data(TensorData::new(input(&config, 2), [2, 3, 32, 32]), &device);
    assert_eq!(logits(&model, x.clone()), logits(loaded.model(), x));
}

#[test]
fn weights_of_one_architecture_do_not_load_as_the_other() {
    let device = Device::flex();
    let scratch = to_bytes(small().init(&device)).unwrap();
    let err = from_bytes(&lite0(), &scratch, &device).unwrap_err();
    assert!(matches!(err, WeightsError::Mismatch(_)), "{err}");
    let pretrained = to_bytes(lite0().init(&device)).unwrap();
    let err = from_bytes(&small(), &pretrained, &device).unwrap_err();
    assert!(matches!(err, WeightsError::Mismatch(_)), "{err}");
}

/// Quantises every 1x1 convolution weight to 8 bits with [`q8_block`]'s blocks, each to its
/// nearest step: what train-native's rounding hands over (its steps chosen otherwise).
struct QuantisePointwise;

impl ModuleMapper for QuantisePointwise {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| match q8_block(&t.shape().dims::<D>(), 255) {
            Some(block) => t.quantize_dynamic(&q8_scheme(&block)),
            None => t,
        })
    }
}

#[test]
fn eight_bit_storage_refuses_a_model_with_nothing_rounded() {
    let device = Device::flex();
    let config = lite0();
    let err = to_shipped_bytes(&config, config.init(&device), Storage::Q8).unwrap_err();
    assert!(
        matches!(&err, WeightsError::Save(m) if m.contains("rounded to 8 bits first")),
        "{err}"
    );
}

#[test]
fn eight_bit_weights_are_half_the_size_and_load_as_f32() {
    let device = Device::flex();
    let config = lite0();
    device.seed(5);
    let model = config.init(&device);
    let x = Tensor::<4>::from_data(TensorData::new(input(&config, 2), [2, 3, 32, 32]), &device);
    let before = logits(&model, x.clone());
    let half = to_shipped_bytes(&config, model.clone(), Storage::F16).unwrap();
    let eight = to_shipped_bytes(
        &config,
        model.clone().map(&mut QuantisePointwise),
        Storage::Q8,
    )
    .unwrap();
    // 3.4M numbers: 6.9 MB at f16, 3.5 MB with the 1x1 convolutions at 8 bits.
    assert!(
        eight.len() * 10 < half.len() * 6,
        "{} vs {}",
        eight.len(),
        half.len()
    );
    let loaded = from_bytes(&config, &eight, &device).unwrap();
    let after = logits(&loaded, x.clone());
    let drift = before
        .iter()
        .zip(&after)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(drift > 0.0 && drift < 1e-2, "{drift}");
    // Loaded as stored, the 8-bit layers are stored again unchanged: the same file.
    let stored = stored_network_from_bytes(&config, &eight, &device).unwrap();
    let again = to_shipped_bytes(&config, stored, Storage::Q8).unwrap();
    let reloaded = from_bytes(&config, &again, &device).unwrap();
    assert!(
        again == eight,
        "a re-export of the same weights changed the file"
    );
    assert_eq!(logits(&reloaded, x.clone()), after);
    // The original is untouched by the quantisation of its copy.
    assert_eq!(logits(&model, x), before);
}

#[test]
fn eight_bit_scales_cover_one_output_channel_and_a_run_of_inputs() {
    // Lite0's 1x1 convolutions: every input count up to the longest run is one run; longer
    // ones split into the longest run that divides them.
    assert_eq!(q8_block(&[96, 16, 1, 1], 255), Some(vec![1, 16, 1, 1]));
    assert_eq!(q8_block(&[80, 240, 1, 1], 255), Some(vec![1, 240, 1, 1]));
    assert_eq!(q8_block(&[192, 1152, 1, 1], 255), Some(vec![1, 192, 1, 1]));
    assert_eq!(q8_block(&[1280, 320, 1, 1], 255), Some(vec![1, 160, 1, 1]));
    assert_eq!(q8_block(&[192, 1152, 1, 1], 32), Some(vec![1, 32, 1, 1]));
    assert_eq!(q8_block(&[80, 240, 1, 1], 32), Some(vec![1, 30, 1, 1]));
    // A prime count past the run still gets blocks, of one value; other shapes none.
    assert_eq!(q8_block(&[10, 257, 1, 1], 255), Some(vec![1, 1, 1, 1]));
    assert_eq!(q8_block(&[64, 32, 3, 3], 255), None);
    assert_eq!(q8_block(&[1280, 7], 255), None);
    assert_eq!(q8_block(&[7], 255), None);
}

/// A layer whose output channels differ by 10,000x in range: each keeps to its own scale, so
/// even the smallest is stored to within half a step of its own largest value, through the
/// file and back. (One scale for the tensor would round the 0.01 channel to zero.)
#[derive(burn::module::Module, Debug)]
struct OneLayer {
    project_conv: burn::nn::conv::Conv2d,
}

struct SetWeight(Vec<f32>);

impl ModuleMapper for SetWeight {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let values = self.0.clone();
        param.map(|t| Tensor::from_data(TensorData::new(values, t.shape()), &t.device()))
    }
}

#[test]
fn eight_bit_weights_keep_each_output_channel_to_its_own_scale() {
    let device = Device::flex();
    let ranges = [1.0f32, 0.01, 100.0, 0.5];
    let values: Vec<f32> = (0..4 * 16)
        .map(|i| ranges[i / 16] * ((i % 16) as f32 - 7.5) / 7.5)
        .collect();
    let layer = || OneLayer {
        project_conv: burn::nn::conv::Conv2dConfig::new([16, 4], [1, 1])
            .with_bias(false)
            .init(&device),
    };
    let quantised = layer()
        .map(&mut SetWeight(values.clone()))
        .map(&mut QuantisePointwise);
    assert!(is_quantised(&quantised.project_conv.weight.val()));
    let bytes = quantised.into_record().into_bytes().unwrap();
    let bytes = as_floats(&bytes).unwrap();
    let record = ModuleRecord::from_bytes(bytes)
        .unwrap()
        .validate(true)
        .allow_partial(false);
    let loaded = layer().try_load_record(record).unwrap();
    let back = loaded
        .project_conv
        .weight
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    for (channel, range) in ranges.iter().enumerate() {
        let error = (0..16)
            .map(|k| (values[channel * 16 + k] - back[channel * 16 + k]).abs())
            .fold(0.0, f32::max);
        assert!(
            error <= range / 254.0 * 1.001,
            "channel {channel}: {error} for a range of {range}"
        );
    }
}

#[test]
fn eight_bit_whitening_keeps_each_run_of_a_row_to_its_own_scale_and_zeros_at_zero() {
    let device = Device::flex();
    // Lower-triangular like the fitted whitening: a large diagonal, small entries beside it.
    let width = 128;
    let values: Vec<f32> = (0..width * width)
        .map(|k| {
            let (i, j) = (k / width, k % width);
            match j.cmp(&i) {
                std::cmp::Ordering::Greater => 0.0,
                std::cmp::Ordering::Equal => 2.0 + i as f32 * 0.01,
                std::cmp::Ordering::Less => 0.003 * ((k % 7) as f32 - 3.0),
            }
        })
        .collect();
    let whitening =
        Tensor::<2>::from_data(TensorData::new(values.clone(), [width, width]), &device);
    let back: Vec<f32> = q8_whitening(whitening)
        .dequantize()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    for (k, (a, b)) in values.iter().zip(&back).enumerate() {
        let run = &values[k / WHITENING_RUN * WHITENING_RUN..][..WHITENING_RUN];
        let step = run.iter().fold(0.0f32, |m, v| m.max(v.abs())) / WHITENING_LARGEST;
        // Half a step, the step being its f16 nearest (within 2^-11 of it).
        let limit = step / 2.0 * (1.0 + 1e-3) + 1e-6;
        assert!((a - b).abs() <= limit, "entry {k}: {a} -> {b}");
        if *a == 0.0 {
            assert_eq!(*b, 0.0, "entry {k}");
        }
    }
    // Runs away from the diagonal keep their small entries (no diagonal shares their scale).
    assert!(back[70 * width + 1] != 0.0);
}

#[test]
fn the_whitening_is_stored_at_six_bit_steps() {
    let device = Device::flex();
    let width = 64;
    let values: Vec<f32> = (0..width * width)
        .map(|k| ((k * 37 % 101) as f32 - 50.0) / 50.0)
        .collect();
    let whitening = Tensor::<2>::from_data(TensorData::new(values, [width, width]), &device);
    let steps = q8_whitening(whitening).into_data();
    let (steps, _) = steps.as_bytes().split_at(width * width);
    let distinct: std::collections::BTreeSet<i8> = steps.iter().map(|&b| b as i8).collect();
    assert_eq!(distinct.first(), Some(&-31));
    assert_eq!(distinct.last(), Some(&31));
}

/// A depthwise kernel whose channels differ by 10,000x in range.
fn depthwise_kernel(ranges: &[f32], device: &Device) -> (Vec<f32>, Tensor<4>) {
    let values: Vec<f32> = (0..ranges.len() * 9)
        .map(|i| ranges[i / 9] * ((i % 9) as f32 - 3.7) / 4.3)
        .collect();
    let tensor = Tensor::<4>::from_data(
        TensorData::new(values.clone(), [ranges.len(), 1, 3, 3]),
        device,
    );
    (values, tensor)
}

#[test]
fn depthwise_kernels_keep_each_channel_to_its_own_scale() {
    let device = Device::flex();
    let ranges = [1.0f32, 0.0001, 50.0, 0.3];
    let (values, kernel) = depthwise_kernel(&ranges, &device);
    let stored = q8_depthwise(kernel);
    assert!(is_quantised(&stored));
    // Rounded once: a shipped kernel stored again is the same tensor.
    let again = q8_depthwise(stored.clone());
    assert_eq!(again.to_data().as_bytes(), stored.to_data().as_bytes());
    let back = stored.dequantize().into_data().try_to_vec::<f32>().unwrap();
    for (channel, range) in ranges.iter().enumerate() {
        let error = (0..9)
            .map(|k| (values[channel * 9 + k] - back[channel * 9 + k]).abs())
            .fold(0.0, f32::max);
        // Half a step; a scale under f16's normal range (6.1e-5: the 0.0001 channel's is
        // 7.9e-7) is an f16 subnormal, held to 2^-25 rather than to 2^-11 of itself, which
        // moves each of up to 127 steps by at most that much.
        let subnormal = 127.0 * 2f32.powi(-25);
        assert!(
            error <= range / 254.0 * 1.001 + subnormal,
            "channel {channel}: {error} for a range of {range}"
        );
    }
}

/// The names and dtypes of a burnpack file's tensors.
fn stored_dtypes(bytes: &[u8]) -> Vec<(String, burn::tensor::DType)> {
    burn_pack::Reader::from_bytes(in_burns_layouts(bytes).unwrap())
        .unwrap()
        .into_tensors()
        .unwrap()
        .into_iter()
        .map(|t| {
            let (name, dtype, ..) = t.into_parts().unwrap();
            (name, dtype)
        })
        .collect()
}

#[test]
fn eight_bit_storage_rounds_the_later_depthwise_kernels_with_f16_scales() {
    let device = Device::flex();
    let config = lite0();
    let model = config.init(&device).map(&mut QuantisePointwise);
    let bytes = to_shipped_bytes(&config, model, Storage::Q8).unwrap();
    let dtypes = stored_dtypes(&bytes);
    let depthwise: Vec<_> = dtypes
        .iter()
        .filter(|(name, _)| name.ends_with("depthwise_conv.weight"))
        .collect();
    assert_eq!(depthwise.len(), 16);
    for (name, dtype) in depthwise {
        let block: usize = name.split('.').nth(1).unwrap().parse().unwrap();
        match dtype {
            burn::tensor::DType::QFloat(scheme) => {
                assert!(block >= FIRST_ROUNDED_BLOCK, "{name}");
                assert_eq!(scheme.scale_dtype(), ScaleDtype::F16, "{name}");
            }
            other => {
                assert!(block < FIRST_ROUNDED_BLOCK, "{name}");
                assert_eq!(*other, burn::tensor::DType::F16, "{name}");
            }
        }
    }
    // Every 8-bit tensor (the 1x1 convolutions too) keeps its scales at f16.
    for (name, dtype) in &dtypes {
        if let burn::tensor::DType::QFloat(scheme) = dtype {
            assert_eq!(scheme.scale_dtype(), ScaleDtype::F16, "{name}");
        }
    }
}

#[test]
fn the_density_travels_in_eight_bit_weights_and_scores_as_before() {
    use crate::model::density::Mahalanobis;
    let device = Device::flex();
    let config = lite0();
    device.seed(6);
    let width = 64;
    let whitening: Vec<f32> = (0..width * width)
        .map(|k| match (k / width, k % width) {
            (i, j) if j > i => 0.0,
            (i, j) if j == i => 1.0 + i as f32 * 0.02,
            (i, j) => 0.05 * (((i * 31 + j * 17) % 11) as f32 - 5.0) / 5.0,
        })
        .collect();
    let centres: Vec<f32> = (0..7 * width).map(|k| (k % 13) as f32 * 0.1).collect();
    let scorer = Mahalanobis::new(whitening, centres, vec![1.0; 7], width);
    let config = config.with_answer(Some(crate::answer::AnswerConfig::new().with_ood(Some(
        crate::answer::OodConfig::new(
            crate::answer::OodMethod::ClassScaledMahalanobis,
            [0, width],
            f32::MAX,
        ),
    ))));
    let model = config
        .init(&device)
        .map(&mut QuantisePointwise)
        .with_density(Some(scorer.to_module(&device)));
    let bytes = to_shipped_bytes(&config, model, Storage::Q8).unwrap();
    // The whitening at one byte a number (f16 would take two), plus its scales and the
    // f16 centres.
    let plain = lite0();
    let bare = plain.init(&device).map(&mut QuantisePointwise);
    let without = to_shipped_bytes(&plain, bare, Storage::Q8).unwrap();
    let density_bytes = bytes.len() - without.len();
    assert!(
        density_bytes < width * width + 7 * width * 2 + 2048,
        "{density_bytes} bytes for the density"
    );
    let loaded = from_bytes(&config, &bytes, &device).unwrap();
    let stored = loaded.density().expect("the density travels").to_scorer();
    for probe in 0..5 {
        let f: Vec<f32> = (0..width)
            .map(|i| ((i * 7 + probe * 3) % 10) as f32 * 0.3)
            .collect();
        let (before, after) = (scorer.score(&f), stored.score(&f));
        // 6-bit steps: each entry within 1/62 of its run's largest.
        assert!(
            (before - after).abs() <= 0.03 * before.abs().max(1.0),
            "{before} vs {after}"
        );
    }
}

/// Quantises every 1x1 convolution weight to 4-bit steps (at most ±7 of its block's scale) in
/// burn's 8-bit tensors, as train-native's four-bit rounding stores them.
struct QuantiseFourBit;

impl ModuleMapper for QuantiseFourBit {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| {
            let Some(block) = q8_block(&t.shape().dims::<D>(), 64) else {
                return t;
            };
            let values = t.to_data().try_to_vec::<f32>().unwrap();
            let scales: Vec<f32> = values
                .chunks(usize::from(block[1]))
                .map(|run| run.iter().fold(1e-12f32, |m, v| m.max(v.abs())) / 7.0)
                .collect();
            let device = t.device();
            t.quantize(
                &q8_scheme(&block),
                QuantizationParameters {
                    scales: Tensor::<1>::from_floats(scales.as_slice(), &device),
                    global: None,
                },
            )
        })
    }
}

#[test]
fn four_bit_steps_ship_two_to_a_byte_and_load_to_the_same_network() {
    let device = Device::flex();
    let config = lite0();
    device.seed(8);
    let model = config.init(&device).map(&mut QuantiseFourBit);
    let eight = to_shipped_bytes(
        &config,
        model.clone().map(&mut QuantisePointwise),
        Storage::Q8,
    )
    .unwrap();
    let four = to_shipped_bytes(&config, model, Storage::Q8).unwrap();
    let text = String::from_utf8_lossy(&four);
    assert!(text.contains(&format!("conv_head.weight{}", four_bit::PACKED_SUFFIX)));
    assert!(!String::from_utf8_lossy(&eight).contains(four_bit::PACKED_SUFFIX));
    // Lite0's 1x1 convolutions hold 2.9M of its 3.4M numbers: packed, a third of the file goes.
    let unpacked = in_burns_layouts(&four).unwrap().to_vec();
    assert!(
        four.len() * 10 < unpacked.len() * 7,
        "{} vs {}",
        four.len(),
        unpacked.len()
    );
    // The packed file loads to the network the unpacked one holds, to the bit.
    let x = Tensor::<4>::from_data(TensorData::new(input(&config, 2), [2, 3, 32, 32]), &device);
    let packed = from_bytes(&config, &four, &device).unwrap();
    let plain = from_bytes(&config, &unpacked, &device).unwrap();
    assert_eq!(logits(&packed, x.clone()), logits(&plain, x));
    // Loaded as stored and exported again, the same file.
    let stored = stored_network_from_bytes(&config, &four, &device).unwrap();
    assert!(to_shipped_bytes(&config, stored, Storage::Q8).unwrap() == four);
    // A reader that does not unpack finds the packed tensors missing, and says so.
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(four.clone()))
        .unwrap()
        .validate(true)
        .allow_partial(false);
    let Network::Lite0(net) = config.init(&device) else {
        unreachable!("a Lite0 config")
    };
    assert!(net.try_load_record(record).is_err());
}
