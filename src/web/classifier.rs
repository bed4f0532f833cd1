//! The model as JavaScript sees it: load once; then, for each photo, prepare it, run its views
//! (all at once, or split between two workers) and turn their sums into the answer.

use std::rc::Rc;

use js_sys::{Float32Array, Promise};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::backend::{self, Backend};
use super::error::WebError;
use crate::patient::{MAX_AGE, SEXES, SITES};
use crate::saliency::MapSums;
use crate::{Answer, Classifier, Patient, Photo, ViewSums};

/// A loaded, warmed-up model on one backend.
#[wasm_bindgen]
pub struct WebClassifier {
    // Shared with the futures of in-flight classifications, which outlive `&self`.
    inner: Rc<Classifier>,
    backend: Backend,
}

/// The answer as JavaScript receives it (`answer()`'s result).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsAnswer {
    probabilities: Vec<f32>,
    top: String,
    runner_up: String,
    ood_score: f32,
    out_of_distribution: bool,
    unsure: bool,
    /// The patient data the answer includes (`age, sex, body site`), or null.
    patient_data: Option<String>,
}

impl JsAnswer {
    /// `a` with its classes named by `classifier`'s codes.
    fn new(a: Answer, classifier: &Classifier, patient: &Patient) -> Self {
        let code = |i: usize| classifier.config().classes[i].code.clone();
        Self {
            top: code(a.top),
            runner_up: code(a.runner_up),
            probabilities: a.probabilities,
            ood_score: a.ood_score,
            out_of_distribution: a.out_of_distribution,
            unsure: a.unsure,
            patient_data: (!patient.is_unknown()).then(|| patient.given()),
        }
    }
}

/// Patient data as JavaScript passes it: `{age, sex, site}`, each optional (missing, null or
/// empty is unknown), the age a number or its text, the sex and site as `patientFields()`
/// lists them.
#[derive(Deserialize)]
struct JsPatient {
    age: Option<JsAge>,
    sex: Option<String>,
    site: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsAge {
    Number(f64),
    Text(String),
}

impl JsPatient {
    /// The patient, or an `InputError` naming the field that cannot be used.
    fn parse(value: JsValue) -> Result<Patient, WebError> {
        if value.is_undefined() || value.is_null() {
            return Ok(Patient::UNKNOWN);
        }
        let js: Self = serde_wasm_bindgen::from_value(value).map_err(|e| {
            WebError::Input(format!("patient data must be {{age, sex, site}}: {e}"))
        })?;
        let age = match js.age {
            Some(JsAge::Number(n)) => n.to_string(),
            Some(JsAge::Text(t)) => t,
            None => String::new(),
        };
        let text = |field: Option<String>| field.unwrap_or_default();
        Patient::parse(&age, &text(js.sex), &text(js.site))
            .map_err(|e| WebError::Input(e.to_string()))
    }
}

/// What a model with patient tables can weigh in (`patientFields()`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsPatientFields {
    max_age: f32,
    sexes: Vec<&'static str>,
    sites: Vec<&'static str>,
}

#[wasm_bindgen]
impl WebClassifier {
    /// Build the network from `config.json` text and burnpack weights on `backend`
    /// (`"webgpu"` or `"cpu"`), check that the two files belong together and every tensor's
    /// shape, and run it once so that shader compilation and buffer allocation happen now
    /// rather than on the first photo.
    pub async fn load(
        config_json: String,
        weights: Vec<u8>,
        backend: String,
    ) -> Result<WebClassifier, JsValue> {
        let backend = Backend::parse(&backend)?;
        let device = backend::device(backend).await?;
        let classifier =
            Classifier::from_files(&config_json, &weights, device).map_err(WebError::from)?;
        let web = Self {
            inner: Rc::new(classifier),
            backend,
        };
        web.warm_up().await?;
        Ok(web)
    }

