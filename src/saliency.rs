//! Where the network looked: the class activation map (CAM) of one class over the crop it saw.
//!
//! The network ends in global average pooling and a linear head, so a class's logit is the
//! average over positions of the head's weights applied to the last stage's activations
//! (Zhou et al., CVPR 2016). Applying them at each position before the average gives the
//! class's evidence at that position: one number per cell of [`Network::maps`] (Lite0's at
//! 1/16 of the input, its last stage run on a grid twice as fine), computed for every view the
//! model averages, laid back over the photo as it was ([`crate::model::views::unview`]) and
//! averaged. It needs forward passes only, no gradients, so the browser computes it with the
//! same code, and, like the answer, two workers can each sum part of the views ([`MapSums`]).

use std::ops::Range;

use burn::prelude::*;

use crate::Network;
use crate::model::views::{stack_views, unview};

/// The class activation maps of `class` for one prepared input `[1, 3, s, s]`, summed over
/// views `range` (each laid back over the input first): `[1, 1, h, w]`, not yet rectified.
pub fn class_map_sum(
    model: &Network,
    input: Tensor<4>,
    class: usize,
    range: Range<usize>,
) -> Tensor<4> {
    let maps = model.maps(stack_views(input, range.clone()));
    let [_, channels, h, w] = maps.dims();
    let (weights, _) = model.head();
    let weights = weights.narrow(0, class, 1).reshape([1, channels, 1, 1]);
    let evidence = (maps * weights).sum_dim(1); // [views, 1, h, w]
    let laid_back: Vec<Tensor<4>> = range
        .enumerate()
        .map(|(k, v)| unview(evidence.clone().narrow(0, k, 1), v))
        .collect();
    Tensor::cat(laid_back, 0).sum_dim(0).reshape([1, 1, h, w])
}

/// A class activation map summed over some of a photo's views: what one worker computes.
#[derive(Debug, Clone, PartialEq)]
pub struct MapSums {
    /// How many views were summed.
    pub views: usize,
    /// Cells per side of the square grid.
    pub grid: usize,
    /// `grid²` sums, row-major.
    pub cells: Vec<f32>,
}

impl MapSums {
    /// Add another part's sums (of other views of the same photo and class).
    pub fn add(&mut self, other: &MapSums) -> Result<(), String> {
        if other.grid != self.grid || other.cells.len() != self.cells.len() {
            return Err(format!(
                "saliency sums on {0}x{0} and {1}x{1} grids",
                self.grid, other.grid
            ));
        }
        self.views += other.views;
        self.cells
            .iter_mut()
            .zip(&other.cells)
            .for_each(|(a, b)| *a += b);
        Ok(())
    }

    /// `[views, grid, cells..]`: one flat array for handing between workers.
    pub fn to_flat(&self) -> Vec<f32> {
        let mut flat = Vec::with_capacity(2 + self.cells.len());
        flat.extend([self.views as f32, self.grid as f32]);
        flat.extend_from_slice(&self.cells);
        flat
    }

    /// Parts made by [`Self::to_flat`], laid end to end, added up.
    pub fn from_flat_parts(mut flat: &[f32]) -> Result<Self, String> {
        let whole = |v: f32| (1.0..=4096.0).contains(&v) && v.fract() == 0.0;
        let mut total: Option<MapSums> = None;
        while !flat.is_empty() {
            if flat.len() < 3 || !whole(flat[0]) || !whole(flat[1]) {
                return Err(format!("{} numbers are not saliency sums", flat.len()));
            }
            let grid = flat[1] as usize;
            let end = 2 + grid * grid;
            if flat.len() < end {
                return Err(format!(
                    "{} numbers are not saliency sums on a {grid}x{grid} grid",
                    flat.len()
                ));
            }
            let part = MapSums {
                views: flat[0] as usize,
                grid,
                cells: flat[2..end].to_vec(),
            };
            match &mut total {
                None => total = Some(part),
                Some(total) => total.add(&part)?,
            }
            flat = &flat[end..];
        }
        total.ok_or_else(|| "no saliency sums".to_string())
    }
}

