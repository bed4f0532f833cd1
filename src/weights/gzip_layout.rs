//! The shipped file's bytes laid out for gzip: half-precision numbers as two byte planes, and
//! tensors of one kind side by side.
//!
//! The page's first visit is measured gzipped, and gzip codes bytes: one Huffman code per
//! block of the stream, adapted to how often each byte occurs there. Two layouts of the same
//! numbers cost it less (both measured on the shipped `model.bpk` with `gzip -9`, 2,182,028
//! bytes before):
//! - **Byte planes.** An f16's two bytes are of two kinds: the high one holds the sign, the
//!   exponent and two bits of the mantissa, a few dozen values across a tensor; the low one is
//!   nearly uniform. Interleaved, they share one code. Every f16 of the file (the f16
//!   tensors, and the f16 scales after an 8-bit tensor's steps) is written low bytes first,
//!   then high bytes, under the tensor's name plus [`PLANES_SUFFIX`].
//! - **Kinds together.** burn writes a network's tensors in module order, so a block's batch
//!   norms sit between its 8-bit kernels and the next block's. [`by_kind`] orders them by
//!   dtype, then by name with the block numbers taken out, then by those numbers: every
//!   block's `bn0.gamma` together, then every `bn0.running_mean`, and so on.
//!
//! The shipped file went from 2,182,028 to 2,153,366 bytes gzipped (a simulation put 15.6 kB
//! on the order alone), for the same bytes in other places. [`unplane`] restores burn's
//! layout before any other reader sees the file, so the loaded network is the same to the
//! bit; a loader that does not know the suffix finds the tensor missing and refuses the file
//! instead of reading planes as numbers. burn reads tensors by name, so the order needs
//! nothing undone.

use burn::tensor::{Bytes, DType, Shape};

/// What a tensor's name ends with when its two-byte numbers are stored as byte planes.
pub const PLANES_SUFFIX: &str = ".planes";

/// Where a tensor's two-byte numbers begin in its data, from its name (as burn's layout has
/// it), dtype and shape; `None` for a tensor with none to plane. The weights module, which
/// knows the tensors' formats, says where (its `two_byte_numbers`); this module only moves
/// bytes.
pub type NumbersStart = fn(&str, DType, &Shape) -> Option<usize>;

/// `tensors` with their two-byte numbers as byte planes (each renamed), in [`by_kind`] order.
pub fn lay_out(
    tensors: Vec<burn_pack::Tensor>,
    start: NumbersStart,
) -> Result<Vec<burn_pack::Tensor>, String> {
    let mut tensors = tensors
        .into_iter()
        .map(|tensor| {
            let Some(from) = start(&tensor.name, tensor.dtype, &tensor.shape) else {
                return Ok(tensor);
            };
            let (name, dtype, shape, id, data) = tensor.into_parts().map_err(|e| e.to_string())?;
            if from > data.len() {
                return Err(format!(
                    "tensor {name} holds {} bytes, fewer than its {from} before its numbers",
                    data.len()
                ));
            }
            let data = Bytes::from_bytes_vec(to_planes(&data, from));
            let name = format!("{name}{PLANES_SUFFIX}");
            Ok(burn_pack::Tensor::new(name, dtype, shape, id, data))
        })
        .collect::<Result<Vec<_>, String>>()?;
    tensors.sort_by_cached_key(by_kind);
    Ok(tensors)
}

/// Whether `tensor` holds byte planes.
pub fn is_planed(tensor: &burn_pack::Tensor) -> bool {
    tensor.name.ends_with(PLANES_SUFFIX)
}

/// A tensor of byte planes back in burn's layout, under its own name; any other as it is. An
/// error says what is wrong with it.
pub fn unplane(
    tensor: burn_pack::Tensor,
    start: NumbersStart,
) -> Result<burn_pack::Tensor, String> {
    let (name, dtype, shape, id, data) = tensor.into_parts().map_err(|e| e.to_string())?;
    let Some(original) = name.strip_suffix(PLANES_SUFFIX) else {
        return Ok(burn_pack::Tensor::new(name, dtype, shape, id, data));
    };
    let from = start(original, dtype, &shape)
        .filter(|&from| from <= data.len())
        .ok_or_else(|| {
            format!(
                "tensor {original} ({dtype:?}, {} bytes) cannot hold byte planes",
                data.len()
            )
        })?;
    let data = Bytes::from_bytes_vec(from_planes(&data, from));
    Ok(burn_pack::Tensor::new(
        original.to_string(),
        dtype,
        shape,
        id,
        data,
    ))
}

/// `data` with its bytes from `start` on as two planes: every pair's first byte, then every
/// pair's second; an odd last byte stays last.
fn to_planes(data: &[u8], start: usize) -> Vec<u8> {
    let (head, numbers) = data.split_at(start);
    let pairs = numbers.chunks_exact(2);
    let odd = pairs.remainder();
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(head);
    out.extend(pairs.clone().map(|pair| pair[0]));
    out.extend(pairs.map(|pair| pair[1]));
    out.extend_from_slice(odd);
    out
}

/// The inverse of [`to_planes`]. One loop over a buffer of the final size, without a call per
/// byte: the browser runs this on every load, over 0.45 MB, in a module built for size, where a
/// `push` per number cost [`four_bit`](super::four_bit)'s unpacking 0.3 s over 2.9M steps.
fn from_planes(data: &[u8], start: usize) -> Vec<u8> {
    let pairs = (data.len() - start) / 2;
    let (low, high) = data[start..start + 2 * pairs].split_at(pairs);
    // The head and an odd last byte are where they were; the pairs between are rewritten.
    let mut out = data.to_vec();
    let numbers = out[start..start + 2 * pairs].chunks_exact_mut(2);
    for ((pair, &l), &h) in numbers.zip(low).zip(high) {
        pair[0] = l;
        pair[1] = h;
    }
    out
}

