//! The weights format: a burnpack record of the [`Network`]'s architecture plus its JSON
//! config.
//!
//! Loading always validates every tensor's path and shape against the architecture, so a
//! weights file from another model (or a truncated download) is a clear error, never a
//! network that silently outputs garbage.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::quantization::{QuantScheme, QuantValue, QuantizationParameters, ScaleDtype};
use burn::tensor::{Bytes, FloatDType};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{ModelConfig, Network};

/// File name of the weights inside a model folder.
pub const WEIGHTS_FILE: &str = "model.bpk";
/// File name of the architecture config inside a model folder.
pub const CONFIG_FILE: &str = "config.json";
/// File name of the evaluation report inside a model folder.
pub const REPORT_FILE: &str = "report.json";

/// Why weights could not be loaded or saved.
#[derive(Debug, Error)]
pub enum WeightsError {
    /// The file is not a readable burnpack.
    #[error("the weights file is not a valid burnpack file ({0}); re-export it with train-native")]
    Corrupt(String),
    /// The file holds tensors for another architecture.
    #[error("the weights do not match the model architecture in config.json: {0}")]
    Mismatch(String),
    /// config.json could not be parsed or describes an impossible network.
    #[error("invalid model config: {0}")]
    Config(String),
    /// Serialising failed.
    #[error("could not serialise the weights: {0}")]
    Save(String),
    /// config.json was written for other weights, edited by hand, or never signed.
    #[error(
        "config.json does not belong to this model.bpk ({0}); export the two together with train-native"
    )]
    Checksum(String),
}

/// SHA-256 (hex) of `weights`, then a line naming the config format, then `config` in its
/// canonical form ([`canonical_json`]) with its own checksum left out.
///
/// Why both: a weights file and a config can disagree in ways no tensor shape shows (the input
/// size, the crop, the view count, the thresholds of the answer), and each half alone would
/// still load. Hashing them together makes any such pairing an error. The canonical form, not
/// the file's text, is hashed, so that the file's layout (spacing, key order) may change while
/// any change to what it says may not.
pub fn checksum(config: &ModelConfig, weights: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let unsigned = config.clone().with_checksum(None);
    let mut hash = Sha256::new();
    hash.update(weights);
    hash.update(format!("\nskin-lesion config format {}\n", config.format).as_bytes());
    hash.update(canonical_json(&unsigned).as_bytes());
    format!("{:x}", hash.finalize())
}

/// `config` as compact JSON with every object's keys sorted: the same text natively and in the
/// browser, whatever order the fields are declared in (and whether or not some dependency
/// turns on serde_json's `preserve_order`).
pub fn canonical_json(config: &ModelConfig) -> String {
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    let value = serde_json::to_value(config).expect("config serialises");
    serde_json::to_string(&sorted(value)).expect("a JSON value serialises")
}

/// `config` signed for `weights` ([`checksum`]).
pub fn signed(config: &ModelConfig, weights: &[u8]) -> ModelConfig {
    config
        .clone()
        .with_checksum(Some(checksum(config, weights)))
}

/// SHA-256 (hex) of a file's bytes.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(bytes))
}

/// Parse a model folder's `config.json` and check that it was exported with `weights`.
pub fn config_for(config_json: &str, weights: &[u8]) -> Result<ModelConfig, WeightsError> {
    let config = config_from_json(config_json)?;
    let Some(stored) = &config.checksum else {
        return Err(WeightsError::Checksum("it has no checksum".into()));
    };
    if *stored != checksum(&config, weights) {
        return Err(WeightsError::Checksum("the checksum differs".into()));
    }
    Ok(config)
}

/// Serialise a model's parameters (and batch-norm statistics) to burnpack bytes.
///
/// The record is the architecture's own (no enum variant in the tensor names), so the names in
/// a file are those of its network, as they were before there was more than one.
pub fn to_bytes(model: Network) -> Result<Vec<u8>, WeightsError> {
    let record = match model {
        Network::LesionNet(net) => net.into_record(),
        Network::Lite0(net) => net.into_record(),
    };
    let bytes = record
        .into_bytes()
        .map_err(|e| WeightsError::Save(e.to_string()))?;
    Ok(bytes.to_vec())
}

