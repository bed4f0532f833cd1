//! The classifier head both architectures end in (dropout, then one linear layer over pooled
//! features), and what is done to it: reading its weights for class activation maps, and
//! folding decision offsets into its biases.

use burn::nn::{Dropout, Linear};
use burn::prelude::*;

/// What one pass of a network gives for a batch: the class logits and the pooled features
/// they were computed from (the input of the head, before dropout).
#[derive(Debug, Clone)]
pub struct Outputs {
    /// `[batch, NUM_CLASSES]`.
    pub logits: Tensor<2>,
    /// `[batch, feature_width]`.
    pub features: Tensor<2>,
}

/// Logits from the last of `means` (the head's input) and every stage's means laid end to end
/// as the features.
pub fn outputs(means: Vec<Tensor<2>>, dropout: &Dropout, linear: &Linear) -> Outputs {
    let head_input = means.last().expect("at least one stage").clone();
    Outputs {
        logits: linear.forward(dropout.forward(head_input)),
        features: Tensor::cat(means, 1),
    }
}

/// The weights `[classes, channels]` and biases of `linear`.
pub fn weights(linear: &Linear) -> (Tensor<2>, Option<Tensor<1>>) {
    (
        linear.weight.val().transpose(),
        linear.bias.as_ref().map(|b| b.val()),
    )
}

/// `linear` with `offsets` added to its biases: shifts each class's logit, which is how a
/// decision threshold chosen on validation data is baked into the shipped weights.
pub fn with_offsets(mut linear: Linear, offsets: &[f32]) -> Linear {
    let device = linear.weight.val().device();
    let shift = Tensor::<1>::from_floats(offsets, &device);
    linear.bias = linear.bias.map(|b| b.map(|t| t + shift));
    linear
}
