//! The mean of a run's last epochs' weights (`average_epochs`): stochastic weight averaging
//! (Izmailov et al. 2018) over the small learning rates at the end of the cosine schedule.
//! The mean is kept as a network of its own, updated after each averaged epoch and
//! checkpointed with it, so a resumed run averages exactly what an uninterrupted one does.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use skin_lesion::Network;

/// `average`, the mean of `count - 1` epochs' weights, with `latest` included as the
/// `count`-th: every float tensor of the network, parameters and batch-norm running
/// statistics alike, becomes `average + (latest - average) / count`. Without an average yet,
/// the mean is `latest` itself.
pub fn include(average: Option<Network>, latest: &Network, count: usize) -> Network {
    let Some(average) = average else {
        return latest.clone();
    };
    let mut tensors = Flattened::default();
    latest.visit(&mut tensors);
    let mut blend = Blend {
        latest: tensors.0.into_iter(),
        share: 1.0 / count as f64,
    };
    let mean = average.map(&mut blend);
    assert!(
        blend.latest.next().is_none(),
        "the average and the latest epoch are the same network"
    );
    mean
}

/// Every float tensor of a network, flattened, in the order a mapper meets them.
#[derive(Default)]
struct Flattened(Vec<Tensor<1>>);

impl ModuleVisitor for Flattened {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        let n = tensor.shape().num_elements();
        self.0.push(tensor.reshape([n]));
    }
}

/// Moves each tensor of the average `share` of the way to the latest epoch's.
struct Blend {
    latest: std::vec::IntoIter<Tensor<1>>,
    share: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let latest = self
            .latest
            .next()
            .expect("the average and the latest epoch are the same network");
        let share = self.share;
        param.map(|mean| {
            let shape = mean.shape();
            let latest: Tensor<D> = latest.reshape(shape);
            mean.clone() + (latest - mean) * share
        })
    }
}

#[cfg(test)]
mod tests {
    use skin_lesion::model::{LesionNetConfig, ModelConfig, PreprocessConfig};

    use super::*;

    fn network(seed: u64) -> Network {
        let device = Device::flex();
        device.seed(seed);
        let preprocess = PreprocessConfig::new()
            .with_input_size(32)
            .with_resize_size(36);
        let net = LesionNetConfig::new().with_base_width(4).with_stages(2);
        ModelConfig::new(net, preprocess).init(&device)
    }

    fn values(network: &Network) -> Vec<f32> {
        let mut tensors = Flattened::default();
        network.visit(&mut tensors);
        tensors
            .0
            .into_iter()
            .flat_map(|t| t.into_data().try_to_vec::<f32>().unwrap())
            .collect()
    }

    #[test]
    fn the_mean_of_three_networks_is_their_elementwise_mean() {
        let nets = [network(1), network(2), network(3)];
        let mut mean = None;
        for (k, net) in nets.iter().enumerate() {
            mean = Some(include(mean, net, k + 1));
        }
        let got = values(&mean.unwrap());
        let each: Vec<Vec<f32>> = nets.iter().map(values).collect();
        assert!(got.len() > 100, "{} values", got.len());
        assert_ne!(each[0], each[1], "different seeds, different weights");
        for (i, value) in got.iter().enumerate() {
            let expected = (each[0][i] + each[1][i] + each[2][i]) / 3.0;
            assert!(
                (value - expected).abs() < 1e-5,
                "value {i}: {value} vs {expected}"
            );
        }
    }

    #[test]
    fn the_first_epoch_is_its_own_mean() {
        let net = network(4);
        assert_eq!(values(&include(None, &net, 1)), values(&net));
    }
}