/// Serialise for shipping, with every float stored as f16: half the download for the web page,
/// for a drift of the probabilities that docs/training.md records ("Half-precision weights").
/// Loading turns them back into f32. Checkpoints use [`to_bytes`], so a resumed run continues
/// exactly.
///
/// `model` is left as it was: the cast runs on a copy, because clones of a module share their
/// batch-norm statistics and mapping those writes through to every clone.
pub fn to_half_bytes(config: &ModelConfig, model: Network) -> Result<Vec<u8>, WeightsError> {
    let copy = from_bytes(config, &to_bytes(model)?, &Device::flex())?;
    to_numbered_bytes(copy.map(&mut CastFloats(FloatDType::F16)))
}

/// Serialise for shipping: as [`to_bytes`], with each tensor's parameter id replaced by its
/// place in the file. burn draws every parameter's and batch-norm statistic's id at random
/// when it makes a network, and the file keeps them; without this, the same weights exported
/// twice (`recalibrate`, a re-export through `--resume`) would differ in those bytes, the
/// model's checksum would change with them, and returning visitors would download an unchanged
/// model again. Shipped weights are never trained further, so their ids serve nothing else;
/// checkpoints, whose optimiser state is keyed by the ids, keep burn's own. 8-bit tensors
/// holding 4-bit steps are written two steps to a byte ([`four_bit`]), and the bytes laid out
/// for gzip ([`gzip_layout`]: f16 numbers as byte planes, tensors of a kind together).
fn to_numbered_bytes(model: Network) -> Result<Vec<u8>, WeightsError> {
    let save = |e: burn_pack::Error| WeightsError::Save(e.to_string());
    let bytes = Bytes::from_bytes_vec(to_bytes(model)?);
    let tensors = burn_pack::Reader::from_bytes(bytes)
        .and_then(burn_pack::Reader::into_tensors)
        .map_err(save)?
        .into_iter()
        .zip(1..)
        .map(|(tensor, id)| {
            let (name, dtype, shape, _, data) = tensor.into_parts()?;
            Ok(burn_pack::Tensor::new(name, dtype, shape, Some(id), data))
        })
        .collect::<Result<Vec<_>, burn_pack::Error>>()
        .map_err(save)?;
    let tensors = gzip_layout::lay_out(four_bit::pack(tensors)?, two_byte_numbers)
        .map_err(WeightsError::Save)?;
    let bytes = burn_pack::Writer::new(tensors).into_bytes().map_err(save)?;
    Ok(bytes.to_vec())
}

/// How the shipped weights' numbers are stored (both load back as f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    /// Every float as f16 ([`to_half_bytes`]).
    #[default]
    F16,
    /// The 1x1 convolutions' weights as 8-bit integers (burn's symmetric Q8) with one scale
    /// per output channel and run of input channels ([`q8_block`]), except the first blocks'
    /// (a few thousand numbers that carry most of the rounding's noise); the depthwise kernels
    /// of the same later blocks, one scale per channel ([`q8_depthwise`]); the feature
    /// density's whitening matrix at 6-bit steps, one scale per run of [`WHITENING_RUN`] of a
    /// row ([`q8_whitening`]); every scale f16 ([`q8_scheme`]); everything else (the first
    /// blocks' kernels, the stem, batch norms, biases, the classifier, the density's centres
    /// and scales) as f16. Which step each 1x1 convolution weight takes is train-native's
    /// choice (`quantise`), made before [`to_shipped_bytes`]; the depthwise kernels and the
    /// whitening are rounded to the nearest step here.
    Q8,
}

/// Serialise for shipping as `storage` says. For [`Storage::Q8`], the 1x1 convolutions to be
/// stored at 8 bits must already be (quantised with [`q8_scheme`]); a model with none is an
/// error rather than a silent f16 file or a second, plainer rounding.
pub fn to_shipped_bytes(
    config: &ModelConfig,
    model: Network,
    storage: Storage,
) -> Result<Vec<u8>, WeightsError> {
    match storage {
        Storage::F16 => to_half_bytes(config, model),
        Storage::Q8 => to_q8_bytes(config, model),
    }
}