/// The order of the shipped file: 8-bit tensors, then f16 ones, then any other dtype; within
/// each, by name with its numbered parts (block indices) read as `#`, then by those numbers
/// (so block 6 before block 10). Names are unique, so no two tensors tie.
fn by_kind(tensor: &burn_pack::Tensor) -> (u8, String, Vec<u64>) {
    let rank = match tensor.dtype {
        DType::QFloat(_) => 0,
        DType::F16 => 1,
        _ => 2,
    };
    let parts = tensor.name.split('.');
    let numbers = parts.clone().filter_map(|p| p.parse().ok()).collect();
    let kind = parts
        .map(|p| if p.parse::<u64>().is_ok() { "#" } else { p })
        .collect::<Vec<_>>()
        .join(".");
    (rank, kind, numbers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_split_pairs_after_the_start_and_join_them_back() {
        let data = [9u8, 1, 2, 3, 4, 5, 6, 7];
        // From 1: pairs (1,2) (3,4) (5,6), the odd 7 last.
        let planed = to_planes(&data, 1);
        assert_eq!(planed, [9, 1, 3, 5, 2, 4, 6, 7]);
        assert_eq!(from_planes(&planed, 1), data);
        for start in 0..=data.len() {
            assert_eq!(
                from_planes(&to_planes(&data, start), start),
                data,
                "{start}"
            );
        }
        assert_eq!(to_planes(&[], 0), Vec::<u8>::new());
    }

    fn tensor(name: &str, dtype: DType, shape: [u64; 2], data: Vec<u8>) -> burn_pack::Tensor {
        burn_pack::Tensor::new(
            name.into(),
            dtype,
            shape,
            Some(1),
            Bytes::from_bytes_vec(data),
        )
    }

    fn eight_bit() -> DType {
        DType::QFloat(super::super::q8_scheme(&[1, 2]))
    }

    fn lay_out(tensors: Vec<burn_pack::Tensor>) -> Vec<burn_pack::Tensor> {
        super::lay_out(tensors, super::super::two_byte_numbers).unwrap()
    }

    fn unplane(tensor: burn_pack::Tensor) -> Result<burn_pack::Tensor, String> {
        super::unplane(tensor, super::super::two_byte_numbers)
    }

    #[test]
    fn f16_numbers_are_planed_and_restored_and_nothing_else_is() {
        let f16 = tensor("a.gamma", DType::F16, [1, 3], vec![1, 2, 3, 4, 5, 6]);
        let steps = tensor("w", eight_bit(), [2, 2], vec![1, 2, 3, 4, 10, 20, 11, 21]);
        let packed = tensor(
            "v.four_bit",
            eight_bit(),
            [2, 2],
            vec![1, 2, 10, 20, 11, 21],
        );
        let floats = tensor("b", DType::F32, [1, 1], vec![1, 2, 3, 4]);
        let originals = [f16, steps, packed, floats];
        let laid = lay_out(originals.to_vec());
        let find = |name: &str| laid.iter().find(|t| t.name == name).unwrap();
        assert_eq!(
            find("a.gamma.planes").to_bytes().unwrap().as_ref(),
            [1, 3, 5, 2, 4, 6]
        );
        // An 8-bit tensor's scales after its four steps (or its two bytes of packed steps).
        let planed = find("w.planes").to_bytes().unwrap();
        assert_eq!(planed.as_ref(), [1, 2, 3, 4, 10, 11, 20, 21]);
        let planed = find("v.four_bit.planes").to_bytes().unwrap();
        assert_eq!(planed.as_ref(), [1, 2, 10, 11, 20, 21]);
        assert_eq!(find("b").to_bytes().unwrap().as_ref(), [1, 2, 3, 4]);
        for original in &originals {
            let back = laid
                .iter()
                .map(|t| unplane(t.clone()).unwrap())
                .find(|t| t.name == original.name)
                .unwrap();
            assert_eq!(back.to_bytes().unwrap(), original.to_bytes().unwrap());
            assert_eq!(back.dtype, original.dtype);
        }
    }

    #[test]
    fn kinds_sit_together_in_block_order() {
        let f16 = |name: &str| tensor(name, DType::F16, [1, 1], vec![0, 0]);
        let names = [
            "blocks.10.bn0.gamma",
            "blocks.6.bn0.beta",
            "stem.weight",
            "blocks.6.bn0.gamma",
            "blocks.10.bn0.beta",
        ];
        let mut tensors: Vec<_> = names.iter().map(|n| f16(n)).collect();
        tensors.push(tensor("blocks.9.conv", eight_bit(), [2, 2], vec![0; 8]));
        let order: Vec<String> = lay_out(tensors).into_iter().map(|t| t.name).collect();
        assert_eq!(
            order,
            [
                "blocks.9.conv.planes",
                "blocks.6.bn0.beta.planes",
                "blocks.10.bn0.beta.planes",
                "blocks.6.bn0.gamma.planes",
                "blocks.10.bn0.gamma.planes",
                "stem.weight.planes",
            ]
        );
    }

    #[test]
    fn planes_a_tensor_cannot_hold_are_refused() {
        // Four 8-bit steps need four bytes before any scale.
        let short = tensor("w.planes", eight_bit(), [2, 2], vec![1, 2, 3]);
        let err = unplane(short).unwrap_err();
        assert!(err.contains("cannot hold byte planes"), "{err}");
        let floats = tensor("b.planes", DType::F32, [1, 1], vec![1, 2, 3, 4]);
        assert!(unplane(floats).is_err(), "an f32 tensor is never planed");
    }
}
