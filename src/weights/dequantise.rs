//! 8-bit tensors of a weights file turned into f32 before the network reads them.
//!
//! The network computes in f32, so a shipped file's 8-bit tensors are dequantised once, at
//! load. Two reasons to do it here, in the file, rather than on the loaded network:
//! - **Trainable.** A parameter loaded as an 8-bit tensor and dequantised afterwards is no leaf
//!   of the training graph: `train --init web/model` would not train the shipped network's 1x1
//!   convolutions and later depthwise kernels. Loaded as f32, it is a parameter like any other.
//! - **Fast.** burn's CPU backend dequantises looking up each number's block scale with a
//!   division per dimension (`BlockLayout::block_of`): natively about 40 of the 95 ms the shipped
//!   weights took to load, and in the browser, where a function that runs once never leaves
//!   V8's baseline compiler, several times that. Every block this project stores is a run of the
//!   flat storage (a run of a 1x1 kernel's inputs, a depthwise kernel, a run of a row of the
//!   whitening), so [`floats`] walks runs and scales side by side; other layouts take burn's
//!   lookup. Either way with burn's arithmetic (`global * scale * step`, in that order): the
//!   same floats to the bit as burn's own dequantisation.

use burn::tensor::quantization::{BlockLayout, QuantScheme, QuantizedBytes, quantized_data_len};
use burn::tensor::{Bytes, DType, Shape};

/// An 8-bit `tensor` of a weights file as f32; any other as it is. An error says what is wrong
/// with it.
pub(super) fn tensor(tensor: burn_pack::Tensor) -> Result<burn_pack::Tensor, String> {
    let DType::QFloat(scheme) = tensor.dtype else {
        return Ok(tensor);
    };
    let (name, _, shape, id, data) = tensor.into_parts().map_err(|e| e.to_string())?;
    let values = floats(scheme, &shape, data)
        .ok_or_else(|| format!("8-bit tensor {name} is shorter than its shape"))?;
    let data = Bytes::from_elems(values);
    Ok(burn_pack::Tensor::new(name, DType::F32, shape, id, data))
}

/// The f32 values of an 8-bit tensor's stored `data` (its steps, then its scales), as burn's
/// CPU backend computes them; `None` when `data` is too short for `shape`.
fn floats(scheme: QuantScheme, shape: &Shape, data: Bytes) -> Option<Vec<f32>> {
    if data.len() < quantized_data_len(&scheme, shape) {
        return None;
    }
    let bytes = QuantizedBytes {
        bytes: data,
        scheme,
        shape: shape.clone(),
    };
    let unwind = std::panic::AssertUnwindSafe(|| bytes.into_vec_i8());
    let (steps, scales) = std::panic::catch_unwind(unwind).ok()?;
    let global = scales.global.unwrap_or(1.0);
    let scale_of = |block: usize| scales.block.get(block).copied();
    let values = match (run_length(&scheme, shape.as_slice()), scheme.block_size()) {
        (Some(run), _) => {
            let runs = steps.chunks(run).enumerate();
            runs.map(|(block, steps)| {
                let scale = scale_of(block)?;
                Some(steps.iter().map(move |&step| global * scale * step as f32))
            })
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect()
        }
        (None, Some(block)) => {
            let layout = BlockLayout::new(shape, &block);
            let each = |(index, &step): (usize, &i8)| {
                Some(global * scale_of(layout.block_of(index))? * step as f32)
            };
            steps.iter().enumerate().map(each).collect::<Option<_>>()?
        }
        (None, None) => Vec::new(),
    };
    Some(values)
}

