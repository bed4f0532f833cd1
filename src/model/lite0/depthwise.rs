//! Lite0's depthwise convolutions on the CPU where nothing needs their gradient (inference,
//! natively and in the browser, and training's frozen blocks): flex's numbers, faster.
//!
//! flex convolves a depthwise layer plane by plane (one batch item and channel at a time),
//! accumulating each kernel position's products along runs of an output row whose ends it
//! computes so that no padding is read. Lite0's later planes are 8x8 and 4x4, so those runs
//! are 4 to 8 numbers long, too short for the vectorised loop, and a stride-2 layer's runs
//! are scalar gathers. Here each plane is first copied into a small buffer with its padding's
//! zeros (a stride-2 plane split into its even and odd columns), so every output row is read
//! in whole vectors of eight with no bounds to compute, and each vector's eight sums stay in
//! registers across all the kernel's positions. Natively, `evaluate --split val` took 68-72 s
//! against 93-106 s and the end of a training run 16 minutes against 21; in Chromium, a
//! worker's 4 views 5-10% less (docs/throughput.md).
//!
//! Each output is the same sum in the same order as flex's: from zero, `input * weight` added
//! for the kernel's rows and, within a row, its columns, in order, a product and then a sum
//! (Rust never fuses the two). The padding's zeros add `+-0` terms that flex skips, which
//! leave a sum unchanged (a sum that starts at `+0` never rounds to `-0`), so the output is
//! flex's to the bit while the weights are finite. A layer with a non-finite weight, a bias,
//! dilation, another grouping or another dtype runs on burn's convolution, as do training's
//! tracked layers, which need the gradient, and every layer on WebGPU.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
#[cfg(not(target_family = "wasm"))]
use rayon::prelude::*;

use super::untracked::{Geometry, on_floats, plain_weights};

/// Outputs computed together: one AVX register of f32s, or two SSE or wasm ones.
const LANES: usize = 8;

/// `conv.forward(x)`: computed here when `conv` is a plain depthwise convolution and nothing
/// needs its gradient, by burn otherwise.
pub(super) fn depthwise(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    match Layer::of(conv, &x) {
        Some(layer) => layer.apply(x),
        None => conv.forward(x),
    }
}

/// One depthwise layer on one input shape, with its weights as plain floats.
struct Layer {
    at: Geometry,
    /// `[channels, kernel, kernel]` as stored (and as flex reads them).
    weights: Vec<f32>,
}

impl Layer {
    /// The layer `conv` is on `x`, when this module computes it (see the module's doc).
    fn of(conv: &Conv2d, x: &Tensor<4>) -> Option<Self> {
        let [_, channels, ..] = x.dims();
        let [outputs, per_group, ..] = conv.weight.dims();
        let plain = conv.groups == channels && outputs == channels && per_group == 1;
        let at = Geometry::of(conv, x).filter(|_| plain)?;
        let weights = plain_weights(conv, x)?;
        weights
            .iter()
            .all(|w| w.is_finite())
            .then_some(Self { at, weights })
    }

