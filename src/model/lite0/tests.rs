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

#[test]
fn a_mask_head_reads_its_cells_and_leaves_the_answers_alone() {
    let device = Device::flex();
    device.seed(5);
    let net = Lite0Config::new().init(7, None, &device);
    let x = Tensor::<4>::random(
        [2, 3, 120, 128],
        burn::tensor::Distribution::Default,
        &device,
    );
    let plain = net.forward(x.clone()).into_data();
    // 128 -> 64 -> 32 -> 16 -> 8 (1/16) -> 4 (1/32); 120 -> ... -> 8 -> 4.
    let cases = [
        (MaskCells::Head, 1280, [4, 4]),
        (MaskCells::Sixteenth, 112, [8, 8]),
    ];
    for (cells, channels, [h, w]) in cases {
        assert_eq!(cells.channels(), channels);
        assert_eq!(cells.grid(128), h);
        let with = net.clone().with_mask_head(cells, &device);
        let (logits, mask) = with.forward_with_mask(x.clone());
        assert_eq!(mask.expect("a mask head").dims(), [2, 1, h, w], "{cells:?}");
        logits.into_data().assert_eq(&plain, true);
        let mut stats = NormStats::default();
        let keep = with.dropout_mask(2, &device);
        let (_, gathered) = with.forward_gathering(x.clone(), keep, &mut stats);
        assert_eq!(
            gathered.unwrap().dims(),
            [2, 1, h, w],
            "{cells:?} in training"
        );
    }
    assert_eq!(MaskCells::Sixteenth.grid(144), 9);
    assert!(net.forward_with_mask(x).1.is_none());
}

#[test]
fn the_fine_maps_hold_the_coarse_ones_and_three_phases_between() {
    // The shipped weights: freshly initialised ones let the activations die out by block 15.
    let device = Device::flex();
    device.seed(11);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/web/model/");
    let classifier = crate::Classifier::from_files(
        &std::fs::read_to_string(format!("{dir}config.json")).unwrap(),
        &std::fs::read(format!("{dir}model.bpk")).unwrap(),
        device.clone(),
    )
    .unwrap();
    let crate::Network::Lite0(net) = classifier.model() else {
        panic!("the shipped model is Lite0")
    };
    assert_eq!(last_halving(), 11);
    // 64 x 96 pixels: 4 x 6 at 1/16, 2 x 3 at 1/32.
    let x = Tensor::<4>::random([2, 3, 64, 96], burn::tensor::Distribution::Default, &device);
    let coarse = net.maps(x.clone());
    let fine = net.fine_maps(x.clone());
    assert_eq!(fine.dims(), [2, Lite0::FEATURES, 4, 6]);
    let kept = fine
        .clone()
        .reshape([2, Lite0::FEATURES, 2, 2, 3, 2])
        .narrow(3, 1, 1)
        .narrow(5, 1, 1)
        .reshape([2, Lite0::FEATURES, 2, 3]);
    let values = |t: Tensor<4>| t.into_data().try_into_vec_as::<f32>().unwrap();
    let (kept, coarse, fine) = (values(kept), values(coarse), values(fine));
    let largest = coarse.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(largest > 0.1, "activations alive: {largest}");
    let diff = kept
        .iter()
        .zip(&coarse)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff < 1e-5 * largest.max(1.0), "{diff}");
    assert_ne!(fine.len(), coarse.len());
    // An odd 1/16 grid (80 pixels: 5 x 5) cannot be split into phases: the coarse maps.
    let odd = Tensor::<4>::random([1, 3, 80, 80], burn::tensor::Distribution::Default, &device);
    net.fine_maps(odd.clone())
        .into_data()
        .assert_eq(&net.maps(odd).into_data(), true);
}

#[test]
fn phases_interleave_back() {
    let device = Device::flex();
    let x = Tensor::<4>::random([3, 2, 4, 6], burn::tensor::Distribution::Default, &device);
    let split = phases(x.clone());
    assert_eq!(split.dims(), [12, 2, 2, 3]);
    // Phase (1, 0) of image 2 is rows 1, 3 and columns 0, 2, 4 of it.
    let phase = split.clone().narrow(0, 2 * 3 + 2, 1);
    let want = x.clone().narrow(0, 2, 1).slice(s![.., .., 1..;2, 0..;2]);
    phase.into_data().assert_eq(&want.into_data(), true);
    interleave(split)
        .into_data()
        .assert_eq(&x.into_data(), true);
}

/// The shipped network as stored, its norms not folded.
fn shipped_unfolded(device: &Device) -> Lite0 {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/web/model/");
    let json = std::fs::read_to_string(format!("{dir}config.json")).unwrap();
    let bytes = std::fs::read(format!("{dir}model.bpk")).unwrap();
    let config = crate::weights::config_for(&json, &bytes).unwrap();
    let crate::Network::Lite0(net) = crate::weights::from_bytes(&config, &bytes, device).unwrap()
    else {
        panic!("the shipped model is Lite0")
    };
    net
}

#[test]
fn folded_norms_answer_as_the_norms_do() {
    let device = Device::flex();
    device.seed(5);
    let net = shipped_unfolded(&device);
    assert!(!net.folded);
    let folded = net.clone().with_norms_folded();
    assert!(folded.folded);
    // Folding twice is folding once.
    let twice = folded.clone().with_norms_folded();
    let x = Tensor::<4>::random([2, 3, 64, 64], burn::tensor::Distribution::Default, &device);
    let values = |t: Tensor<2>| t.into_data().try_into_vec_as::<f32>().unwrap();
    let largest_gap = |a: Vec<f32>, b: Vec<f32>| {
        let scale = a.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        a.iter()
            .zip(&b)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
            / scale
    };
    let (plain, fold) = (net.outputs(x.clone()), folded.outputs(x.clone()));
    assert!(largest_gap(values(plain.logits.clone()), values(fold.logits.clone())) < 1e-5);
    assert!(largest_gap(values(plain.features), values(fold.features)) < 1e-5);
    fold.logits
        .into_data()
        .assert_eq(&twice.outputs(x.clone()).logits.into_data(), true);
    let maps = |t: Tensor<4>| t.flatten::<2>(1, 3);
    let gap = largest_gap(
        values(maps(net.fine_maps(x.clone()))),
        values(maps(folded.fine_maps(x))),
    );
    assert!(gap < 1e-5, "fine maps differ by {gap}");
}

#[test]
#[should_panic(expected = "inference only")]
fn a_folded_network_refuses_to_train() {
    let device = Device::flex();
    let net = shipped_unfolded(&device).with_norms_folded();
    let x = Tensor::<4>::zeros([1, 3, 32, 32], &device);
    let keep = Tensor::<2>::ones([1, Lite0::FEATURES], &device);
    net.forward_gathering(x, keep, &mut Vec::new());
}