/// How many consecutive numbers of the flat storage share one scale, where every block is
/// such a run: blocks of 1 in the leading dimensions, then one dimension cut into whole
/// blocks, then every dimension after it whole (one scale for the whole tensor too). `None` for
/// any other layout, and for no numbers.
fn run_length(scheme: &QuantScheme, shape: &[usize]) -> Option<usize> {
    let count: usize = shape.iter().product();
    let Some(block) = scheme.block_size() else {
        return (count > 0).then_some(count);
    };
    let block: Vec<usize> = block
        .to_dim_vec(shape.len())
        .into_iter()
        .map(usize::from)
        .collect();
    let cut = block.iter().position(|&b| b != 1).unwrap_or(shape.len());
    let divides = cut == shape.len() || shape[cut].is_multiple_of(block[cut]);
    let whole_after = (cut + 1..shape.len()).all(|d| block[d] == shape[d]);
    let run: usize = block.iter().product();
    (divides && whole_after && run > 0 && count > 0).then_some(run)
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;
    use burn::tensor::quantization::QuantizationParameters;

    use super::*;
    use crate::weights::q8_scheme;

    /// A tensor quantised with `block`, its scales from 0.01 up, its steps -127..=127 in turn.
    fn quantised(shape: [usize; 4], block: &[u8]) -> Tensor<4> {
        let device = Device::flex();
        let count: usize = shape.iter().product();
        let values: Vec<f32> = (0..count)
            .map(|i| ((i * 37) % 255) as f32 - 127.0)
            .collect();
        let tensor = Tensor::<1>::from_floats(values.as_slice(), &device).reshape(shape);
        let scheme = q8_scheme(block);
        let blocks: usize = scheme
            .block_size()
            .map(|b| b.num_blocks(&shape).iter().product())
            .unwrap_or(1);
        let scales: Vec<f32> = (0..blocks).map(|b| 0.01 + b as f32 * 0.003).collect();
        tensor.quantize(
            &scheme,
            QuantizationParameters {
                scales: Tensor::<1>::from_floats(scales.as_slice(), &device),
                global: None,
            },
        )
    }

    /// `tensor` as a weights file holds it.
    fn stored(tensor: Tensor<4>) -> burn_pack::Tensor {
        let (bytes, shape, dtype) = tensor.into_data().into_parts();
        burn_pack::Tensor::new("t".into(), dtype, shape, None, bytes)
    }

    /// A stored tensor's dtype and the bits of each of its numbers.
    fn read(tensor: burn_pack::Tensor) -> (DType, Vec<u32>) {
        let (_, dtype, _, _, bytes) = tensor.into_parts().unwrap();
        let bits = bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        (dtype, bits)
    }

    fn bits(tensor: Tensor<4>) -> Vec<u32> {
        let data = tensor.into_data();
        let values = data.as_slice::<f32>().expect("f32");
        values.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn eight_bit_tensors_become_burns_floats_to_the_bit() {
        // A 1x1 kernel's inputs in runs, a depthwise kernel per channel, a whole row, single
        // numbers; then two layouts that are no runs (two-by-two blocks; a run across rows).
        let layouts: [([usize; 4], &[u8]); 6] = [
            ([6, 12, 1, 1], &[1, 4, 1, 1]),
            ([5, 1, 3, 3], &[1, 1, 3, 3]),
            ([3, 8, 1, 1], &[1, 8, 1, 1]),
            ([4, 6, 1, 1], &[1, 1, 1, 1]),
            ([4, 4, 1, 1], &[2, 2, 1, 1]),
            ([3, 4, 2, 1], &[1, 2, 2, 1]),
        ];
        for (shape, block) in layouts {
            let tensor = quantised(shape, block);
            let (dtype, bits_read) = read(super::tensor(stored(tensor.clone())).unwrap());
            assert_eq!(dtype, DType::F32, "{shape:?} {block:?}");
            assert_eq!(bits_read, bits(tensor.dequantize()), "{shape:?} {block:?}");
        }
    }

    #[test]
    fn runs_are_told_from_other_layouts() {
        assert_eq!(
            run_length(&q8_scheme(&[1, 4, 1, 1]), &[6, 12, 1, 1]),
            Some(4)
        );
        assert_eq!(
            run_length(&q8_scheme(&[1, 1, 3, 3]), &[5, 1, 3, 3]),
            Some(9)
        );
        assert_eq!(run_length(&q8_scheme(&[2, 2, 1, 1]), &[4, 4, 1, 1]), None);
        // A run that does not divide its dimension.
        assert_eq!(run_length(&q8_scheme(&[1, 5, 1, 1]), &[2, 12, 1, 1]), None);
    }

    #[test]
    fn tensors_that_are_not_eight_bit_are_left_as_they_are() {
        let ones = Tensor::<4>::ones([2, 3, 1, 1], &Device::flex());
        let (dtype, bits_read) = read(super::tensor(stored(ones.clone())).unwrap());
        assert_eq!((dtype, bits_read), (DType::F32, bits(ones)));
    }

    #[test]
    fn a_truncated_eight_bit_tensor_is_refused() {
        let tensor = quantised([6, 12, 1, 1], &[1, 4, 1, 1]);
        let (bytes, shape, dtype) = tensor.into_data().into_parts();
        let short = Bytes::from_bytes_vec(bytes[..bytes.len() - 10].to_vec());
        // burnpack reads what a file holds for an 8-bit tensor (its length is no product of
        // shape and dtype); loading refuses it.
        let pack = burn_pack::Tensor::new("t".into(), dtype, shape, None, short);
        let error = super::tensor(pack).unwrap_err();
        assert!(error.contains("shorter than its shape"), "{error}");
    }
}