    /// The layer on `x` (untracked), on `x`'s device.
    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, channels, ..] = self.at.input;
        let [out_h, out_w] = self.at.out;
        on_floats(x, [batch, channels, out_h, out_w], |input| self.run(input))
    }

    /// The convolution of `input` (`[batch, channels, height, width]`, row-major), in the
    /// same layout, plane by plane (in parallel natively; the browser's module has one thread).
    fn run(&self, input: &[f32]) -> Vec<f32> {
        let [batch, channels, height, width] = self.at.input;
        let [out_h, out_w] = self.at.out;
        let shape = self.buffer_shape();
        let mut output = vec![0.0; batch * channels * out_h * out_w];
        let plane = |buffer: &mut Vec<f32>, (i, (out, input)): (usize, (&mut [f32], &[f32]))| {
            let k2 = self.at.kernel * self.at.kernel;
            let kernel = &self.weights[(i % channels) * k2..][..k2];
            self.fill(&shape, input, buffer);
            convolve(
                &Plane {
                    layer: self,
                    shape: &shape,
                    buffer,
                    kernel,
                },
                out,
            );
        };
        #[cfg(not(target_family = "wasm"))]
        output
            .par_chunks_mut(out_h * out_w)
            .zip(input.par_chunks(height * width))
            .enumerate()
            .for_each_init(|| vec![0.0; shape.len()], plane);
        #[cfg(target_family = "wasm")]
        {
            let mut buffer = vec![0.0; shape.len()];
            let planes = output
                .chunks_mut(out_h * out_w)
                .zip(input.chunks(height * width));
            planes.enumerate().for_each(|item| plane(&mut buffer, item));
        }
        output
    }

    /// The padded plane's buffer: what the output's windows read.
    fn buffer_shape(&self) -> Buffer {
        let [out_h, out_w] = self.at.out;
        let (k, s) = (self.at.kernel, self.at.stride);
        let rows = (out_h - 1) * s + k;
        let row = out_w.div_ceil(LANES) * LANES + (k - 1) / s;
        let taps = (0..k * k)
            .map(|p| {
                let (ky, kx) = (p / k, p % k);
                ((kx % s) * rows + ky) * row + kx / s
            })
            .collect();
        Buffer {
            phases: s,
            rows,
            row,
            taps,
        }
    }

    /// Copy one input plane into `buffer`. The places it writes are the same for every plane
    /// of the layer, so the others (the padding, and what no window reads) keep the zeros
    /// the buffer started with.
    fn fill(&self, shape: &Buffer, input: &[f32], buffer: &mut [f32]) {
        let [_, _, height, width] = self.at.input;
        let [top, left] = self.at.pad;
        let s = self.at.stride;
        for (y, line) in input.chunks_exact(width).enumerate().take(height) {
            let r = y + top;
            if r >= shape.rows {
                break;
            }
            if s == 1 {
                let to = &mut buffer[r * shape.row + left..][..width.min(shape.row - left)];
                to.copy_from_slice(&line[..to.len()]);
                continue;
            }
            for phase in 0..s {
                // Padded columns `phase, phase + s, ...`: input column `q - left` from the
                // first `q` at or after `left`.
                let first = first_in_phase(left, phase, s);
                let to = &mut buffer[(phase * shape.rows + r) * shape.row..][..shape.row];
                if let (Some(to), Some(from)) = (to.get_mut(first / s..), line.get(first - left..))
                {
                    every_nth(to, from, s);
                }
            }
        }
    }
}

/// `to[i] = from[i * step]` for as many `i` as both hold, as an index loop with the stride 2
/// written out (which the compiler vectorises natively): as an iterator stepping through
/// `from` (`step_by`), the split took about a twelfth of a pass of the network natively, and
/// as chunked pairs it was slower than that in the browser's module, which is built for size.
fn every_nth(to: &mut [f32], from: &[f32], step: usize) {
    let n = to.len().min(from.len().div_ceil(step));
    let to = &mut to[..n];
    if step == 2 {
        for (i, slot) in to.iter_mut().enumerate() {
            *slot = from[2 * i];
        }
        return;
    }
    for (i, slot) in to.iter_mut().enumerate() {
        *slot = from[i * step];
    }
}

/// The least `n >= from` with `n % step == phase`.
fn first_in_phase(from: usize, phase: usize, step: usize) -> usize {
    from + (phase + step - from % step) % step
}

/// `[phases, rows, row]`: a padded plane's rows, each split into `phases` (the stride) sets
/// of columns, column `q` at `[q % phases][..][q / phases]`.
struct Buffer {
    phases: usize,
    rows: usize,
    row: usize,
    /// Where each of the kernel's positions (rows, then columns) reads for the first output,
    /// relative to it; the output at row `oh` and column `ow` reads `oh * stride * row + ow`
    /// further on.
    taps: Vec<usize>,
}

impl Buffer {
    fn len(&self) -> usize {
        self.phases * self.rows * self.row
    }
}

/// One plane's convolution: its layer, padded buffer and kernel (`[kernel, kernel]`).
struct Plane<'a> {
    layer: &'a Layer,
    shape: &'a Buffer,
    buffer: &'a [f32],
    kernel: &'a [f32],
}

/// The plane's outputs into `out` (`[out_h, out_w]`).
fn convolve(plane: &Plane, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX, the one feature the function is compiled for.
        return unsafe { convolve_avx(plane, out) };
    }
    #[cfg(all(target_family = "wasm", target_feature = "simd128"))]
    return convolve_by(plane, out, simd128_sums);
    #[allow(unreachable_code)]
    convolve_by(plane, out, portable_sums)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn convolve_avx(plane: &Plane, out: &mut [f32]) {
    convolve_by(plane, out, portable_sums)
}

