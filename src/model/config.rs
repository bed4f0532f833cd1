//! `config.json`: what a model folder says about its `model.bpk`, in three parts: the network's
//! architecture, how a photo becomes its input (and how many views are averaged), and the
//! fitted answer; with the class list, a format version and the checksum that ties them to the
//! weights.
//!
//! A second architecture is one more variant of [`NetworkConfig`]; readers that only need the
//! input or the answer never look at the network's fields.

use burn::config::Config;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::lite0::{self, Lite0Config};
use super::net::LesionNetConfig;
use super::network::Network;
use super::views::VIEW_COUNTS;
use crate::CLASSES;
use crate::answer::AnswerConfig;

/// The `config.json` layout this code reads and writes; the checksum covers it.
pub const CONFIG_FORMAT: u32 = 2;

/// Upper bounds on the preprocessing: a `config.json` beyond them is refused before any
/// tensor is allocated.
pub const MAX_INPUT: usize = 512;
pub const MAX_RESIZE: usize = 1024;

/// How a photo becomes the network's input, and how the answer averages views of it.
#[derive(Config, Debug, PartialEq)]
pub struct PreprocessConfig {
    /// Side of the square network input, in pixels.
    #[config(default = 64)]
    pub input_size: usize,
    /// Side the photo's central square is resized to before the central `input_size` crop
    /// (training takes random crops of this size instead).
    #[config(default = 72)]
    pub resize_size: usize,
    /// Whether each photo's light is brought to HAM10000's typical light first
    /// ([`crate::preprocess::constancy`]). Off in the shipped recipe (docs/experiments.md).
    #[config(default = false)]
    pub colour_constancy: bool,
    /// How many flips/rotations of a photo the classifier averages ([`super::views`]).
    #[config(default = 8)]
    pub test_time_views: usize,
}

impl PreprocessConfig {
    /// Checks the sizes and the view count.
    pub fn validate(&self) -> Result<(), String> {
        if self.input_size == 0 || self.input_size > MAX_INPUT {
            return Err(format!(
                "input_size {} must be between 1 and {MAX_INPUT}",
                self.input_size
            ));
        }
        if self.resize_size == 0 || self.resize_size > MAX_RESIZE {
            return Err(format!(
                "resize_size {} must be between 1 and {MAX_RESIZE}",
                self.resize_size
            ));
        }
        if self.resize_size < self.input_size {
            return Err(format!(
                "resize_size {} must be at least input_size {}",
                self.resize_size, self.input_size
            ));
        }
        if !VIEW_COUNTS.contains(&self.test_time_views) {
            return Err(format!(
                "test_time_views {} must be one of {VIEW_COUNTS:?}",
                self.test_time_views
            ));
        }
        Ok(())
    }
}

/// The network's architecture, named by `"architecture"` in `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "architecture", rename_all = "snake_case")]
pub enum NetworkConfig {
    /// The from-scratch VGG-style CNN ([`super::LesionNet`]).
    LesionNet(LesionNetConfig),
    /// EfficientNet-Lite0 fine-tuned from ImageNet weights ([`super::lite0::Lite0`]).
    Lite0(Lite0Config),
}

impl From<LesionNetConfig> for NetworkConfig {
    fn from(config: LesionNetConfig) -> Self {
        Self::LesionNet(config)
    }
}

impl From<Lite0Config> for NetworkConfig {
    fn from(config: Lite0Config) -> Self {
        Self::Lite0(config)
    }
}

impl NetworkConfig {
    /// The network with `classes` outputs and freshly initialised weights, with room for a
    /// feature density over `density_width` features when the answer uses one.
    pub fn init(&self, classes: usize, density_width: Option<usize>, device: &Device) -> Network {
        match self {
            Self::LesionNet(c) => Network::LesionNet(c.init(classes, density_width, device)),
            Self::Lite0(c) => Network::Lite0(c.init(classes, density_width, device)),
        }
    }

    /// Channels of each part of the pooled features, in the order the outputs lay them end
    /// to end (each stage's, the head's input last).
    pub fn stage_widths(&self) -> Vec<usize> {
        match self {
            Self::LesionNet(c) => (0..c.stages).map(|s| c.base_width << s).collect(),
            Self::Lite0(_) => lite0::STAGE_WIDTHS.to_vec(),
        }
    }

    /// Width of the pooled features the outputs carry.
    pub fn feature_width(&self) -> usize {
        self.stage_widths().iter().sum()
    }

    /// Where stages `first..last` sit in the pooled features.
    pub fn stage_features(&self, first: usize, last: usize) -> std::ops::Range<usize> {
        let widths = self.stage_widths();
        let start: usize = widths[..first].iter().sum();
        start..widths[..last].iter().sum()
    }

    /// Dropout before the classifier head.
    pub fn dropout(&self) -> f64 {
        match self {
            Self::LesionNet(c) => c.dropout,
            Self::Lite0(c) => c.dropout,
        }
    }

