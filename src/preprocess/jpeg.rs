//! Whether a JPEG file holds its whole image, by walking its marker structure.
//!
//! Why: a JPEG cut short still decodes, with the missing part filled with grey, and the model
//! would classify half a photo. Why a walk, not a search for the last end-of-image marker: many
//! valid files carry bytes after the image (phones append a video to "motion photos", cameras a
//! second, full-size preview), and those bytes hold markers of their own. The walk follows the
//! segments from the start-of-image marker, skipping each by its length and each scan's
//! entropy-coded data up to the next marker, and the image is whole when it reaches the
//! end-of-image marker; whatever follows is not looked at.

/// Whether `bytes` (starting with the start-of-image marker) reach their end-of-image marker.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut at = 2;
    loop {
        // Find the next marker: an 0xFF (fill bytes allowed) followed by a marker code. Stray
        // bytes between segments are tolerated, as decoders do.
        while at < bytes.len() && bytes[at] != 0xFF {
            at += 1;
        }
        while at < bytes.len() && bytes[at] == 0xFF {
            at += 1;
        }
        let Some(&marker) = bytes.get(at) else {
            return false;
        };
        at += 1;
        match marker {
            0xD9 => return true,
            // Standalone markers: no length follows.
            0x01 | 0xD0..=0xD7 | 0xD8 | 0x00 => continue,
            _ => {
                let Some(length) = bytes
                    .get(at..at + 2)
                    .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
                else {
                    return false;
                };
                if length < 2 || at + length > bytes.len() {
                    return false;
                }
                at += length;
                if marker == 0xDA {
                    match scan_end(bytes, at) {
                        Some(end) => at = end,
                        None => return false,
                    }
                }
            }
        }
    }
}

/// The position of the marker that ends the entropy-coded data starting at `at`: an 0xFF
/// followed by anything but a stuffed zero, a restart marker or more fill.
fn scan_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    while at + 1 < bytes.len() {
        if bytes[at] == 0xFF {
            match bytes[at + 1] {
                0x00 | 0xD0..=0xD7 => at += 2,
                0xFF => at += 1,
                _ => return Some(at),
            }
        } else {
            at += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny deterministic generator (xorshift), so the properties run over many cases
    /// without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// A photo-like JPEG of random size and content: baseline or progressive, with or without
    /// restart markers.
    fn jpeg(rng: &mut Rng) -> Vec<u8> {
        let (w, h) = (8 + rng.below(120) as u16, 8 + rng.below(90) as u16);
        let seed = rng.next();
        let pixels: Vec<u8> = (0..usize::from(w) * usize::from(h) * 3)
            .map(|i| ((i as u64).wrapping_mul(seed | 1) >> 7) as u8 ^ (i / 97) as u8)
            .collect();
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 40 + rng.below(60) as u8);
        encoder.set_progressive(rng.below(2) == 0);
        if rng.below(3) == 0 {
            encoder.set_restart_interval(1 + rng.below(8) as u16);
        }
        encoder
            .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    /// Where the first scan's entropy-coded data starts and the end-of-image marker sits.
    fn scan_data(bytes: &[u8]) -> (usize, usize) {
        let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let length = usize::from(u16::from_be_bytes([bytes[sos + 2], bytes[sos + 3]]));
        (sos + 2 + length, bytes.len() - 2)
    }

    #[test]
    fn any_trailer_after_the_image_is_accepted() {
        let mut rng = Rng(0x5EED);
        for case in 0..200 {
            let photo = jpeg(&mut rng);
            assert!(jpeg_is_complete(&photo), "case {case}: the photo itself");
            let trailer: Vec<u8> = match case % 4 {
                // Random bytes, markers included.
                0 => (0..rng.below(5000)).map(|_| rng.next() as u8).collect(),
                // A second JPEG, as cameras append a preview.
                1 => jpeg(&mut rng),
                // Half of another JPEG (a start-of-scan with no end).
                2 => {
                    let other = jpeg(&mut rng);
                    other[..other.len() / 2].to_vec()
                }
                // Something that looks like a video container full of 0xFF.
                _ => b"\0\0\0\x18ftypmp42"
                    .iter()
                    .copied()
                    .chain((0..3000).map(|i| if i % 3 == 0 { 0xFF } else { 0xDA }))
                    .collect(),
            };
            let with_trailer = [photo, trailer].concat();
            assert!(
                jpeg_is_complete(&with_trailer),
                "case {case}: a photo with a trailer was called truncated"
            );
        }
    }

    #[test]
    fn a_cut_inside_the_scan_data_is_refused() {
        let mut rng = Rng(0xC0FFEE);
        for case in 0..200 {
            let photo = jpeg(&mut rng);
            let (start, end) = scan_data(&photo);
            let cut = start + rng.below(end - start);
            assert!(
                !jpeg_is_complete(&photo[..cut]),
                "case {case}: cut at {cut} of {} accepted",
                photo.len()
            );
            // Anywhere before the end-of-image marker, headers included.
            let early = 2 + rng.below(photo.len() - 3);
            assert!(
                !jpeg_is_complete(&photo[..early]),
                "case {case}: cut at {early} accepted"
            );
        }
    }

    #[test]
    fn not_a_jpeg_is_not_complete() {
        assert!(!jpeg_is_complete(b""));
        assert!(!jpeg_is_complete(b"\xFF\xD8"));
        assert!(!jpeg_is_complete(b"GIF89a"));
        // A segment whose length runs past the end.
        assert!(!jpeg_is_complete(b"\xFF\xD8\xFF\xE0\x10\x00abc"));
    }
}