/// The plane's outputs, each run of [`LANES`] in a row summed by `sums`; inlined into each
/// caller so that the AVX copy's loops use AVX.
#[inline(always)]
fn convolve_by(plane: &Plane, out: &mut [f32], sums: impl Fn(&Window) -> [f32; LANES]) {
    let s = plane.layer.at.stride;
    let [_, out_w] = plane.layer.at.out;
    let row = plane.shape.row;
    for (oh, out_row) in out.chunks_exact_mut(out_w).enumerate() {
        for (chunk, out) in out_row.chunks_mut(LANES).enumerate() {
            let window = Window {
                image: &plane.buffer[oh * s * row + chunk * LANES..],
                taps: &plane.shape.taps,
                kernel: plane.kernel,
            };
            let sums = sums(&window);
            // A whole run is one store; a copy of a length the compiler cannot see is a call.
            match <&mut [f32; LANES]>::try_from(&mut *out) {
                Ok(out) => *out = sums,
                Err(_) => out.copy_from_slice(&sums[..out.len()]),
            }
        }
    }
}

/// [`LANES`] neighbouring outputs' windows: the buffer from the first one's first input on,
/// where each kernel position reads, and the kernel.
struct Window<'a> {
    image: &'a [f32],
    taps: &'a [usize],
    kernel: &'a [f32],
}

/// The window's sums, the compiler choosing the vectors (natively at opt-level 3). Each
/// output's terms are added in the kernel's order, rows then columns, to a sum that starts
/// at zero.
#[inline(always)]
fn portable_sums(window: &Window) -> [f32; LANES] {
    let mut sums = [0.0f32; LANES];
    for (&tap, &w) in window.taps.iter().zip(window.kernel) {
        let x: &[f32; LANES] = window.image[tap..tap + LANES]
            .try_into()
            .expect("LANES floats");
        for l in 0..LANES {
            sums[l] += x[l] * w;
        }
    }
    sums
}

/// [`portable_sums`] in wasm's 128-bit vectors, written out: the browser's module is built
/// for size, at which the compiler does not vectorise loops.
#[cfg(all(target_family = "wasm", target_feature = "simd128"))]
#[inline(always)]
fn simd128_sums(window: &Window) -> [f32; LANES] {
    use core::arch::wasm32::{
        f32x4_add, f32x4_extract_lane, f32x4_mul, f32x4_splat, v128, v128_load,
    };
    let (mut low, mut high) = (f32x4_splat(0.0), f32x4_splat(0.0));
    for (&tap, &w) in window.taps.iter().zip(window.kernel) {
        let x = &window.image[tap..tap + LANES];
        let w = f32x4_splat(w);
        // SAFETY: `x` holds 8 floats, two unaligned 16-byte loads (wasm's `v128.load` needs no
        // alignment).
        let (a, b) = unsafe {
            let p = x.as_ptr().cast::<v128>();
            (v128_load(p), v128_load(p.add(1)))
        };
        low = f32x4_add(low, f32x4_mul(a, w));
        high = f32x4_add(high, f32x4_mul(b, w));
    }
    [
        f32x4_extract_lane::<0>(low),
        f32x4_extract_lane::<1>(low),
        f32x4_extract_lane::<2>(low),
        f32x4_extract_lane::<3>(low),
        f32x4_extract_lane::<0>(high),
        f32x4_extract_lane::<1>(high),
        f32x4_extract_lane::<2>(high),
        f32x4_extract_lane::<3>(high),
    ]
}

#[cfg(test)]
mod tests {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;

    use super::*;

    /// A depthwise layer as Lite0 builds them (no bias, "SAME" unless told), random weights.
    fn layer(channels: usize, kernel: usize, stride: usize, padding: PaddingConfig2d) -> Conv2d {
        Conv2dConfig::new([channels, channels], [kernel, kernel])
            .with_stride([stride, stride])
            .with_groups(channels)
            .with_padding(padding)
            .with_bias(false)
            .init(&Device::flex())
    }

