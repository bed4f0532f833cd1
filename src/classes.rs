//! The seven HAM10000 diagnostic categories: the shipped model's classes, in the order of its
//! outputs, and the descriptions shown for their codes. A model's own class list is in its
//! `config.json` ([`crate::ModelConfig::classes`]); nothing else assumes there are seven.

/// One diagnostic category of HAM10000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Class {
    /// The `dx` code used by the HAM10000 metadata, e.g. `mel`.
    pub code: &'static str,
    /// The full name shown to people.
    pub name: &'static str,
    /// One line on what the category is.
    pub description: &'static str,
}

/// The classes in model output order (alphabetical by code, as in the original Keras project,
/// so its published confusion matrix lines up with ours).
pub const CLASSES: [Class; 7] = [
    Class {
        code: "akiec",
        name: "Actinic keratoses / intraepithelial carcinoma",
        description: "Sun-damage lesions that can progress to squamous cell carcinoma (includes Bowen's disease).",
    },
    Class {
        code: "bcc",
        name: "Basal cell carcinoma",
        description: "The most common skin cancer; grows slowly and rarely spreads.",
    },
    Class {
        code: "bkl",
        name: "Benign keratosis",
        description: "Seborrhoeic keratoses, solar lentigines and lichen-planus-like keratoses; harmless.",
    },
    Class {
        code: "df",
        name: "Dermatofibroma",
        description: "A firm, benign fibrous nodule of the skin.",
    },
    Class {
        code: "mel",
        name: "Melanoma",
        description: "A malignant tumour of pigment cells; dangerous when not removed early.",
    },
    Class {
        code: "nv",
        name: "Melanocytic nevi",
        description: "Common moles; benign proliferations of pigment cells.",
    },
    Class {
        code: "vasc",
        name: "Vascular lesions",
        description: "Angiomas, angiokeratomas, pyogenic granulomas and haemorrhage.",
    },
];

/// The index of a `dx` code in [`CLASSES`], or `None` for a code HAM10000 does not use.
pub fn class_index(code: &str) -> Option<usize> {
    CLASSES.iter().position(|c| c.code == code)
}

/// The `dx` codes in model order.
pub fn class_codes() -> Vec<&'static str> {
    CLASSES.iter().map(|c| c.code).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_sorted() {
        let codes = class_codes();
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(codes, sorted);
    }

    #[test]
    fn looks_up_codes() {
        assert_eq!(class_index("akiec"), Some(0));
        assert_eq!(class_index("vasc"), Some(6));
        assert_eq!(class_index("MEL"), None);
        assert_eq!(class_index(""), None);
    }
}
