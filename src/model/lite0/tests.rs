use super::*;

#[test]
fn lite0_has_its_published_size_and_shapes() {
    let device = Device::flex();
    let net = Lite0Config::new().init(1000, None, &device);
    // The state dict on PyPI: 4,652,008 trainable numbers (1,281,000 of them in the ImageNet
    // classifier) and 42,016 batch-norm statistics, which burn counts too.
    assert_eq!(net.num_params(), 4_652_008 + 42_016);
    let x = Tensor::<4>::zeros([2, 3, 120, 160], &device);
    // Five halvings, each rounding up as TF's "SAME" does: 120 -> 60 -> 30 -> 15 -> 8 -> 4.
    assert_eq!(net.maps(x.clone()).dims(), [2, Lite0::FEATURES, 4, 5]);
    assert_eq!(net.forward(x).dims(), [2, 1000]);
}

#[test]
fn a_new_head_keeps_the_backbone() {
    let device = Device::flex();
    device.seed(3);
    let net = Lite0Config::new().init(1000, None, &device);
    let x = Tensor::<4>::random([1, 3, 64, 64], burn::tensor::Distribution::Default, &device);
    let before = net.features(x.clone()).into_data();
    let net = net.with_new_head(7, &Lite0Config::new(), &device);
    assert_eq!(net.forward(x.clone()).dims(), [1, 7]);
    net.features(x).into_data().assert_eq(&before, true);
}