/// The [`Storage::Q8`] form: the 8-bit layers as they are, the rest cast to f16, on a copy.
fn to_q8_bytes(config: &ModelConfig, model: Network) -> Result<Vec<u8>, WeightsError> {
    let copy = load_stored(config, &to_bytes(model)?, &Device::flex(), false)?;
    let mut count = CountQuantised(0);
    let copy = copy.map(&mut count);
    if count.0 == 0 {
        return Err(WeightsError::Save(
            "8-bit storage needs the 1x1 convolutions rounded to 8 bits first (train-native's quantise)".into(),
        ));
    }
    let copy = copy.map_depthwise(FIRST_ROUNDED_BLOCK, q8_depthwise);
    let copy = match copy.density().cloned() {
        Some(density) => copy.with_density(Some(density.map_whitening(q8_whitening))),
        None => copy,
    };
    to_numbered_bytes(copy.map(&mut CastFloats(FloatDType::F16)))
}

/// The first block whose 1x1 convolutions and depthwise kernels [`Storage::Q8`] rounds; the
/// blocks before it (the stem side, 75k numbers) stay f16: their layers are small and carry
/// most of the rounding's noise (docs/experiments.md, "Storage, per block").
pub const FIRST_ROUNDED_BLOCK: usize = 6;

/// The longest run of a whitening row that shares one 8-bit scale in [`Storage::Q8`]: the
/// row's entries fall off away from the diagonal (the matrix is the inverse of a Cholesky
/// factor, lower-triangular), so short runs keep the small ones from rounding to 0 beside it.
pub const WHITENING_RUN: usize = 64;

/// The largest step of the stored whitening: 6-bit steps (within ±31) in burn's 8-bit
/// format. gzip codes a byte by how often it occurs, so the narrower steps cost about 6 bits
/// each on the wire instead of 8 (0.08 MB of the first visit), for a relative change of about
/// 5% of the matrix; the threshold is fitted on the stored matrix's scores, and the rule in
/// docs/experiments.md ("Depthwise kernels at 8 bits") judged what it does to refusals.
pub const WHITENING_LARGEST: f32 = 31.0;

/// The feature density's whitening matrix (`[width, width]`) rounded to [`WHITENING_LARGEST`]
/// steps, one scale per run of at most [`WHITENING_RUN`] entries of a row (the longest that
/// divides the width). Plain rounding to the nearest step: the score's threshold is fitted
/// afterwards on the scores of the stored matrix, so what matters is that it ranks photos as
/// the f32 one does. A run of zeros (the upper triangle) keeps scale 1 rather than 0, which
/// would divide 0 by 0.
pub fn q8_whitening(whitening: Tensor<2>) -> Tensor<2> {
    let [_, width] = whitening.dims();
    let run = longest_run(width, WHITENING_RUN).unwrap_or(1);
    nearest_steps(whitening, run, WHITENING_LARGEST, &[1, run as u8])
}

/// A depthwise kernel (`[channels, 1, k, k]`) rounded to 8-bit steps, one scale per channel:
/// a channel's kernel is 9 or 25 numbers whose range differs from channel to channel by
/// orders of magnitude, which one scale for the tensor could not hold (docs/experiments.md,
/// "Storage"). Plain rounding to the nearest step, at most 1/254 of the channel's largest
/// weight.
pub fn q8_depthwise(kernel: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = kernel.dims();
    let run = h * w;
    nearest_steps(kernel, run, 127.0, &[1, 1, h as u8, w as u8])
}

/// `tensor` rounded to the nearest of `largest` steps either side of zero, one scale per run
/// of `run` values in its order (`block` in burn's terms); left as it is if it is 8-bit
/// already (a shipped model stored again).
fn nearest_steps<const D: usize>(
    tensor: Tensor<D>,
    run: usize,
    largest: f32,
    block: &[u8],
) -> Tensor<D> {
    if is_quantised(&tensor) {
        return tensor;
    }
    let device = tensor.device();
    let values: Vec<f32> = tensor
        .to_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 tensor");
    let scales: Vec<f32> = run_peaks(&values, run)
        .map(|peak| {
            if peak > 0.0 {
                f16_scale(peak / largest)
            } else {
                1.0
            }
        })
        .collect();
    tensor.quantize(
        &q8_scheme(block),
        QuantizationParameters {
            scales: Tensor::<1>::from_floats(scales.as_slice(), &device),
            global: None,
        },
    )
}