    /// A short human-readable architecture name.
    pub fn architecture_name(&self) -> String {
        match self {
            Self::LesionNet(c) => c.architecture_name(),
            Self::Lite0(_) => {
                "EfficientNet-Lite0 (ImageNet-pretrained, fine-tuned; inverted residuals, ReLU6)"
                    .into()
            }
        }
    }

    /// Checks the network can run on `input_size` pixels.
    pub fn validate(&self, input_size: usize) -> Result<(), String> {
        match self {
            Self::LesionNet(c) => c.validate(input_size),
            Self::Lite0(c) => c.validate(input_size),
        }
    }
}

/// One class the model answers with: its code, the name shown to people and, optionally, one
/// line on what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassName {
    pub code: String,
    pub name: String,
    /// Absent for HAM10000's codes, whose descriptions are built in ([`CLASSES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl ClassName {
    /// A class named `name`, without a description of its own.
    pub fn new(code: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            name: name.into(),
            description: None,
        }
    }

    /// Its own description, else HAM10000's for a HAM10000 code, else none.
    pub fn described(&self) -> DescribedClass {
        let known = crate::classes::class_index(&self.code).map(|i| CLASSES[i].description);
        DescribedClass {
            code: self.code.clone(),
            name: self.name.clone(),
            description: self
                .description
                .clone()
                .or(known.map(str::to_owned))
                .unwrap_or_default(),
        }
    }
}

/// A class as the page shows it: `{code, name, description}` (the description may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DescribedClass {
    pub code: String,
    pub name: String,
    pub description: String,
}

/// HAM10000's seven classes, in the order of the network's outputs.
pub fn ham10000_classes() -> Vec<ClassName> {
    CLASSES
        .iter()
        .map(|c| ClassName::new(c.code, c.name))
        .collect()
}

/// The most classes a model may have: a damaged or hostile `config.json` must not ask for a
/// head of millions of outputs.
pub const MAX_CLASSES: usize = 1000;

/// Checks a class list: at least two classes, at most [`MAX_CLASSES`], unique non-empty codes
/// of letters, digits, `_` and `-` (they name files and JSON keys), and names.
pub fn validate_classes(classes: &[ClassName]) -> Result<(), String> {
    if classes.len() < 2 || classes.len() > MAX_CLASSES {
        return Err(format!(
            "a model needs 2 to {MAX_CLASSES} classes, not {}",
            classes.len()
        ));
    }
    for (i, class) in classes.iter().enumerate() {
        let code = &class.code;
        let usable = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
        if code.is_empty() || code.len() > 64 || !code.chars().all(usable) {
            return Err(format!(
                "class code {code:?} must be 1 to 64 letters, digits, '_' or '-'"
            ));
        }
        if class.name.trim().is_empty() {
            return Err(format!("class {code:?} has no name"));
        }
        if classes[..i].iter().any(|c| &c.code == code) {
            return Err(format!("class code {code:?} is listed twice"));
        }
    }
    Ok(())
}

/// A model folder's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// [`CONFIG_FORMAT`] when written by this code.
    pub format: u32,
    /// The classes, in the order of the network's outputs.
    pub classes: Vec<ClassName>,
    pub network: NetworkConfig,
    pub preprocess: PreprocessConfig,
    /// How outputs become an answer (calibration, unsure and out-of-distribution thresholds);
    /// fitted on validation when the model is exported, absent before.
    pub answer: Option<AnswerConfig>,
    /// SHA-256 of the weights and of this config's canonical form
    /// ([`crate::weights::checksum`]): ties `config.json` to its `model.bpk`.
    pub checksum: Option<String>,
}

impl ModelConfig {
    /// An unfitted model of `network` fed as `preprocess` says, with HAM10000's classes
    /// ([`Self::with_classes`] gives it others).
    pub fn new(network: impl Into<NetworkConfig>, preprocess: PreprocessConfig) -> Self {
        Self {
            format: CONFIG_FORMAT,
            classes: ham10000_classes(),
            network: network.into(),
            preprocess,
            answer: None,
            checksum: None,
        }
    }

    pub fn with_classes(mut self, classes: Vec<ClassName>) -> Self {
        self.classes = classes;
        self
    }

    /// The classes with their descriptions, as the page and `predict` show them.
    pub fn described_classes(&self) -> Vec<DescribedClass> {
        self.classes.iter().map(ClassName::described).collect()
    }

    pub fn with_answer(mut self, answer: Option<AnswerConfig>) -> Self {
        self.answer = answer;
        self
    }

    pub fn with_checksum(mut self, checksum: Option<String>) -> Self {
        self.checksum = checksum;
        self
    }

    /// The network and its preprocessing alone: no fitted answer, no signature (what a
    /// recalibration starts from, and what the bare network loads with).
    pub fn unfitted(&self) -> Self {
        self.clone().with_answer(None).with_checksum(None)
    }

    /// The same model with the from-scratch network's settings changed by `change` (another
    /// architecture is left as it is).
    pub fn map_lesion_net(
        mut self,
        change: impl FnOnce(LesionNetConfig) -> LesionNetConfig,
    ) -> Self {
        if let NetworkConfig::LesionNet(net) = self.network {
            self.network = NetworkConfig::LesionNet(change(net));
        }
        self
    }

