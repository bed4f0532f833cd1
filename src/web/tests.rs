//! Browser tests (`wasm-bindgen-test` in headless Chromium; see `.ci/run`): the shipped model
//! runs on WebGPU and on the CPU backend in wasm, and both give the same probabilities.

use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage};
use js_sys::Float32Array;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

use super::*;
use crate::CLASSES;

const NUM_CLASSES: usize = CLASSES.len();

wasm_bindgen_test_configure!(run_in_browser);

const CONFIG: &str = include_str!("../../web/model/config.json");
const WEIGHTS: &[u8] = include_bytes!("../../web/model/model.bpk");

/// A lesion-like picture: a dark brown blob with a ragged rim on pinkish skin.
fn lesion_png(seed: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(200, 150, |x, y| {
        let (dx, dy) = (x as f32 - 100.0, y as f32 - 75.0);
        let r = (dx * dx + dy * dy).sqrt() + 6.0 * ((x * 7 + y * 13 + seed) % 5) as f32;
        if r < 45.0 + seed as f32 {
            Rgb([90 + (x % 20) as u8, 55, 40 + (y % 15) as u8])
        } else {
            Rgb([215, 160, 150 + (seed % 30) as u8])
        }
    });
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, ImageFormat::Png).unwrap();
    bytes.into_inner()
}

async fn load(backend: &str) -> WebClassifier {
    WebClassifier::load(CONFIG.to_string(), WEIGHTS.to_vec(), backend.to_string())
        .await
        .unwrap_or_else(|e| panic!("{backend} model failed to load: {e:?}"))
}

/// `{probabilities, top, ...}` of an answer.
struct Shown {
    probabilities: Vec<f32>,
    top: String,
}

fn shown(answer: JsValue) -> Shown {
    let get = |key: &str| js_sys::Reflect::get(&answer, &key.into()).unwrap();
    let probabilities = js_sys::Array::from(&get("probabilities"))
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    Shown {
        probabilities,
        top: get("top").as_string().unwrap(),
    }
}

/// What the worker does with one worker: prepare, every view, answer.
async fn classify(model: &WebClassifier, photo: &[u8]) -> Result<Shown, JsValue> {
    let input = model.prepare(photo, None, None)?.to_vec();
    let sums = JsFuture::from(model.view_sums(input, 0, model.views())).await?;
    Ok(shown(model.answer(&Float32Array::from(sums).to_vec())?))
}

async fn probabilities(model: &WebClassifier, photo: &[u8]) -> Vec<f32> {
    classify(model, photo)
        .await
        .unwrap_or_else(|e| panic!("classification failed: {e:?}"))
        .probabilities
}

fn error_name(error: &JsValue) -> String {
    js_sys::Reflect::get(error, &"name".into())
        .unwrap()
        .as_string()
        .unwrap()
}

#[cfg(feature = "webgpu")]
#[wasm_bindgen_test]
async fn webgpu_and_cpu_agree_on_the_shipped_model() {
    let gpu = load("webgpu").await;
    let cpu = load("cpu").await;
    assert_eq!(gpu.backend(), "webgpu");
    assert_eq!(cpu.backend(), "cpu");
    let mut answers: Vec<Vec<f32>> = Vec::new();
    for seed in [0, 7, 19] {
        let png = lesion_png(seed);
        let on_gpu = probabilities(&gpu, &png).await;
        let on_cpu = probabilities(&cpu, &png).await;
        assert_eq!(on_gpu.len(), NUM_CLASSES);
        assert!(
            (on_cpu.iter().sum::<f32>() - 1.0).abs() < 1e-4,
            "{on_cpu:?}"
        );
        for (g, c) in on_gpu.iter().zip(&on_cpu) {
            assert!((g - c).abs() < 1e-4, "webgpu {on_gpu:?} vs cpu {on_cpu:?}");
        }
        answers.push(on_cpu);
    }
    // Different pictures, different answers: the network really ran on each input.
    assert_ne!(answers[0], answers[1]);
    assert_ne!(answers[1], answers[2]);
}

#[wasm_bindgen_test]
async fn rgba_pixels_give_the_same_answer_as_the_encoded_photo() {
    let cpu = load("cpu").await;
    let png = lesion_png(3);
    let rgba = image::load_from_memory(&png).unwrap().to_rgba8();
    let from_png = cpu.prepare(&png, None, None).unwrap().to_vec();
    let from_pixels = cpu
        .prepare(rgba.as_raw(), Some(rgba.width()), Some(rgba.height()))
        .unwrap()
        .to_vec();
    assert_eq!(from_png, from_pixels);
    let error = cpu
        .prepare(rgba.as_raw(), Some(rgba.width()), None)
        .unwrap_err();
    assert_eq!(error_name(&error), "InputError");
}