/// The largest magnitude of each run of `run` values in `values`' order: a symmetric 8-bit
/// scale is it over the largest step (as burn's Q8S computes it), here and in the trainer's
/// rounding of its 1x1 convolutions.
pub fn run_peaks(values: &[f32], run: usize) -> impl Iterator<Item = f32> + '_ {
    values
        .chunks(run)
        .map(|block| block.iter().fold(0.0f32, |m, v| m.max(v.abs())))
}

/// Counts the 8-bit parameters of a module.
struct CountQuantised(usize);

impl ModuleMapper for CountQuantised {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        self.0 += usize::from(is_quantised(&param.val()));
        param
    }
}

/// The block of values that share one scale in a 1x1 convolution's weight of shape `dims`
/// (`[out, in, 1, 1]`): one output channel, and the longest run of input channels that
/// divides their number and is at most `max_run` (and burn's block limit, 255). `None` for
/// any other shape.
pub fn q8_block(dims: &[usize], max_run: usize) -> Option<Vec<u8>> {
    let [_, inputs, 1, 1] = *dims else {
        return None;
    };
    let run = longest_run(inputs, max_run)?;
    Some(vec![1, run as u8, 1, 1])
}

/// The longest run of `len` values, at most `max_run` (and burn's block limit, 255), that
/// divides `len` into whole runs; `None` for no values.
fn longest_run(len: usize, max_run: usize) -> Option<usize> {
    (1..=len.min(max_run).min(255))
        .rev()
        .find(|b| len.is_multiple_of(*b))
}

/// burn's symmetric 8-bit scheme with `block`'s scales, stored as f16: what [`Storage::Q8`]
/// stores. f32 scales (one per 28-64 steps) were 0.18 MB of the 2.51 MB gzip file, barely
/// compressed; f16 halves them. A step read with the f16 nearest of its scale ([`f16_scale`])
/// moves by at most 2^-11 of it, as the f16 layers' weights do.
pub fn q8_scheme(block: &[u8]) -> QuantScheme {
    Device::flex()
        .settings()
        .quantization
        .scheme
        .with_value(QuantValue::Q8S)
        .per_block(block, ScaleDtype::F16)
}

/// `scale` as [`q8_scheme`] stores it (the nearest f16), for choosing steps against it.
/// A scale under f16's normal range (6.1e-5, a run whose largest weight is under 4e-4 at
/// 4-bit steps: 140 of the shipped 50,432) is held to 2^-25 rather than to 2^-11 of itself,
/// and one under 3e-8 is 0 (its run's steps all 0): weights that small move no answer.
pub fn f16_scale(scale: f32) -> f32 {
    burn::tensor::f16::from_f32(scale).to_f32()
}

fn is_quantised<const D: usize>(tensor: &Tensor<D>) -> bool {
    matches!(tensor.dtype(), burn::tensor::DType::QFloat(_))
}

/// Casts every float parameter and buffer (batch-norm statistics included) of a module,
/// leaving quantised ones as they are.
struct CastFloats(FloatDType);

impl ModuleMapper for CastFloats {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|tensor| {
            if is_quantised(&tensor) {
                tensor
            } else {
                tensor.cast(dtype)
            }
        })
    }
}

/// Build the network for `config` on `device` and load `bytes` into it, checking every shape.
/// Floats stored at any precision (f32 checkpoints, f16 shipped weights) load as the
/// network's f32.
pub fn from_bytes(
    config: &ModelConfig,
    bytes: &[u8],
    device: &Device,
) -> Result<Network, WeightsError> {
    load(config, bytes, device, false)
}

/// The network alone from a shipped model's weights, whatever feature density they carry
/// (`train-native recalibrate` fits a new one): `config` describes the network without an
/// answer, and tensors it has no place for are left out.
pub fn network_from_bytes(
    config: &ModelConfig,
    bytes: &[u8],
    device: &Device,
) -> Result<Network, WeightsError> {
    load(&config.unfitted(), bytes, device, true)
}

/// [`network_from_bytes`] with 8-bit layers left 8-bit, as stored: for exporting the same
/// network again (`recalibrate`) without rounding it a second time. Not for computing with.
pub fn stored_network_from_bytes(
    config: &ModelConfig,
    bytes: &[u8],
    device: &Device,
) -> Result<Network, WeightsError> {
    load_stored(&config.unfitted(), bytes, device, true)
}

