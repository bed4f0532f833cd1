//! Optional patient data (age, sex, body site) and what it adds to the network's answer.
//!
//! Why a likelihood table and not a second network: the photo and the patient data are
//! combined the way Bayes' rule does it when the two are independent given the class. The
//! answer's calibrated log-probabilities get `weight × Σ log p(field value | class)` added for
//! each field a person gave; the tables are counted on the training split (where HAM10000 has
//! 7,000 photos, against 1,500 in validation) and only the one weight is chosen on validation
//! (`train-native/src/honest/patient.rs`). "Unknown" is a first-class value: a field not given
//! adds nothing, so with no patient data the answer is exactly the photo's answer.

use burn::config::Config;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What a person may say about the patient; every field may be unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Patient {
    /// Age in years.
    pub age: Option<f32>,
    pub sex: Option<Sex>,
    /// Where on the body the lesion is.
    pub site: Option<Site>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
}

/// HAM10000's body sites (its `localization` column), in its spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Site {
    Abdomen,
    Acral,
    Back,
    Chest,
    Ear,
    Face,
    Foot,
    Genital,
    Hand,
    LowerExtremity,
    Neck,
    Scalp,
    Trunk,
    UpperExtremity,
}

/// Every sex, in table order.
pub const SEXES: [Sex; 2] = [Sex::Female, Sex::Male];

/// Every body site, in table order.
pub const SITES: [Site; 14] = [
    Site::Abdomen,
    Site::Acral,
    Site::Back,
    Site::Chest,
    Site::Ear,
    Site::Face,
    Site::Foot,
    Site::Genital,
    Site::Hand,
    Site::LowerExtremity,
    Site::Neck,
    Site::Scalp,
    Site::Trunk,
    Site::UpperExtremity,
];

/// The oldest age accepted: older is a typing error, not a patient.
pub const MAX_AGE: f32 = 120.0;

impl Sex {
    pub fn code(self) -> &'static str {
        match self {
            Self::Female => "female",
            Self::Male => "male",
        }
    }
}

impl Site {
    /// HAM10000's spelling (`lower extremity`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Abdomen => "abdomen",
            Self::Acral => "acral",
            Self::Back => "back",
            Self::Chest => "chest",
            Self::Ear => "ear",
            Self::Face => "face",
            Self::Foot => "foot",
            Self::Genital => "genital",
            Self::Hand => "hand",
            Self::LowerExtremity => "lower extremity",
            Self::Neck => "neck",
            Self::Scalp => "scalp",
            Self::Trunk => "trunk",
            Self::UpperExtremity => "upper extremity",
        }
    }
}

/// A patient field a person gave that cannot be used.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PatientError {
    #[error("age {0:?} is not a number of years between 0 and 120")]
    Age(String),
    #[error("sex {0:?} is not one of female, male, unknown")]
    Sex(String),
    #[error("body site {0:?} is not one of {sites}, unknown", sites = site_list())]
    Site(String),
}

fn site_list() -> String {
    SITES.map(Site::code).join(", ")
}

/// Whether a field's text means "not known" (HAM10000 writes `unknown`, empty or `NaN`).
fn is_unknown(text: &str) -> bool {
    let t = text.trim();
    t.is_empty() || t.eq_ignore_ascii_case("unknown") || t.eq_ignore_ascii_case("nan")
}

impl Patient {
    /// Nothing known: the answer is the photo's alone.
    pub const UNKNOWN: Self = Self {
        age: None,
        sex: None,
        site: None,
    };

    /// Parse what a person typed; empty or `unknown` fields are unknown, anything else that
    /// does not parse is an error naming the field. Sites may use `_` or `-` for spaces.
    pub fn parse(age: &str, sex: &str, site: &str) -> Result<Self, PatientError> {
        Ok(Self {
            age: parse_age(age)?,
            sex: parse_sex(sex)?,
            site: parse_site(site)?,
        })
    }

    /// A data set row's fields: anything unparseable is unknown (another data set's vocabulary
    /// must not stop an evaluation; its labels do not depend on these).
    pub fn from_row(age: &str, sex: &str, site: &str) -> Self {
        Self {
            age: parse_age(age).ok().flatten(),
            sex: parse_sex(sex).ok().flatten(),
            site: parse_site(site).ok().flatten(),
        }
    }

