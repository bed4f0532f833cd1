//! Lite0's stem (the photo's 3 channels to 32, 3x3 at stride 2) natively, where nothing needs
//! its gradient: flex's own matrix product, without the copies flex makes around it.
//!
//! flex computes a convolution that none of its fast paths takes (`conv3d_impl`: not 1x1,
//! not depthwise, not of few output channels) by padding an unevenly padded input into a new
//! tensor, copying the whole input to channels-last, and then, for each tile of 512 output
//! positions, gathering the tile's windows into a fresh matrix (im2col: kernel rows, columns,
//! then channels), multiplying the weights by it with the `gemm` crate into another fresh
//! matrix, and scattering that one number at a time into the channel-first output, each
//! channel's numbers a plane (16 kB at 128 pixels) apart. For the stem those copies cost more
//! than the product: a profile of one photo's 8 views put about a tenth of a pass of the
//! network in them, for 3% of its multiply-adds.
//!
//! Here each tile's windows are gathered straight from the channel-first input into one
//! buffer per thread, and the product is written where the output wants it. It is flex's
//! `gemm` call with the same sizes, the same weights and window matrix in the same layouts,
//! and only the output's row stride changed (a tile of one position, where that would change
//! which of gemm's paths runs, lands in a buffer of flex's shape first), so each output is
//! the same sum in the same order: flex's numbers to the bit (a test). `evaluate --split val`
//! took 52-56 s against 64-68 s with it (docs/throughput.md). The browser's module keeps
//! flex's stem: built for size, this crate gathers the windows slower than flex (built for
//! speed) does, and in Chromium the two came out even.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use rayon::prelude::*;

use super::untracked::{Geometry, on_floats, plain_weights};

/// Output positions per matrix product: flex's tile (`TILE_SIZE` in its `conv3d_impl`), so
/// that the products have flex's sizes.
const TILE: usize = 512;

/// flex's threshold for letting gemm split one product across threads (`m * n * k`).
const PARALLEL_PRODUCT: usize = 192 * 192 * 192;

/// `conv.forward(x)`: computed here when `conv` is a dense convolution that flex would run
/// through its general path and nothing needs its gradient, by burn otherwise.
pub(super) fn dense(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    match Layer::of(conv, &x) {
        Some(layer) => {
            let [batch, _, _, _] = layer.at.input;
            let [out_h, out_w] = layer.at.out;
            let dims = [batch, layer.outputs, out_h, out_w];
            on_floats(x, dims, |input| layer.run(input))
        }
        None => conv.forward(x),
    }
}

/// One dense layer on one input shape.
struct Layer {
    at: Geometry,
    outputs: usize,
    /// `[outputs, kernel rows, kernel columns, channels]`: flex's layout for the product.
    weights: Vec<f32>,
}

impl Layer {
    /// The layer `conv` is on `x`, when flex would compute it on its general path and this
    /// module may (see the module's doc).
    fn of(conv: &Conv2d, x: &Tensor<4>) -> Option<Self> {
        let [_, channels, ..] = x.dims();
        let [outputs, per_group, kernel, _] = conv.weight.dims();
        // flex's other paths: 1x1 (taken only at stride 1 without padding, but a 1x1 kernel is
        // never worth a window matrix), depthwise and few channels (at most 4 in and 16 out),
        // and 1-row kernels (its direct path); the kernel is square ([`Geometry::of`]).
        let general = conv.groups == 1 && per_group == channels && kernel > 1;
        let few = channels <= 4 && outputs <= 16;
        let at = Geometry::of(conv, x).filter(|_| general && !few)?;
        let stored = plain_weights(conv, x)?;
        Some(Self {
            at,
            outputs,
            weights: channels_last(&stored, outputs, channels, kernel * kernel),
        })
    }

    /// Numbers in one output position's window: flex's `col_len`.
    fn window(&self) -> usize {
        self.at.input[1] * self.at.kernel * self.at.kernel
    }