fn load(
    config: &ModelConfig,
    bytes: &[u8],
    device: &Device,
    allow_unused: bool,
) -> Result<Network, WeightsError> {
    load_record(config, as_floats(checked(bytes)?)?, device, allow_unused)
}

/// `bytes` as the network reads them, in one pass over the file: byte planes joined, packed
/// 4-bit steps unpacked and 8-bit tensors turned into f32 ([`dequantise`]), since the network
/// computes in f32 everywhere and its parameters load as trainable ones that way; the bytes
/// themselves when there are none of these (checkpoints, f16 files written before the planes).
fn as_floats(bytes: &[u8]) -> Result<Bytes, WeightsError> {
    let stored = |t: &burn_pack::Tensor| {
        is_shipped_form(t) || matches!(t.dtype, burn::tensor::DType::QFloat(_))
    };
    let floats = |t| dequantise::tensor(in_burns_layout(t)?).map_err(WeightsError::Corrupt);
    let rewritten = rewrite(bytes, stored, floats)?;
    Ok(rewritten.unwrap_or_else(|| Bytes::from_bytes_vec(bytes.to_vec())))
}

/// The burnpack `bytes` with `change` applied to every tensor, read and written once; `None`
/// when `needs` holds for none of them, so the file is already as wanted.
fn rewrite(
    bytes: &[u8],
    needs: impl Fn(&burn_pack::Tensor) -> bool,
    change: impl FnMut(burn_pack::Tensor) -> Result<burn_pack::Tensor, WeightsError>,
) -> Result<Option<Bytes>, WeightsError> {
    let tensors = read_tensors(bytes)?;
    if !tensors.iter().any(needs) {
        return Ok(None);
    }
    let tensors = tensors
        .into_iter()
        .map(change)
        .collect::<Result<Vec<_>, _>>()?;
    write_tensors(tensors).map(Some)
}

/// The tensors of the burnpack `bytes`.
fn read_tensors(bytes: &[u8]) -> Result<Vec<burn_pack::Tensor>, WeightsError> {
    let corrupt = |e: burn_pack::Error| WeightsError::Corrupt(e.to_string());
    std::panic::catch_unwind(|| {
        burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
    })
    .map_err(|_| WeightsError::Corrupt("unreadable header".into()))?
    .and_then(burn_pack::Reader::into_tensors)
    .map_err(corrupt)
}

/// `tensors` as a burnpack file.
fn write_tensors(tensors: Vec<burn_pack::Tensor>) -> Result<Bytes, WeightsError> {
    burn_pack::Writer::new(tensors)
        .into_bytes()
        .map_err(|e| WeightsError::Corrupt(e.to_string()))
}

/// The network with every tensor as the file stores it (8-bit ones still 8-bit).
fn load_stored(
    config: &ModelConfig,
    bytes: &[u8],
    device: &Device,
    allow_unused: bool,
) -> Result<Network, WeightsError> {
    let bytes = in_burns_layouts(checked(bytes)?)?;
    load_record(config, bytes, device, allow_unused)
}

/// The burnpack `bytes` with every tensor in burn's own layout again: byte planes joined
/// ([`gzip_layout`]), then 4-bit steps unpacked ([`four_bit`]); the bytes themselves when the
/// file holds neither (checkpoints, and shipped files from before either).
fn in_burns_layouts(bytes: &[u8]) -> Result<Bytes, WeightsError> {
    let rewritten = rewrite(bytes, is_shipped_form, in_burns_layout)?;
    Ok(rewritten.unwrap_or_else(|| Bytes::from_bytes_vec(bytes.to_vec())))
}

/// Whether `tensor` is in one of the shipped file's own layouts, not burn's.
fn is_shipped_form(tensor: &burn_pack::Tensor) -> bool {
    gzip_layout::is_planed(tensor) || four_bit::is_packed(tensor)
}

/// `tensor` in burn's own layout: the undoing of [`to_numbered_bytes`]'s, last step first.
fn in_burns_layout(tensor: burn_pack::Tensor) -> Result<burn_pack::Tensor, WeightsError> {
    let joined = gzip_layout::unplane(tensor, two_byte_numbers).map_err(WeightsError::Corrupt)?;
    four_bit::unpack_tensor(joined)
}