    pub fn is_unknown(&self) -> bool {
        *self == Self::UNKNOWN
    }

    /// The fields given, in words (`age, body site`), or `none`.
    pub fn given(&self) -> String {
        let fields: Vec<&str> = [
            self.age.map(|_| "age"),
            self.sex.map(|_| "sex"),
            self.site.map(|_| "body site"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if fields.is_empty() {
            "none".into()
        } else {
            fields.join(", ")
        }
    }
}

fn parse_age(text: &str) -> Result<Option<f32>, PatientError> {
    if is_unknown(text) {
        return Ok(None);
    }
    match text.trim().parse::<f32>() {
        Ok(age) if (0.0..=MAX_AGE).contains(&age) => Ok(Some(age)),
        _ => Err(PatientError::Age(text.into())),
    }
}

fn parse_sex(text: &str) -> Result<Option<Sex>, PatientError> {
    if is_unknown(text) {
        return Ok(None);
    }
    let t = text.trim().to_ascii_lowercase();
    SEXES
        .into_iter()
        .find(|s| s.code() == t)
        .map(Some)
        .ok_or_else(|| PatientError::Sex(text.into()))
}

fn parse_site(text: &str) -> Result<Option<Site>, PatientError> {
    if is_unknown(text) {
        return Ok(None);
    }
    let t = text.trim().to_ascii_lowercase().replace(['_', '-'], " ");
    SITES
        .into_iter()
        .find(|s| s.code() == t)
        .map(Some)
        .ok_or_else(|| PatientError::Site(text.into()))
}

/// What patient data adds, stored in `config.json` with the answer settings.
#[derive(Config, Debug, PartialEq)]
pub struct PatientConfig {
    /// How much the patient data counts against the photo (chosen on validation; 1 is Bayes'
    /// rule with independent fields, 0 ignores them).
    pub weight: f32,
    /// Age bins' lower edges after the first (years): bin `i` holds ages below `age_edges[i]`
    /// and at or above the edge before it.
    pub age_edges: Vec<f32>,
    /// `log p(age bin | class)`, one row per bin (`age_edges.len() + 1` rows).
    pub age: Vec<Vec<f32>>,
    /// `log p(sex | class)`, one row per [`SEXES`] entry.
    pub sex: Vec<Vec<f32>>,
    /// `log p(site | class)`, one row per [`SITES`] entry.
    pub site: Vec<Vec<f32>>,
}

impl PatientConfig {
    /// The same tables at another weight.
    pub fn weighted(mut self, weight: f32) -> Self {
        self.weight = weight;
        self
    }

    /// The age bin of `age`.
    pub fn age_bin(edges: &[f32], age: f32) -> usize {
        edges.iter().take_while(|&&edge| age >= edge).count()
    }

    /// What the patient data adds to each class's calibrated log-probability.
    pub fn terms(&self, patient: &Patient) -> Vec<f32> {
        let classes = self.sex.first().map_or(0, Vec::len);
        let mut rows: Vec<&[f32]> = Vec::new();
        if let Some(age) = patient.age {
            rows.push(&self.age[Self::age_bin(&self.age_edges, age)]);
        }
        if let Some(sex) = patient.sex {
            rows.push(&self.sex[SEXES.iter().position(|&s| s == sex).expect("listed")]);
        }
        if let Some(site) = patient.site {
            rows.push(&self.site[SITES.iter().position(|&s| s == site).expect("listed")]);
        }
        (0..classes)
            .map(|c| self.weight * rows.iter().map(|r| r[c]).sum::<f32>())
            .collect()
    }

    /// Whether the tables have the shapes [`Self::terms`] indexes (one column per class of
    /// `classes`) and hold numbers.
    pub fn validate(&self, classes: usize) -> Result<(), String> {
        let shapes = [
            ("age", self.age.len(), self.age_edges.len() + 1),
            ("sex", self.sex.len(), SEXES.len()),
            ("site", self.site.len(), SITES.len()),
        ];
        for (name, rows, expected) in shapes {
            if rows != expected {
                return Err(format!(
                    "the patient {name} table has {rows} rows instead of {expected}"
                ));
            }
        }
        let rows = || self.age.iter().chain(&self.sex).chain(&self.site);
        if let Some(row) = rows().find(|r| r.len() != classes) {
            return Err(format!(
                "a patient table row has {} columns instead of one per class ({classes})",
                row.len()
            ));
        }
        let values = rows().flatten();
        if !self.weight.is_finite() || self.weight < 0.0 || values.clone().any(|v| !v.is_finite()) {
            return Err("the patient tables must hold finite numbers".into());
        }
        if self.age_edges.windows(2).any(|w| w[0] >= w[1]) {
            return Err("the patient age edges must increase".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: usize, class: usize, value: f32) -> Vec<Vec<f32>> {
        (0..rows)
            .map(|r| {
                (0..7)
                    .map(|c| if r == 0 && c == class { value } else { 0.0 })
                    .collect()
            })
            .collect()
    }

    fn config() -> PatientConfig {
        PatientConfig::new(
            0.5,
            vec![30.0, 60.0],
            table(3, 4, 2.0),
            table(2, 1, 4.0),
            table(14, 6, 8.0),
        )
    }

    #[test]
    fn parsing_accepts_ham_spellings_and_unknowns() {
        let p = Patient::parse(" 45 ", "Male", "lower_extremity").unwrap();
        assert_eq!(p.age, Some(45.0));
        assert_eq!(p.sex, Some(Sex::Male));
        assert_eq!(p.site, Some(Site::LowerExtremity));
        assert_eq!(
            Patient::parse("", "unknown", "NaN").unwrap(),
            Patient::UNKNOWN
        );
        assert_eq!(p.given(), "age, sex, body site");
        assert_eq!(Patient::UNKNOWN.given(), "none");
    }

    #[test]
    fn bad_fields_are_errors_that_name_them() {
        assert_eq!(
            Patient::parse("121", "", "").unwrap_err(),
            PatientError::Age("121".into())
        );
        assert!(Patient::parse("-1", "", "").is_err());
        assert!(Patient::parse("forty", "", "").is_err());
        assert_eq!(
            Patient::parse("", "x", "").unwrap_err(),
            PatientError::Sex("x".into())
        );
        let site = Patient::parse("", "", "elbow").unwrap_err();
        assert!(site.to_string().contains("upper extremity"), "{site}");
        // A data set row is lenient instead.
        assert_eq!(Patient::from_row("forty", "x", "elbow"), Patient::UNKNOWN);
    }

    #[test]
    fn unknown_fields_add_nothing() {
        assert_eq!(config().terms(&Patient::UNKNOWN), vec![0.0; 7]);
    }

    #[test]
    fn each_known_field_adds_its_row_times_the_weight() {
        let c = config();
        let young = Patient {
            age: Some(29.0),
            ..Patient::UNKNOWN
        };
        assert_eq!(c.terms(&young)[4], 1.0);
        let older = Patient {
            age: Some(30.0),
            ..Patient::UNKNOWN
        };
        assert_eq!(c.terms(&older), vec![0.0; 7]);
        let all = Patient {
            age: Some(10.0),
            sex: Some(Sex::Female),
            site: Some(Site::Abdomen),
        };
        assert_eq!(c.terms(&all), [0.0, 2.0, 0.0, 0.0, 1.0, 0.0, 4.0]);
    }

    #[test]
    fn age_bins_split_at_their_edges() {
        let edges = [30.0, 60.0];
        let bins = [0.0, 29.9, 30.0, 59.0, 60.0, 120.0].map(|a| PatientConfig::age_bin(&edges, a));
        assert_eq!(bins, [0, 0, 1, 1, 2, 2]);
    }

    #[test]
    fn tables_of_the_wrong_shape_are_refused() {
        assert_eq!(config().validate(7), Ok(()));
        let short = PatientConfig {
            site: table(3, 0, 0.0),
            ..config()
        };
        assert!(
            short
                .validate(7)
                .unwrap_err()
                .contains("site table has 3 rows instead of 14")
        );
        let nan = PatientConfig {
            weight: f32::NAN,
            ..config()
        };
        assert!(nan.validate(7).is_err());
    }
}