    /// Each number's bits.
    fn bits(t: Tensor<4>) -> Vec<u32> {
        let values = t.into_data().try_into_vec::<f32>().unwrap();
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// Inputs like the network's: ReLU6 outputs (zeros of both signs among them) and others.
    fn input(dims: [usize; 4]) -> Tensor<4> {
        let device = Device::flex();
        let x = Tensor::<4>::random(dims, Distribution::Normal(0.0, 3.0), &device);
        let zeros = Tensor::<4>::random(dims, Distribution::Bernoulli(0.2), &device).bool();
        x.clone().mask_fill(zeros, -0.0).clamp_max(6.0)
    }

    #[test]
    fn every_lite0_shape_and_odd_ones_match_flex_to_the_bit() {
        let same = PaddingConfig2d::Same;
        let cases = [
            // (batch, channels, height, width, kernel, stride, padding)
            (2, 32, 20, 16, 3, 1, same.clone()),
            (3, 96, 17, 12, 3, 2, same.clone()),
            (2, 144, 8, 8, 5, 2, same.clone()),
            (1, 240, 8, 6, 5, 1, same.clone()),
            (4, 672, 4, 4, 5, 1, same.clone()),
            (2, 1152, 2, 2, 3, 1, same.clone()),
            (2, 13, 9, 7, 5, 2, same.clone()),
            (1, 5, 3, 3, 5, 1, same),
            (2, 16, 9, 10, 3, 2, PaddingConfig2d::Valid),
            (2, 11, 7, 8, 3, 1, PaddingConfig2d::Explicit(2, 0, 1, 3)),
        ];
        for (batch, channels, height, width, kernel, stride, padding) in cases {
            let conv = layer(channels, kernel, stride, padding.clone());
            let x = input([batch, channels, height, width]);
            let here = Layer::of(&conv, &x).expect("a plain depthwise layer");
            let ours = here.apply(x.clone());
            let theirs = conv.forward(x);
            assert_eq!(
                ours.dims(),
                theirs.dims(),
                "{channels}x{height}x{width} k{kernel} s{stride} {padding:?}"
            );
            assert_eq!(
                bits(ours),
                bits(theirs),
                "{channels}x{height}x{width} k{kernel} s{stride} {padding:?}"
            );
        }
    }

    #[test]
    fn layers_it_does_not_compute_go_to_burn() {
        let x = input([1, 8, 6, 6]);
        let mut biased = layer(8, 3, 1, PaddingConfig2d::Same);
        biased.bias = Some(burn::module::Param::from_tensor(Tensor::ones(
            [8],
            &Device::flex(),
        )));
        assert!(Layer::of(&biased, &x).is_none());
        let mut infinite = layer(8, 3, 1, PaddingConfig2d::Same);
        infinite.weight = infinite
            .weight
            .map(|w| w.slice_fill([0..1, 0..1, 0..1, 0..1], f32::INFINITY));
        assert!(Layer::of(&infinite, &x).is_none());
        // and where it goes to burn, the answer is burn's: infinity times a padded zero is NaN
        let out = depthwise(&infinite, x.clone());
        assert_eq!(bits(out), bits(infinite.forward(x.clone())));
        let grouped = Conv2dConfig::new([8, 8], [3, 3])
            .with_groups(4)
            .init(&Device::flex());
        assert!(Layer::of(&grouped, &x).is_none());
    }

    #[cfg(not(target_family = "wasm"))]
    #[test]
    fn on_the_training_device_only_untracked_layers_are_computed_here() {
        let device = Device::flex().autodiff();
        let learning = Conv2dConfig::new([16, 16], [3, 3])
            .with_stride([2, 2])
            .with_groups(16)
            .with_padding(PaddingConfig2d::Same)
            .with_bias(false)
            .init(&device);
        let x = Tensor::from_inner(input([2, 16, 9, 8]));
        assert!(Layer::of(&learning, &x).is_none());
        let frozen = learning.clone().no_grad();
        assert!(Layer::of(&frozen, &x).is_some());
        let out = depthwise(&frozen, x.clone());
        assert!(out.is_autodiff() && !out.is_tracked());
        assert_eq!(bits(out.inner()), bits(frozen.forward(x.clone()).inner()));
        // a frozen layer after a learning one: its input is in the graph
        let tracked = learning.forward(x);
        assert!(Layer::of(&frozen, &tracked).is_none());
    }
}