#[wasm_bindgen_test]
async fn views_split_between_two_classifiers_give_the_whole_answer() {
    // What the worker does with a helper: each instance runs half of the views of one input.
    let (one, two) = (load("cpu").await, load("cpu").await);
    let png = lesion_png(5);
    let whole = classify(&one, &png).await.unwrap();
    let input = one.prepare(&png, None, None).unwrap().to_vec();
    let half = one.views() / 2;
    let sums =
        |model: &WebClassifier, first| JsFuture::from(model.view_sums(input.clone(), first, half));
    let first = Float32Array::from(sums(&one, 0).await.unwrap()).to_vec();
    let second = Float32Array::from(sums(&two, half).await.unwrap()).to_vec();
    let split = shown(one.answer(&[first.clone(), second].concat()).unwrap());
    assert_eq!(whole.top, split.top);
    for (w, s) in whole.probabilities.iter().zip(&split.probabilities) {
        assert!(
            (w - s).abs() < 1e-5,
            "whole {:?} vs split {:?}",
            whole.probabilities,
            split.probabilities
        );
    }
    // Views beyond the model's, a wrong input size or part of the views are refused in words.
    let error = JsFuture::from(one.view_sums(input.clone(), half, one.views()))
        .await
        .unwrap_err();
    assert_eq!(error_name(&error), "InputError", "{error:?}");
    let error = JsFuture::from(one.view_sums(input[1..].to_vec(), 0, 1))
        .await
        .unwrap_err();
    assert_eq!(error_name(&error), "InputError", "{error:?}");
    assert_eq!(error_name(&one.answer(&first).unwrap_err()), "InputError");
    assert_eq!(
        error_name(&one.answer(&[0.0; 5]).unwrap_err()),
        "InputError"
    );
}

#[wasm_bindgen_test]
async fn bad_photos_are_input_errors_and_the_model_keeps_working() {
    let cpu = load("cpu").await;
    let png = lesion_png(1);
    for bad in [
        Vec::new(),
        b"not an image".to_vec(),
        png[..png.len() / 2].to_vec(),
    ] {
        let error = classify(&cpu, &bad)
            .await
            .err()
            .expect("a bad photo was classified");
        assert_eq!(error_name(&error), "InputError", "{error:?}");
    }
    let error = cpu.prepare(&[0; 5], Some(3), Some(3)).unwrap_err();
    assert_eq!(error_name(&error), "InputError");
    assert_eq!(probabilities(&cpu, &png).await.len(), NUM_CLASSES);
}

#[wasm_bindgen_test]
async fn mismatched_weights_are_a_model_error() {
    let mut config: serde_json::Value = serde_json::from_str(CONFIG).unwrap();
    // The shipped weights described as the other architecture.
    let other = crate::NetworkConfig::LesionNet(crate::LesionNetConfig::new());
    config["network"] = serde_json::to_value(other).unwrap();
    let wider = config.to_string();
    let Err(error) = WebClassifier::load(wider, WEIGHTS.to_vec(), "cpu".into()).await else {
        panic!("weights for another architecture loaded");
    };
    assert_eq!(error_name(&error), "ModelError");
    let Err(error) = WebClassifier::load(CONFIG.into(), b"junk".repeat(10), "cpu".into()).await
    else {
        panic!("junk weights loaded");
    };
    assert_eq!(error_name(&error), "ModelError");
    let Err(error) = WebClassifier::load(CONFIG.into(), WEIGHTS.to_vec(), "tpu".into()).await
    else {
        panic!("unknown backend accepted");
    };
    assert_eq!(error_name(&error), "BackendError");
}

#[wasm_bindgen_test]
async fn classes_are_the_configs_in_model_order() {
    let model = load("cpu").await;
    let list = model.classes().unwrap();
    let codes: Vec<String> = js_sys::Array::from(&list)
        .iter()
        .map(|c| {
            js_sys::Reflect::get(&c, &"code".into())
                .unwrap()
                .as_string()
                .unwrap()
        })
        .collect();
    assert_eq!(codes, ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]);
}
