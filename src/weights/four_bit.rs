//! 4-bit steps two to a byte in the shipped file.
//!
//! A network trained at 4-bit steps (train-native's `four_bit`) ships its 1x1 convolutions as
//! burn's 8-bit tensors holding values in -7..=7: one byte per number where four bits would
//! do. gzip's byte-wise Huffman code cannot spend less than a whole bit on a symbol, so such
//! bytes compress to about 4.05 bits a number against an entropy of 3.50 (synthetic steps of
//! this shape); two numbers to a byte, 3.55, and the shipped weights went from 2.70 to 2.51 MB
//! gzip (docs/experiments.md, "4-bit steps two to a byte"). burn's
//! own packed 4-bit formats do not load on its CPU backend (flex), so the file packs them
//! itself: a tensor whose 8-bit values all lie within -7..=7 is written under its name plus
//! [`PACKED_SUFFIX`], its values two to a byte, the scales after them as burn wrote them.
//! [`unpack_tensor`] restores burn's layout before any other reader sees the file, so the loaded
//! network is the same to the bit; a loader that does not know the suffix finds the tensor
//! missing and refuses the file instead of reading nibbles as bytes.

use burn::tensor::{Bytes, DType};

use super::WeightsError;

/// What a packed tensor's name ends with.
pub const PACKED_SUFFIX: &str = ".four_bit";

/// The largest 4-bit step.
const LARGEST: i8 = 7;

/// An unwritten nibble (0) unpacked: -8 as a byte.
const UNWRITTEN: u8 = 0xf8;

/// `tensors` with every 8-bit tensor whose values fit 4 bits packed two to a byte.
pub fn pack(tensors: Vec<burn_pack::Tensor>) -> Result<Vec<burn_pack::Tensor>, WeightsError> {
    let save = |e: burn_pack::Error| WeightsError::Save(e.to_string());
    tensors
        .into_iter()
        .map(|tensor| {
            let (name, dtype, shape, id, data) = tensor.into_parts().map_err(save)?;
            let count = shape.num_elements();
            let fits = matches!(dtype, DType::QFloat(_))
                && data.len() >= count
                && data[..count]
                    .iter()
                    .all(|&b| (-LARGEST..=LARGEST).contains(&(b as i8)));
            Ok(if fits {
                let packed = pack_values(&data[..count], &data[count..]);
                let name = format!("{name}{PACKED_SUFFIX}");
                burn_pack::Tensor::new(name, dtype, shape, id, Bytes::from_bytes_vec(packed))
            } else {
                burn_pack::Tensor::new(name, dtype, shape, id, data)
            })
        })
        .collect()
}

/// The bytes `count` steps of the 8-bit tensor `name` take in the file, before its scales: one
/// a step, or half a byte when packed (its name ends with [`PACKED_SUFFIX`]).
pub fn steps_len(name: &str, count: usize) -> usize {
    if name.ends_with(PACKED_SUFFIX) {
        count.div_ceil(2)
    } else {
        count
    }
}

/// Whether `tensor` holds 4-bit steps two to a byte.
pub fn is_packed(tensor: &burn_pack::Tensor) -> bool {
    tensor.name.ends_with(PACKED_SUFFIX)
}

/// A packed `tensor` back in burn's 8-bit layout, under its own name; any other as it is.
pub fn unpack_tensor(tensor: burn_pack::Tensor) -> Result<burn_pack::Tensor, WeightsError> {
    let corrupt = |e: burn_pack::Error| WeightsError::Corrupt(e.to_string());
    let (name, dtype, shape, id, data) = tensor.into_parts().map_err(corrupt)?;
    let Some(original) = name.strip_suffix(PACKED_SUFFIX) else {
        return Ok(burn_pack::Tensor::new(name, dtype, shape, id, data));
    };
    let count = shape.num_elements();
    let packed = steps_len(&name, count);
    if !matches!(dtype, DType::QFloat(_)) || data.len() < packed {
        return Err(WeightsError::Corrupt(format!(
            "packed 4-bit tensor {original} holds {} bytes as {dtype:?}; its {count} steps need {packed} of an 8-bit tensor",
            data.len()
        )));
    }
    let bytes = unpack_values(&data[..packed], count, &data[packed..]).ok_or_else(|| {
        WeightsError::Corrupt(format!(
            "packed 4-bit tensor {original} holds a step outside -7..=7"
        ))
    })?;
    Ok(burn_pack::Tensor::new(
        original.to_string(),
        dtype,
        shape,
        id,
        Bytes::from_bytes_vec(bytes),
    ))
}

/// `values` (bytes of i8 in -7..=7) two to a byte, the first in the low four bits, each
/// stored as value + 8 (1..=15), then `rest` unchanged.
fn pack_values(values: &[u8], rest: &[u8]) -> Vec<u8> {
    let nibble = |b: u8| ((b as i8) + 8) as u8;
    let mut out: Vec<u8> = values
        .chunks(2)
        .map(|pair| nibble(pair[0]) | pair.get(1).map_or(0, |&b| nibble(b) << 4))
        .collect();
    out.extend_from_slice(rest);
    out
}

