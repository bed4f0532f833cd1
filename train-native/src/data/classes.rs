//! A data set's class list: the codes `--classes` names, in its order, or those its labels use
//! (HAM10000's codes in HAM10000's order, so its seven keep the shipped model's order; any
//! other set of codes sorted, so the list does not depend on the order of the rows).

use std::collections::BTreeSet;

use anyhow::{Result, bail};
use skin_lesion::model::{ClassName, validate_classes};
use skin_lesion::{CLASSES, classes::class_index};

use super::record::Record;

/// The class named `code`: HAM10000's name for its codes, else the code itself.
pub fn named(code: &str) -> ClassName {
    match class_index(code) {
        Some(i) => ClassName::new(code, CLASSES[i].name),
        None => ClassName::new(code, code),
    }
}

/// The class list for labels `found` (every distinct code the data set uses), or `wanted`
/// when given. A data set that uses a code `wanted` does not list is the caller's error to
/// report (it knows the file and row).
pub fn resolve(found: &BTreeSet<String>, wanted: Option<&[ClassName]>) -> Result<Vec<ClassName>> {
    let classes = match wanted {
        Some(list) => list.to_vec(),
        None if found.iter().all(|c| class_index(c).is_some()) => CLASSES
            .iter()
            .filter(|c| found.contains(c.code))
            .map(|c| named(c.code))
            .collect(),
        None => found.iter().map(|c| named(c)).collect(),
    };
    if let Err(e) = validate_classes(&classes) {
        bail!("the data set's classes cannot make a model: {e}");
    }
    Ok(classes)
}

/// Resolve the class list for records whose classes are `codes` (one per record, in order)
/// and set each record's label; a code outside `wanted` is `unknown(record, code, listed)`.
pub fn assign(
    records: &mut [Record],
    codes: &[String],
    wanted: Option<&[ClassName]>,
    unknown: impl Fn(&Record, &str, &str) -> anyhow::Error,
) -> Result<Vec<ClassName>> {
    let found: BTreeSet<String> = codes.iter().cloned().collect();
    let classes = resolve(&found, wanted)?;
    for (record, code) in records.iter_mut().zip(codes) {
        record.label = match index(&classes, code) {
            Some(label) => label,
            None => return Err(unknown(record, code, &listed(&classes))),
        };
    }
    Ok(classes)
}

/// The position of `code` in `classes`.
pub fn index(classes: &[ClassName], code: &str) -> Option<usize> {
    classes.iter().position(|c| c.code == code)
}

/// `codes` listed for an error message.
fn listed(classes: &[ClassName]) -> String {
    classes
        .iter()
        .map(|c| c.code.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(codes: &[&str]) -> BTreeSet<String> {
        codes.iter().map(|c| c.to_string()).collect()
    }

    fn codes(classes: &[ClassName]) -> Vec<&str> {
        classes.iter().map(|c| c.code.as_str()).collect()
    }

    #[test]
    fn ham10000_codes_keep_its_order_and_names_others_are_sorted() {
        let ham = resolve(&set(&["vasc", "nv", "akiec", "mel"]), None).unwrap();
        assert_eq!(codes(&ham), ["akiec", "mel", "nv", "vasc"]);
        assert_eq!(ham[1].name, "Melanoma");
        let other = resolve(&set(&["scc", "mel", "ak"]), None).unwrap();
        assert_eq!(codes(&other), ["ak", "mel", "scc"]);
        assert_eq!(
            (other[1].name.as_str(), other[2].name.as_str()),
            ("Melanoma", "scc")
        );
    }

    #[test]
    fn a_given_list_wins_and_one_class_is_refused() {
        let wanted = [named("nv"), named("mel")];
        let given = resolve(&set(&["mel"]), Some(&wanted)).unwrap();
        assert_eq!(codes(&given), ["nv", "mel"]);
        let err = resolve(&set(&["mel"]), None).unwrap_err().to_string();
        assert!(err.contains("2 to"), "{err}");
    }
}