/// A `side` x `side` map from a `cells` x `cells` one (row-major), scaled so that the cell
/// with the least evidence is 0 and the one with the most 1 (as class activation maps are
/// shown: the map's offset says nothing about where it looked), then bilinearly interpolated
/// between cell centres (edges clamped). A flat map is all zeros.
pub fn upsample(cells: &[f32], grid: usize, side: usize) -> Vec<f32> {
    assert_eq!(cells.len(), grid * grid, "a square grid of cells");
    let low = cells.iter().copied().fold(f32::INFINITY, f32::min);
    let high = cells.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let range = high - low;
    let at = |y: usize, x: usize| {
        let v = cells[y.min(grid - 1) * grid + x.min(grid - 1)];
        if range > 0.0 { (v - low) / range } else { 0.0 }
    };
    let scale = grid as f32 / side as f32;
    let mut out = Vec::with_capacity(side * side);
    for py in 0..side {
        let fy = ((py as f32 + 0.5) * scale - 0.5).max(0.0);
        let (y0, ty) = (fy.floor() as usize, fy.fract());
        for px in 0..side {
            let fx = ((px as f32 + 0.5) * scale - 0.5).max(0.0);
            let (x0, tx) = (fx.floor() as usize, fx.fract());
            let top = at(y0, x0) * (1.0 - tx) + at(y0, x0 + 1) * tx;
            let bottom = at(y0 + 1, x0) * (1.0 - tx) + at(y0 + 1, x0 + 1) * tx;
            out.push(top * (1.0 - ty) + bottom * ty);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LesionNetConfig, ModelConfig, PreprocessConfig};

    #[test]
    fn upsampling_keeps_the_peak_where_it_was_and_spans_zero_to_one() {
        // A 2x2 grid, strongest bottom-right, weakest top-left.
        let map = upsample(&[-1.0, 1.0, 1.0, 4.0], 2, 8);
        assert_eq!(map.len(), 64);
        let peak = map.iter().enumerate().fold(
            (0, 0.0),
            |best, (i, &v)| if v > best.1 { (i, v) } else { best },
        );
        assert_eq!(peak.1, 1.0);
        let (y, x) = (peak.0 / 8, peak.0 % 8);
        assert!(y >= 6 && x >= 6, "peak at ({y}, {x})");
        assert!(map.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert_eq!(map[0], 0.0, "the weakest corner is zero");
        assert!(
            upsample(&[-1.0; 4], 2, 4).iter().all(|&v| v == 0.0),
            "a flat map is zero"
        );
    }

    #[test]
    fn the_map_of_a_turned_photo_is_the_turned_map() {
        let device = Device::flex();
        device.seed(5);
        let config = ModelConfig::new(
            LesionNetConfig::new()
                .with_base_width(4)
                .with_stem(1)
                .with_stages(2),
            PreprocessConfig::new()
                .with_input_size(32)
                .with_resize_size(32),
        );
        let net = config.init(&device);
        let x = Tensor::<4>::random([1, 3, 32, 32], burn::tensor::Distribution::Default, &device);
        let turned = x.clone().swap_dims(2, 3).flip([3]);
        let values = |t: Tensor<4>| t.into_data().try_into_vec_as::<f32>().unwrap();
        let a = class_map_sum(&net, x.clone(), 2, 0..8);
        assert_eq!(
            a.dims(),
            [1, 1, 16, 16],
            "32 pixels, one pooling stage before the last"
        );
        let b = class_map_sum(&net, turned, 2, 0..8);
        // Over all 8 views, the map of the turned photo is the original map, turned.
        let diff = values(a.clone().swap_dims(2, 3).flip([3]))
            .iter()
            .zip(values(b))
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-4, "{diff}");
        // Two workers' shares, views 0..3 and 3..8, add up to the sum over all of them.
        let parts = [0..3, 3..8].map(|range| MapSums {
            views: range.len(),
            grid: 16,
            cells: values(class_map_sum(&net, x.clone(), 2, range)),
        });
        let flat: Vec<f32> = parts.iter().flat_map(MapSums::to_flat).collect();
        let whole = MapSums::from_flat_parts(&flat).unwrap();
        assert_eq!((whole.views, whole.grid), (8, 16));
        let most = whole
            .cells
            .iter()
            .zip(values(a))
            .fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(most < 1e-4, "{most}");
    }

    #[test]
    fn malformed_saliency_sums_are_refused() {
        let part = |views: usize, grid: usize| MapSums {
            views,
            grid,
            cells: vec![1.0; grid * grid],
        };
        for flat in [
            vec![],
            vec![1.0, 2.0, 0.5],
            vec![1.5, 1.0, 0.0],
            part(2, 3).to_flat()[..6].to_vec(),
            [part(2, 3).to_flat(), part(2, 4).to_flat()].concat(),
        ] {
            assert!(MapSums::from_flat_parts(&flat).is_err(), "{flat:?}");
        }
    }
}