/// The inverse of [`pack_values`]: `count` i8 bytes from `packed`, then `rest`; `None` when a
/// step's nibble is 0, which was never written: it reads as -8, which no step is. One loop
/// over a buffer of the final size, without a call per step: the browser runs this on every
/// load, over 2.9M steps, in a module built for size (a `push` per step cost 0.3 s there).
fn unpack_values(packed: &[u8], count: usize, rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0u8; packed.len() * 2];
    for (pair, &b) in out.chunks_exact_mut(2).zip(packed) {
        pair[0] = (b & 0x0f).wrapping_sub(8);
        pair[1] = (b >> 4).wrapping_sub(8);
    }
    // An odd count's empty last nibble goes here, before the check.
    out.truncate(count);
    if out.contains(&UNWRITTEN) {
        return None;
    }
    out.extend_from_slice(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The burnpack `bytes` with packed tensors back in burn's 8-bit layout; the bytes themselves
    /// when nothing is packed. Shipped files also hold byte planes: they are read through
    /// [`super::super::in_burns_layouts`], which undoes both.
    fn unpack(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, WeightsError> {
        Ok(
            match super::super::rewrite(bytes, is_packed, unpack_tensor)? {
                Some(unpacked) => std::borrow::Cow::Owned(unpacked.to_vec()),
                None => std::borrow::Cow::Borrowed(bytes),
            },
        )
    }

    #[test]
    fn steps_pack_two_to_a_byte_and_back() {
        let values: Vec<u8> = [-7i8, 7, 0, -1, 3].iter().map(|&v| v as u8).collect();
        let rest = [9u8, 8, 7];
        let packed = pack_values(&values, &rest);
        assert_eq!(
            packed.len(),
            3 + 3,
            "five steps in three bytes, the scales after"
        );
        assert_eq!(packed[0], 1 | (15 << 4));
        assert_eq!(
            unpack_values(&packed[..3], 5, &packed[3..]),
            Some([values, rest.to_vec()].concat())
        );
        // A 0 nibble is refused, except the empty half of an odd count's last byte.
        assert_eq!(unpack_values(&[0x10, 0x01], 3, &[]), None);
        assert_eq!(unpack_values(&[0x81, 0x00], 3, &[]), None);
        assert_eq!(unpack_values(&[0x81, 0x08], 3, &[]), Some(vec![0xf9, 0, 0]));
        assert_eq!(unpack_values(&[0x81, 0x08], 4, &[]), None);
    }

    /// A burnpack file of one tensor named `name`, of `dtype` and shape [2, 2], with `data`.
    fn file(name: &str, dtype: DType, data: Vec<u8>) -> Vec<u8> {
        let tensor = burn_pack::Tensor::new(
            name.into(),
            dtype,
            [2u64, 2],
            Some(1),
            Bytes::from_bytes_vec(data),
        );
        burn_pack::Writer::new(vec![tensor])
            .into_bytes()
            .unwrap()
            .to_vec()
    }

    fn eight_bit() -> DType {
        DType::QFloat(super::super::q8_scheme(&[1, 2]))
    }

    #[test]
    fn only_eight_bit_tensors_within_four_bits_are_packed() {
        let scales = burn::tensor::f16::from_f32(1.5).to_le_bytes().repeat(2);
        let steps = [[3u8, 0xf9, 0, 7].as_slice(), &scales].concat();
        let wide = [[3u8, 0xf8, 0, 7].as_slice(), &scales].concat();
        let pack_one = |name: &str, dtype, data: Vec<u8>| {
            let reader =
                burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(file(name, dtype, data)));
            let tensors = pack(reader.unwrap().into_tensors().unwrap()).unwrap();
            tensors[0].name.clone()
        };
        assert_eq!(pack_one("w", eight_bit(), steps.clone()), "w.four_bit");
        assert_eq!(
            pack_one("w", eight_bit(), wide),
            "w",
            "a -8 is not a 4-bit step"
        );
        let floats = vec![0u8; 16];
        assert_eq!(pack_one("w", DType::F32, floats), "w");
        // Packed and unpacked, the file is burn's again.
        let original = file("w", eight_bit(), steps.clone());
        let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(original.clone()));
        let packed = pack(reader.unwrap().into_tensors().unwrap()).unwrap();
        let packed = burn_pack::Writer::new(packed)
            .into_bytes()
            .unwrap()
            .to_vec();
        assert_eq!(unpack(&packed).unwrap().as_ref(), original.as_slice());
        // A file with nothing packed is handed back as it is.
        assert!(matches!(
            unpack(&original).unwrap(),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn broken_packed_tensors_are_refused() {
        let scales = burn::tensor::f16::from_f32(1.5).to_le_bytes().repeat(2);
        let refused = |dtype, data: Vec<u8>| {
            let err = unpack(&file("w.four_bit", dtype, data)).unwrap_err();
            assert!(matches!(err, WeightsError::Corrupt(_)), "{err}");
            err.to_string()
        };
        // A nibble of 0 was never written: -8 is not a step.
        let err = refused(eight_bit(), [[0x91u8, 0x00].as_slice(), &scales].concat());
        assert!(err.contains("outside -7..=7"), "{err}");
        // Four steps need two bytes.
        let err = refused(eight_bit(), vec![0x99]);
        assert!(err.contains("need 2"), "{err}");
        // Only 8-bit tensors are packed.
        let err = refused(DType::F32, vec![0x99; 16]);
        assert!(err.contains("F32"), "{err}");
        assert!(unpack(b"not a burnpack file at all").is_err());
    }
}