    /// The same model with its preprocessing changed by `change`.
    pub fn map_preprocess(
        mut self,
        change: impl FnOnce(PreprocessConfig) -> PreprocessConfig,
    ) -> Self {
        self.preprocess = change(self.preprocess);
        self
    }

    /// Build the network with freshly initialised weights, with room for the feature density
    /// when the answer uses one.
    pub fn init(&self, device: &Device) -> Network {
        self.network
            .init(self.classes.len(), self.density_width(), device)
    }

    /// The width of the features the stored density is over, if the weights carry one.
    pub fn density_width(&self) -> Option<usize> {
        let ood = self.answer.as_ref().and_then(|a| a.ood.as_ref())?;
        ood.method
            .uses_density()
            .then(|| ood.features[1].saturating_sub(ood.features[0]))
    }

    /// The answer settings, or the neutral ones of an uncalibrated model.
    pub fn answer_config(&self) -> AnswerConfig {
        self.answer.clone().unwrap_or_else(AnswerConfig::new)
    }

    /// Width of the pooled features the network's outputs carry.
    pub fn feature_width(&self) -> usize {
        self.network.feature_width()
    }

    /// A short human-readable architecture name.
    pub fn architecture_name(&self) -> String {
        self.network.architecture_name()
    }

    /// Checks every part, and that they fit together.
    pub fn validate(&self) -> Result<(), String> {
        if self.format != CONFIG_FORMAT {
            return Err(format!(
                "config format {} is not {CONFIG_FORMAT}, the one this version reads; re-export the model",
                self.format
            ));
        }
        validate_classes(&self.classes)?;
        self.preprocess.validate()?;
        self.network.validate(self.preprocess.input_size)?;
        if let Some(answer) = &self.answer {
            answer.validate(self.classes.len(), self.feature_width())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelConfig {
        ModelConfig::new(LesionNetConfig::new(), PreprocessConfig::new())
    }

    fn with_preprocess(preprocess: PreprocessConfig) -> ModelConfig {
        ModelConfig::new(LesionNetConfig::new(), preprocess)
    }

    #[test]
    fn rejects_impossible_inputs_and_answers() {
        assert!(model().validate().is_ok());
        let p = PreprocessConfig::new;
        assert!(with_preprocess(p().with_input_size(8)).validate().is_err());
        assert!(
            with_preprocess(p().with_input_size(100_000))
                .validate()
                .is_err()
        );
        assert!(
            with_preprocess(p().with_resize_size(32))
                .validate()
                .is_err()
        );
        assert!(
            with_preprocess(p().with_resize_size(usize::MAX))
                .validate()
                .is_err()
        );
        assert!(
            with_preprocess(p().with_test_time_views(3))
                .validate()
                .is_err()
        );
        let cold = AnswerConfig::new().with_temperature(0.0);
        assert!(model().with_answer(Some(cold)).validate().is_err());
    }

    #[test]
    fn another_format_or_a_bad_class_list_is_refused_with_a_reason() {
        let mut old = model();
        old.format = 1;
        assert!(old.validate().unwrap_err().contains("format 1"));
        let three = |codes: [&str; 3]| {
            model().with_classes(codes.map(|c| ClassName::new(c, c.to_uppercase())).to_vec())
        };
        assert_eq!(three(["a", "b", "scc"]).validate(), Ok(()));
        assert!(
            three(["a", "b", "a"])
                .validate()
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            three(["a", "b", "x y"])
                .validate()
                .unwrap_err()
                .contains("\"x y\"")
        );
        let mut one = model();
        one.classes.truncate(1);
        assert!(one.validate().unwrap_err().contains("2 to"));
        let mut nameless = three(["a", "b", "c"]);
        nameless.classes[2].name = " ".into();
        assert!(nameless.validate().unwrap_err().contains("no name"));
    }

    #[test]
    fn a_class_without_a_description_gets_ham10000s_when_the_code_is_one_of_its() {
        let mut classes = vec![
            ClassName::new("mel", "Melanoma"),
            ClassName::new("scc", "SCC"),
        ];
        classes[1].description = Some("Squamous cell carcinoma.".into());
        let shown = model().with_classes(classes).described_classes();
        assert!(shown[0].description.contains("pigment cells"));
        assert_eq!(shown[1].description, "Squamous cell carcinoma.");
        assert_eq!(ClassName::new("x", "X").described().description, "");
    }

    #[test]
    fn config_json_holds_the_parts_apart_and_names_the_architecture() {
        let json: serde_json::Value = serde_json::to_value(model()).unwrap();
        assert_eq!(json["network"]["architecture"], "lesion_net");
        assert_eq!(json["preprocess"]["input_size"], 64);
        assert_eq!(json["classes"][4]["code"], "mel");
        assert_eq!(json["format"], CONFIG_FORMAT);
        let unknown = serde_json::to_string(&model())
            .unwrap()
            .replacen('{', "{\"extra\":1,", 1);
        assert!(serde_json::from_str::<ModelConfig>(&unknown).is_err());
    }
}