/// Where a stored tensor's two-byte numbers begin ([`gzip_layout::NumbersStart`]): at 0 for
/// an f16 tensor; after the steps for an 8-bit one (its scales; one byte a step, or half a byte
/// when [`four_bit`] packed them). `None` for any other dtype.
fn two_byte_numbers(name: &str, dtype: burn::tensor::DType, shape: &Shape) -> Option<usize> {
    use burn::tensor::DType;
    match dtype {
        DType::F16 => Some(0),
        DType::QFloat(_) => Some(four_bit::steps_len(name, shape.num_elements())),
        _ => None,
    }
}

/// `bytes`, unless they are obviously no weights file: burnpack's reader indexes into the
/// buffer.
fn checked(bytes: &[u8]) -> Result<&[u8], WeightsError> {
    if bytes.len() < 16 {
        return Err(WeightsError::Corrupt(format!("only {} bytes", bytes.len())));
    }
    Ok(bytes)
}

/// The network for `config` on `device` with the burnpack record `bytes` loaded into it.
fn load_record(
    config: &ModelConfig,
    bytes: Bytes,
    device: &Device,
    allow_unused: bool,
) -> Result<Network, WeightsError> {
    config.validate().map_err(WeightsError::Config)?;
    load_into(config.init(device), bytes, device, allow_unused)
}

/// `bytes` (a checkpoint's, or any file [`from_bytes`] reads) loaded into `network`, every
/// tensor of the one having its place in the other: for a network built otherwise than from
/// its configuration alone (training's mask head, `Network::with_mask_head`).
pub fn from_bytes_into(
    network: Network,
    bytes: &[u8],
    device: &Device,
) -> Result<Network, WeightsError> {
    load_into(network, as_floats(checked(bytes)?)?, device, false)
}

fn load_into(
    network: Network,
    bytes: Bytes,
    device: &Device,
    allow_unused: bool,
) -> Result<Network, WeightsError> {
    let read = std::panic::AssertUnwindSafe(|| ModuleRecord::from_bytes(bytes));
    let record = std::panic::catch_unwind(read)
        .map_err(|_| WeightsError::Corrupt("unreadable header".into()))?
        .map_err(|e| WeightsError::Corrupt(e.to_string()))?;
    // The record's own dtypes, then every float in the device's: burn's cast to the module's
    // dtype at load reads each parameter's dtype from its value, which first draws the random
    // initial weights that the file then replaces (a quarter of the load natively).
    let record = record
        .validate(true)
        .allow_partial(false)
        .allow_unused(allow_unused);
    let mismatch = |e: burn::store::RecordError| WeightsError::Mismatch(e.to_string());
    let network = match network {
        Network::LesionNet(net) => net.try_load_record(record).map(Network::LesionNet),
        Network::Lite0(net) => net.try_load_record(record).map(Network::Lite0),
    }
    .map_err(mismatch)?;
    Ok(network.map(&mut FloatsIn(device.settings().float_dtype)))
}

/// Every float parameter and buffer in one dtype, as a load in that dtype gives it: one held in
/// another is rebuilt from its numbers and kept as trainable as it was (a parameter stays a leaf
/// of the training graph, where a cast would make it a computed value). Quantised ones and those
/// in the dtype already are left as they are.
struct FloatsIn(FloatDType);

impl ModuleMapper for FloatsIn {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|tensor| {
            if is_quantised(&tensor) || tensor.dtype() == dtype.into() {
                return tensor;
            }
            let device = tensor.device();
            let trainable = tensor.is_require_grad();
            let dtype = burn::tensor::DType::from(dtype);
            Tensor::from_data(tensor.into_data(), (&device, dtype)).set_require_grad(trainable)
        })
    }
}

/// Parse a `config.json` (without checking whom it belongs to: see [`config_for`]).
pub fn config_from_json(json: &str) -> Result<ModelConfig, WeightsError> {
    let config: ModelConfig =
        serde_json::from_str(json).map_err(|e| WeightsError::Config(e.to_string()))?;
    config.validate().map_err(WeightsError::Config)?;
    Ok(config)
}

/// Serialise a config to the `config.json` format.
pub fn config_to_json(config: &ModelConfig) -> String {
    serde_json::to_string_pretty(config).expect("config serialises")
}

mod dequantise;
pub mod four_bit;
pub mod gzip_layout;

#[cfg(test)]
mod tests;

/// The model committed in `web/model/` (native only: it reads files).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod shipped;
