//! Test-time augmentation: the network looks at a photo in several of its 8 flips and
//! rotations and the logits are averaged.
//!
//! Why: a dermatoscopy photo has no "up", and training shows the network all 8 orientations
//! (`train-native/src/data/augment.rs`), yet a single forward pass still depends on which way
//! the photo happens to lie. Averaging over the orientations removes that dependence at the
//! cost of more inference work and no extra weights. Logits, not probabilities, are averaged,
//! so per-class decision offsets folded into the head's biases shift the average exactly as
//! they shift every view.

use std::ops::Range;

use burn::prelude::*;

/// The numbers of views a model may average, each a whole subgroup of the 8 symmetries
/// (identity; + mirror; + the other mirror and the half turn; + the transposes).
pub const VIEW_COUNTS: [usize; 4] = [1, 2, 4, 8];

/// The most views a saliency map averages (the first of the model's, a whole subgroup). The
/// map runs the last stage on a grid twice as fine for each view, so in the browser it costs
/// about 100 ms after the verdict over 4 views and twice that over 8, past the page's 150 ms;
/// the 4 views hold both mirrors and the half turn, and what a map is scored on (pointing at
/// the lesion, its mass inside it) was measured at 4 views (docs/experiments.md).
pub const SALIENCY_VIEWS: usize = 4;

/// Views `range` of each image stacked along the batch axis, view-major: `[batch, c, h, w]` to
/// `[range.len() * batch, c, h, w]`, rows `k * batch .. (k + 1) * batch` holding view
/// `range.start + k`. Two workers can each run part of the views of one photo
/// ([`crate::Network::view_sums`]).
///
/// The views in order: as is, mirrored left-right, mirrored top-bottom, turned 180 degrees,
/// then those four of the transposed image (the quarter turns and the two diagonal mirrors).
/// The first 1, 2, 4 or 8 ([`VIEW_COUNTS`]) are each a whole subgroup of the symmetries.
/// Square images only, so that every view has the input's shape.
pub fn stack_views(images: Tensor<4>, range: Range<usize>) -> Tensor<4> {
    assert!(
        !range.is_empty() && range.end <= 8,
        "views {range:?} are not within the 8 orientations"
    );
    let [_, _, h, w] = images.dims();
    assert_eq!(h, w, "test-time views need square images");
    if range == (0..1) {
        return images;
    }
    Tensor::cat(range.map(|i| view(images.clone(), i)).collect(), 0)
}

/// Orientation `index` (0..8) of the images: bit 2 transposes, then bit 1 mirrors top-bottom
/// and bit 0 left-right.
pub fn view(images: Tensor<4>, index: usize) -> Tensor<4> {
    let base = if index & 4 != 0 {
        images.swap_dims(2, 3)
    } else {
        images
    };
    mirror(base, index)
}

/// The inverse of [`view`]: a map computed on view `index` of an image, laid back over the
/// image as it was (the mirrors undone first, then the transpose).
pub fn unview(maps: Tensor<4>, index: usize) -> Tensor<4> {
    let unmirrored = mirror(maps, index);
    if index & 4 != 0 {
        unmirrored.swap_dims(2, 3)
    } else {
        unmirrored
    }
}

fn mirror(images: Tensor<4>, index: usize) -> Tensor<4> {
    match index & 3 {
        0 => images,
        1 => images.flip([3]),
        2 => images.flip([2]),
        _ => images.flip([2, 3]),
    }
}

/// Sum view-major rows `[count * batch, k]` to `[batch, k]`.
pub fn sum_views(rows: Tensor<2>, count: usize) -> Tensor<2> {
    let [_, batch, k] = by_view(&rows, count);
    rows.reshape([count, batch, k])
        .sum_dim(0)
        .reshape([batch, k])
}

/// `[count, batch, k]`, the shape of view-major rows split by view.
fn by_view(rows: &Tensor<2>, count: usize) -> [usize; 3] {
    let [n, k] = rows.dims();
    assert!(
        count > 0 && n % count == 0,
        "{n} rows are not {count} views of a batch"
    );
    [count, n / count, k]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(device: &Device) -> Tensor<4> {
        // Two 1-channel 3x3 images with distinct pixels: 0..=8 and 9..=17 row by row.
        let values: Vec<f32> = (0..18).map(|v| v as f32).collect();
        Tensor::<4>::from_data(TensorData::new(values, [2, 1, 3, 3]), device)
    }

    fn pixels(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn one_view_is_the_input() {
        let device = Device::flex();
        assert_eq!(
            pixels(stack_views(image(&device), 0..1)),
            pixels(image(&device))
        );
    }

    #[test]
    fn eight_views_are_the_eight_distinct_orientations() {
        let device = Device::flex();
        let views = stack_views(image(&device), 0..8);
        assert_eq!(views.dims(), [16, 1, 3, 3]);
        let all = pixels(views);
        // View-major: view v of image 0 is row 2v.
        let first: Vec<&[f32]> = (0..8).map(|v| &all[2 * v * 9..(2 * v + 1) * 9]).collect();
        assert_eq!(first[0], &[0., 1., 2., 3., 4., 5., 6., 7., 8.]);
        assert_eq!(
            first[1],
            &[2., 1., 0., 5., 4., 3., 8., 7., 6.],
            "left-right mirror"
        );
        assert_eq!(
            first[2],
            &[6., 7., 8., 3., 4., 5., 0., 1., 2.],
            "top-bottom mirror"
        );
        assert_eq!(first[3], &[8., 7., 6., 5., 4., 3., 2., 1., 0.], "half turn");
        assert_eq!(first[4], &[0., 3., 6., 1., 4., 7., 2., 5., 8.], "transpose");
        for (i, a) in first.iter().enumerate() {
            for b in &first[i + 1..] {
                assert_ne!(a, b, "two views are the same orientation");
            }
            let mut sorted = a.to_vec();
            sorted.sort_by(f32::total_cmp);
            assert_eq!(
                sorted,
                (0..9).map(|v| v as f32).collect::<Vec<_>>(),
                "a view lost pixels"
            );
        }
        // Image 1 follows image 0 within each view.
        assert_eq!(&all[9..18], &[9., 10., 11., 12., 13., 14., 15., 16., 17.]);
    }

    #[test]
    fn summing_undoes_the_stacking() {
        let device = Device::flex();
        let rows = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [4, 2]),
            &device,
        );
        // 2 views of a batch of 2: image 0 is rows 0 and 2, image 1 rows 1 and 3.
        let sum: Vec<f32> = sum_views(rows, 2)
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        assert_eq!(sum, vec![6.0, 8.0, 10.0, 12.0]);
    }

    #[test]
    fn unview_lays_each_view_back_over_the_image() {
        let device = Device::flex();
        for index in 0..8 {
            let back = unview(view(image(&device), index), index);
            assert_eq!(pixels(back), pixels(image(&device)), "view {index}");
        }
    }

    #[test]
    fn any_range_of_views_matches_the_same_rows_of_all_eight() {
        let device = Device::flex();
        let all = pixels(stack_views(image(&device), 0..8));
        let part = pixels(stack_views(image(&device), 3..7));
        assert_eq!(part, all[3 * 18..7 * 18].to_vec());
    }

    #[test]
    #[should_panic(expected = "not within the 8 orientations")]
    fn rejects_views_beyond_the_eight() {
        stack_views(image(&Device::flex()), 6..9);
    }
}