    /// The convolution of `input` (`[batch, channels, height, width]`, row-major), in the
    /// same layout, the tiles in parallel.
    fn run(&self, input: &[f32]) -> Vec<f32> {
        let [batch, channels, height, width] = self.at.input;
        let spatial = self.at.out[0] * self.at.out[1];
        let mut output = vec![0.0; batch * self.outputs * spatial];
        let tiles = spatial.div_ceil(TILE);
        let product = Product::new(&mut output);
        let tile = |windows: &mut Vec<f32>, index: usize| {
            let (b, t) = (index / tiles, index % tiles);
            let positions = t * TILE..((t + 1) * TILE).min(spatial);
            let image = &input[b * channels * height * width..][..channels * height * width];
            self.gather(image, positions.clone(), windows);
            // SAFETY: each (batch item, tile) writes its own positions of its own item.
            unsafe {
                product.run(
                    self,
                    windows,
                    b * self.outputs * spatial,
                    positions,
                    spatial,
                )
            };
        };
        (0..batch * tiles)
            .into_par_iter()
            .for_each_init(|| vec![0.0; TILE * self.window()], tile);
        output
    }

    /// The windows of `positions` (of the output, row-major) in flex's im2col layout: one row
    /// per position, kernel rows then columns then channels, zeros where a window reaches
    /// into the padding. Every number the product reads is written.
    fn gather(&self, image: &[f32], positions: std::ops::Range<usize>, windows: &mut [f32]) {
        let [channels, height, width] = [self.at.input[1], self.at.input[2], self.at.input[3]];
        let k = self.at.kernel;
        let [top, left] = self.at.pad;
        let plane = height * width;
        let rows = windows.chunks_exact_mut(self.window());
        for (row, position) in rows.zip(positions) {
            // The window's first row and column, counted in the padded input.
            let y0 = position / self.at.out[1] * self.at.stride;
            let x0 = position % self.at.out[1] * self.at.stride;
            let mut cell = 0;
            for y in y0..y0 + k {
                let inside = y >= top && y - top < height;
                for x in x0..x0 + k {
                    let to = &mut row[cell..cell + channels];
                    cell += channels;
                    if inside && x >= left && x - left < width {
                        let at = (y - top) * width + (x - left);
                        for (c, slot) in to.iter_mut().enumerate() {
                            *slot = image[c * plane + at];
                        }
                    } else {
                        to.fill(0.0);
                    }
                }
            }
        }
    }
}

/// `[outputs, channels, k]` as stored to `[outputs, k, channels]` (flex's `w_flat`).
fn channels_last(stored: &[f32], outputs: usize, channels: usize, k: usize) -> Vec<f32> {
    let mut flat = vec![0.0; stored.len()];
    for o in 0..outputs {
        for c in 0..channels {
            for p in 0..k {
                flat[(o * k + p) * channels + c] = stored[(o * channels + c) * k + p];
            }
        }
    }
    flat
}

/// The output's storage, shared by the tiles, which write disjoint positions.
struct Product {
    output: *mut f32,
}

// SAFETY: the tiles write disjoint positions ([`Layer::run`]).
unsafe impl Sync for Product {}
unsafe impl Send for Product {}

impl Product {
    fn new(output: &mut [f32]) -> Self {
        Self {
            output: output.as_mut_ptr(),
        }
    }

