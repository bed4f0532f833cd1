//! The ISIC ground-truth layout (one column per class, `1.0` marks the class) with its optional
//! metadata CSV, and the mistakes its rows can hold.

mod common;

use std::path::Path;

use common::tree;
use train_native::data::Dataset;
use train_native::data::classes::named;

const HEADER: &str = "image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK";

/// A ground-truth row marking `class` (a column of [`HEADER`]).
fn row(image: &str, class: &str) -> String {
    let cells: Vec<&str> = HEADER
        .split(',')
        .skip(1)
        .map(|c| if c == class { "1.0" } else { "0.0" })
        .collect();
    format!("{image},{}\n", cells.join(","))
}

/// Photos `ISIC_<n>.jpg` in an input folder, with the ground truth `rows`.
fn layout(photos: usize, rows: &str) -> tempfile::TempDir {
    let names: Vec<String> = (0..photos).map(|n| format!("ISIC_{n}")).collect();
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .map(|n| ("ISIC_2019_Training_Input", n.as_str()))
        .collect();
    let dir = tree(&pairs);
    std::fs::write(
        dir.path().join("ISIC_2019_Training_GroundTruth.csv"),
        format!("{HEADER}\n{rows}"),
    )
    .unwrap();
    dir
}

fn refused(dir: &Path) -> String {
    format!("{:#}", Dataset::load(dir, None).unwrap_err())
}

#[test]
fn the_marked_column_is_the_class_and_the_metadata_groups_lesions() {
    let rows = [
        row("ISIC_0", "MEL"),
        row("ISIC_1", "SCC"),
        row("ISIC_2", "NV"),
        row("ISIC_3", "SCC"),
    ]
    .concat();
    let dir = layout(4, &rows);
    std::fs::write(
        dir.path().join("ISIC_2019_Training_Metadata.csv"),
        "image,age_approx,anatom_site_general,lesion_id,sex\n\
         ISIC_1,55.0,anterior torso,L7,female\nISIC_3,60.0,,L7,female\nISIC_0,,,,\n",
    )
    .unwrap();
    let ds = Dataset::load(dir.path(), None).unwrap();
    // `unk` and the other columns without a photo are no classes; codes sorted (not all HAM10000's).
    assert_eq!(ds.codes(), ["mel", "nv", "scc"]);
    assert_eq!(ds.classes[0].name, "Melanoma");
    let by_id = |id: &str| ds.records.iter().find(|r| r.image_id == id).unwrap();
    assert_eq!(by_id("ISIC_1").label, 2);
    assert_eq!(
        (
            by_id("ISIC_1").lesion_id.as_str(),
            by_id("ISIC_3").lesion_id.as_str()
        ),
        ("L7", "L7")
    );
    assert_eq!(
        by_id("ISIC_0").lesion_id,
        "ISIC_0",
        "no lesion id: a group of its own"
    );
    assert_eq!(by_id("ISIC_1").patient.age, Some(55.0));
    assert!(by_id("ISIC_2").patient.is_unknown());
    // `--classes` orders them (a class without photos is for training's split check to refuse).
    let wanted = [named("scc"), named("mel"), named("nv")];
    assert_eq!(
        Dataset::load(dir.path(), Some(&wanted)).unwrap().codes(),
        ["scc", "mel", "nv"]
    );
}

#[test]
fn an_unreadable_photo_is_skipped() {
    let dir = layout(
        3,
        &[
            row("ISIC_0", "NV"),
            row("ISIC_1", "MEL"),
            row("ISIC_2", "MEL"),
        ]
        .concat(),
    );
    std::fs::write(
        dir.path().join("ISIC_2019_Training_Input/ISIC_2.jpg"),
        b"not a photo",
    )
    .unwrap();
    let ds = Dataset::load(dir.path(), None).unwrap();
    assert_eq!(ds.records.len(), 2);
}

#[test]
fn rows_that_mark_no_class_or_two_or_repeat_a_photo_are_named() {
    let two = row("ISIC_1", "MEL").replacen("0.0", "1.0", 1);
    let err = refused(layout(2, &[row("ISIC_0", "NV"), two].concat()).path());
    assert!(
        err.contains("GroundTruth.csv: line 3") && err.contains("marked as 2 classes (mel, nv)"),
        "{err}"
    );
    let none = row("ISIC_1", "nothing");
    let err = refused(layout(2, &[row("ISIC_0", "NV"), none].concat()).path());
    assert!(
        err.contains("line 3") && err.contains("marked as 0 classes"),
        "{err}"
    );
    let err = refused(
        layout(
            2,
            &[
                row("ISIC_0", "NV"),
                row("ISIC_1", "MEL"),
                row("ISIC_0", "MEL"),
            ]
            .concat(),
        )
        .path(),
    );
    assert!(
        err.contains("line 4") && err.contains("ISIC_0 is listed twice"),
        "{err}"
    );
    let err = refused(layout(1, &[row("ISIC_0", "NV"), row("ISIC_5", "MEL")].concat()).path());
    assert!(
        err.contains("line 3") && err.contains("ISIC_5.jpg was not found"),
        "{err}"
    );
    let wanted = [named("nv"), named("bcc")];
    let dir = layout(2, &[row("ISIC_0", "NV"), row("ISIC_1", "MEL")].concat());
    let err = format!(
        "{:#}",
        Dataset::load(dir.path(), Some(&wanted)).unwrap_err()
    );
    assert!(
        err.contains("line 3: ISIC_1 is of class `mel`, not one of nv, bcc"),
        "{err}"
    );
}