    /// `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.name().to_string()
    }

    /// How many flips/rotations of a photo the model averages (`test_time_views`).
    #[wasm_bindgen(getter)]
    pub fn views(&self) -> usize {
        self.inner.config().preprocess.test_time_views
    }

    /// How many of those views a saliency map averages (the first ones).
    #[wasm_bindgen(getter, js_name = saliencyViews)]
    pub fn saliency_views(&self) -> usize {
        self.inner.saliency_views()
    }

    /// Decode and preprocess a photo into the network's input: encoded bytes (JPEG, PNG, WebP,
    /// BMP, GIF), or RGBA pixels when `width` and `height` are given.
    pub fn prepare(
        &self,
        bytes: &[u8],
        width: Option<u32>,
        height: Option<u32>,
    ) -> Result<Float32Array, JsValue> {
        let photo = match (width, height) {
            (Some(width), Some(height)) => Photo::Rgba {
                width,
                height,
                pixels: bytes,
            },
            (None, None) => Photo::Encoded(bytes),
            _ => {
                return Err(
                    WebError::Input("RGBA pixels need both a width and a height".into()).into(),
                );
            }
        };
        let input = self.inner.prepare(photo).map_err(WebError::from)?;
        Ok(Float32Array::from(&input[..]))
    }

    /// Resolves to the sums over views `first .. first + count` of a prepared input, as one
    /// flat `Float32Array` to hand to [`Self::answer`] (possibly from another worker).
    #[wasm_bindgen(js_name = viewSums)]
    pub fn view_sums(&self, input: Vec<f32>, first: usize, count: usize) -> Promise {
        let classifier = Rc::clone(&self.inner);
        future_to_promise(async move {
            let sums = classifier
                .view_sums_async(&input, first..first + count)
                .await
                .map_err(WebError::from)?;
            Ok(Float32Array::from(&sums.to_flat()[..]).into())
        })
    }

    /// The answer from view sums that together cover every view once, laid end to end, with
    /// the patient's data when given (`{age, sex, site}`, each optional; a model without
    /// patient tables refuses it): `{probabilities, top, runnerUp, oodScore,
    /// outOfDistribution, unsure, patientData}` (`patientData`: the fields used, in words, or
    /// null).
    pub fn answer(&self, sums: &[f32], patient: JsValue) -> Result<JsValue, JsValue> {
        let patient = JsPatient::parse(patient)?;
        let config = self.inner.answer_config();
        if config.patient.is_none() && !patient.is_unknown() {
            return Err(WebError::Input(
                "this model has no patient tables: it answers from the photo alone".into(),
            )
            .into());
        }
        let classes = self.inner.classes();
        let part = 1 + classes + self.inner.config().feature_width();
        if sums.is_empty() || !sums.len().is_multiple_of(part) {
            return Err(
                WebError::Input(format!("{} numbers are not whole view sums", sums.len())).into(),
            );
        }
        let mut parts = sums
            .chunks_exact(part)
            .map(|p| ViewSums::from_flat(p, classes));
        let mut total = parts
            .next()
            .expect("at least one part")
            .map_err(WebError::from)?;
        for other in parts {
            total
                .add(&other.map_err(WebError::from)?)
                .map_err(WebError::from)?;
        }
        let answer = self.inner.answer(&total).map_err(WebError::from)?;
        let answer = answer.with_patient(&config, &patient);
        let answer = JsAnswer::new(answer, &self.inner, &patient);
        let nulls = serde_wasm_bindgen::Serializer::new().serialize_missing_as_null(true);
        answer
            .serialize(&nulls)
            .map_err(|e| WebError::Model(e.to_string()).into())
    }

    /// What patient data this model weighs in: `{maxAge, sexes, sites}` (the codes `answer`
    /// takes, sites in HAM10000's spelling), or null for a model that answers from the photo
    /// alone.
    #[wasm_bindgen(js_name = patientFields)]
    pub fn patient_fields(&self) -> Result<JsValue, JsValue> {
        if self.inner.answer_config().patient.is_none() {
            return Ok(JsValue::NULL);
        }
        to_js(&JsPatientFields {
            max_age: MAX_AGE,
            sexes: SEXES.map(|s| s.code()).to_vec(),
            sites: SITES.map(|s| s.code()).to_vec(),
        })
    }

    /// Resolves to the class activation map of class `code` summed over views `first .. first
    /// + count` of a prepared input ([`crate::saliency`]), as one flat `Float32Array` to hand
    /// to [`Self::saliency_map`] (possibly from another worker).
    #[wasm_bindgen(js_name = saliencySums)]
    pub fn saliency_sums(
        &self,
        input: Vec<f32>,
        code: String,
        first: usize,
        count: usize,
    ) -> Promise {
        let classifier = Rc::clone(&self.inner);
        future_to_promise(async move {
            let class = classifier
                .config()
                .classes
                .iter()
                .position(|c| c.code == code)
                .ok_or_else(|| WebError::Input(format!("no class {code:?}")))?;
            let sums = classifier
                .saliency_sums_async(&input, class, first..first + count)
                .await
                .map_err(WebError::from)?;
            Ok(Float32Array::from(&sums.to_flat()[..]).into())
        })
    }

    /// Where the network looked, from saliency sums that together cover every view once, laid
    /// end to end: a `Float32Array` of `input_size²` values in [0, 1] over the crop it saw
    /// (row-major).
    #[wasm_bindgen(js_name = saliencyMap)]
    pub fn saliency_map(&self, sums: &[f32]) -> Result<Float32Array, JsValue> {
        let sums = MapSums::from_flat_parts(sums).map_err(WebError::Input)?;
        let map = self.inner.saliency_map(&sums).map_err(WebError::from)?;
        Ok(Float32Array::from(&map[..]))
    }

    /// The model's classes in the order of its outputs (`config.json`'s list):
    /// `[{code, name, description}]`.
    pub fn classes(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.config().described_classes())
    }

    /// The checksum that ties this model's config to its weights: which model this is.
    #[wasm_bindgen(getter)]
    pub fn checksum(&self) -> String {
        self.inner.config().checksum.clone().unwrap_or_default()
    }

    /// The share of the photo's central square that the network sees (`input_size /
    /// resize_size`), for drawing the crop under the saliency map.
    #[wasm_bindgen(getter, js_name = cropShare)]
    pub fn crop_share(&self) -> f32 {
        let config = self.inner.config();
        config.preprocess.input_size as f32 / config.preprocess.resize_size as f32
    }

    /// Run the whole path once, decoder included: the browser compiles wasm functions lazily
    /// and optimises them after their first calls, and WebGPU compiles its shaders on first
    /// use. Without this the first photo took 7 times as long as the next ones on the CPU.
    /// On the CPU one view warms every function the views share (the same layers): in two
    /// Chromium pages the load took 300-400 ms less than with all 8 views, and the first 4
    /// views after it 8-16 ms more (docs/throughput.md). WebGPU runs every view, since its
    /// kernels are compiled for the batch's shapes.
    async fn warm_up(&self) -> Result<(), WebError> {
        let input = self
            .inner
            .prepare(Photo::Encoded(WARM_UP_JPEG))
            .map_err(|e| WebError::Model(e.to_string()))?;
        let views = self.inner.config().preprocess.test_time_views;
        let warmed = match self.backend {
            Backend::Cpu => 1,
            Backend::WebGpu => views,
        };
        let sums = self.inner.view_sums_async(&input, 0..warmed).await?;
        // The warmed views stand in for every view, so that the answer's checks still run at
        // load: weights that give NaN fail here, not on the first photo.
        let scale = (views / warmed) as f32;
        let every = ViewSums {
            views,
            logits: sums.logits.iter().map(|v| v * scale).collect(),
            features: sums.features.iter().map(|v| v * scale).collect(),
        };
        self.inner.answer(&every)?;
        Ok(())
    }
}

/// A small synthetic JPEG (a blurred brown blob on skin tone, not a HAM10000 photo).
const WARM_UP_JPEG: &[u8] = include_bytes!("warmup.jpg");

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    serde_wasm_bindgen::to_value(value).map_err(|e| WebError::Model(e.to_string()).into())
}

/// Test hook for the page tests' crash recovery: makes this module trap, as a bug in it would.
/// It only ever breaks the worker that calls it, which the page then replaces.
#[wasm_bindgen(js_name = trapForTests)]
pub fn trap_for_tests() {
    core::arch::wasm32::unreachable()
}