    /// `weights x windows` for `positions` into the output's channels from `item` on, each
    /// channel's row `spatial` long: flex's call (`gemm_f32` in its `conv3d_impl`) but for
    /// the row stride.
    ///
    /// # Safety
    /// `item + outputs * spatial` is within the output, `positions` within `spatial`, and no
    /// other thread writes these positions meanwhile.
    unsafe fn run(
        &self,
        layer: &Layer,
        windows: &[f32],
        item: usize,
        positions: std::ops::Range<usize>,
        spatial: usize,
    ) {
        let (m, k, n) = (layer.outputs, layer.window(), positions.len());
        let parallelism = if m * n * k >= PARALLEL_PRODUCT {
            gemm::Parallelism::Rayon(0)
        } else {
            gemm::Parallelism::None
        };
        // gemm transposes a product whose output rows are longer apart than its columns, so a
        // one-position tile (flex's row stride 1) would take another path here: it goes
        // through a buffer of flex's own shape.
        let mut single = Vec::new();
        let (dst, row_stride) = if n == 1 {
            single.resize(m, 0.0);
            (single.as_mut_ptr(), 1)
        } else {
            (unsafe { self.output.add(item + positions.start) }, spatial)
        };
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst,
                1,
                row_stride as isize,
                false,
                layer.weights.as_ptr(),
                1,
                k as isize,
                windows.as_ptr(),
                k as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
        for (channel, &value) in single.iter().enumerate() {
            unsafe { *self.output.add(item + channel * spatial + positions.start) = value };
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;

    use super::*;

    fn bits(t: Tensor<4>) -> Vec<u32> {
        let values = t.into_data().try_into_vec::<f32>().unwrap();
        values.iter().map(|v| v.to_bits()).collect()
    }

    fn layer(
        [input, output]: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: PaddingConfig2d,
    ) -> Conv2d {
        Conv2dConfig::new([input, output], kernel)
            .with_stride(stride)
            .with_padding(padding)
            .with_bias(false)
            .init(&Device::flex())
    }

    #[test]
    fn the_stem_and_odd_shapes_match_flex_to_the_bit() {
        let same = PaddingConfig2d::Same;
        let cases = [
            // (batch, [in, out], height, width, kernel, stride, padding)
            (8, [3, 32], 128, 128, [3, 3], [2, 2], same.clone()),
            (2, [3, 32], 112, 96, [3, 3], [2, 2], same.clone()),
            // 513 and 1025 positions: a last tile of one
            (2, [3, 32], 27, 19, [3, 3], [1, 1], same.clone()),
            (1, [3, 20], 41, 25, [3, 3], [1, 1], PaddingConfig2d::Valid),
            (3, [5, 7], 9, 11, [3, 3], [2, 2], same.clone()),
            (
                2,
                [3, 17],
                10,
                9,
                [5, 5],
                [2, 2],
                PaddingConfig2d::Explicit(2, 0, 1, 3),
            ),
            (1, [8, 40], 6, 7, [3, 3], [1, 1], same),
        ];
        for (batch, channels, height, width, kernel, stride, padding) in cases {
            let conv = layer(channels, kernel, stride, padding.clone());
            let x = Tensor::<4>::random(
                [batch, channels[0], height, width],
                Distribution::Normal(0.0, 1.0),
                &Device::flex(),
            );
            let what = format!("{channels:?} {height}x{width} k{kernel:?} s{stride:?} {padding:?}");
            assert!(Layer::of(&conv, &x).is_some(), "{what}");
            let (ours, theirs) = (dense(&conv, x.clone()), conv.forward(x));
            assert_eq!(ours.dims(), theirs.dims(), "{what}");
            assert_eq!(bits(ours), bits(theirs), "{what}");
        }
    }

    #[test]
    fn layers_flex_computes_otherwise_go_to_burn() {
        let x = Tensor::<4>::random([1, 4, 6, 6], Distribution::Default, &Device::flex());
        let same = PaddingConfig2d::Same;
        let few = layer([4, 16], [3, 3], [1, 1], same.clone());
        let pointwise = layer([4, 32], [1, 1], [1, 1], same.clone());
        let one_row = layer([4, 32], [1, 3], [1, 1], same);
        for conv in [few, pointwise, one_row] {
            assert!(Layer::of(&conv, &x).is_none());
        }
    }

    #[test]
    fn on_the_training_device_only_untracked_layers_are_computed_here() {
        let device = Device::flex().autodiff();
        let learning = Conv2dConfig::new([3, 32], [3, 3])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Same)
            .with_bias(false)
            .init(&device);
        let x = Tensor::<4>::random([2, 3, 16, 16], Distribution::Default, &device);
        assert!(Layer::of(&learning, &x).is_none());
        let frozen = learning.no_grad();
        let out = dense(&frozen, x.clone());
        assert!(out.is_autodiff() && !out.is_tracked());
        assert_eq!(bits(out.inner()), bits(frozen.forward(x).inner()));
    }
}
