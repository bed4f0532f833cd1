use std::path::Path;

mod common;

use common::Fixture;
use skin_lesion::training::SplitConfig;
use train_native::data::cache::ImageCache;
use train_native::data::classes::named;
use train_native::data::metadata::METADATA_FILE;
use train_native::data::{Dataset, Split};

#[test]
fn loads_the_official_layout_with_part_folders() {
    let fx = Fixture::new(&[
        ("HAM_1", "ISIC_1", "mel"),
        ("HAM_1", "ISIC_2", "mel"),
        ("HAM_2", "ISIC_3", "nv"),
    ]);
    let ds = Dataset::load(fx.dir(), None).unwrap();
    assert_eq!(ds.records.len(), 3);
    // The classes its rows use, in HAM10000's order.
    assert_eq!(ds.codes(), ["mel", "nv"]);
    assert_eq!(ds.classes[0].name, "Melanoma");
    assert_eq!(ds.records[0].label, 0);
    assert_eq!(ds.records[2].label, 1);
    assert_eq!(ds.records[1].line, 3);
    let patient = ds.records[0].patient;
    assert_eq!(patient.age, Some(50.0));
    assert_eq!(patient.sex, Some(skin_lesion::patient::Sex::Male));
    assert_eq!(patient.site, Some(skin_lesion::patient::Site::Back));
    // The fixture spreads images over HAM10000_images_part_1/ and _part_2/.
    assert!(
        ds.records
            .iter()
            .any(|r| r.path.to_string_lossy().contains("part_2"))
    );
}

#[test]
fn any_dx_makes_a_class_and_one_outside_the_given_list_is_named_with_file_and_line() {
    let fx = Fixture::new(&[("HAM_1", "ISIC_1", "mel"), ("HAM_2", "ISIC_2", "melanoma")]);
    let ds = Dataset::load(fx.dir(), None).unwrap();
    assert_eq!(ds.codes(), ["mel", "melanoma"]);
    let wanted = [named("mel"), named("nv")];
    let err = format!("{:#}", Dataset::load(fx.dir(), Some(&wanted)).unwrap_err());
    assert!(err.contains("HAM10000_metadata.csv: line 3"), "{err}");
    assert!(
        err.contains("unknown dx `melanoma`") && err.contains("mel, nv"),
        "{err}"
    );
}

#[test]
fn reports_a_missing_image() {
    let fx = Fixture::new(&[("HAM_1", "ISIC_1", "mel"), ("HAM_2", "ISIC_2", "nv")]);
    std::fs::remove_file(fx.image_path("ISIC_2")).unwrap();
    let err = format!("{:#}", Dataset::load(fx.dir(), None).unwrap_err());
    assert!(
        err.contains("line 3") && err.contains("ISIC_2.jpg was not found"),
        "{err}"
    );
}

#[test]
fn patient_columns_are_optional_and_unknown_values_are_unknown() {
    let fx = Fixture::new(&[("HAM_1", "ISIC_1", "mel"), ("HAM_2", "ISIC_2", "nv")]);
    std::fs::write(
        fx.dir().join(METADATA_FILE),
        "lesion_id,image_id,dx,age,sex,localization\n\
         HAM_1,ISIC_1,mel,,unknown,elbow\nHAM_2,ISIC_2,nv,35,female,lower extremity\n",
    )
    .unwrap();
    let ds = Dataset::load(fx.dir(), None).unwrap();
    assert!(ds.records[0].patient.is_unknown());
    assert_eq!(ds.records[1].patient.given(), "age, sex, body site");
    std::fs::write(
        fx.dir().join(METADATA_FILE),
        "lesion_id,image_id,dx\nHAM_1,ISIC_1,mel\nHAM_2,ISIC_2,nv\n",
    )
    .unwrap();
    let ds = Dataset::load(fx.dir(), None).unwrap();
    assert!(ds.records[0].patient.is_unknown());
}

#[test]
fn reports_a_missing_column_and_a_malformed_row() {
    let fx = Fixture::new(&[("HAM_1", "ISIC_1", "mel")]);
    std::fs::write(
        fx.dir().join(METADATA_FILE),
        "lesion_id,image_id,diagnosis\nHAM_1,ISIC_1,mel\n",
    )
    .unwrap();
    let err = format!("{:#}", Dataset::load(fx.dir(), None).unwrap_err());
    assert!(err.contains("missing column `dx`"), "{err}");

    std::fs::write(
        fx.dir().join(METADATA_FILE),
        "lesion_id,image_id,dx,dx_type\nHAM_1,ISIC_1,mel,histo\nHAM_2,ISIC_2\n",
    )
    .unwrap();
    let err = format!("{:#}", Dataset::load(fx.dir(), None).unwrap_err());
    assert!(
        err.contains("malformed CSV") && err.contains("line 3"),
        "{err}"
    );

    std::fs::write(
        fx.dir().join(METADATA_FILE),
        "lesion_id,image_id,dx\nHAM_1,,mel\n",
    )
    .unwrap();
    let err = format!("{:#}", Dataset::load(fx.dir(), None).unwrap_err());
    assert!(err.contains("line 2: empty `image_id`"), "{err}");
}

#[test]
fn a_missing_folder_says_what_to_download() {
    let err = format!(
        "{:#}",
        Dataset::load(Path::new("/nonexistent/ham10000"), None).unwrap_err()
    );
    assert!(
        err.contains("Harvard Dataverse") && err.contains("--data"),
        "{err}"
    );
    let fx = Fixture::new(&[("HAM_1", "ISIC_1", "mel")]);
    std::fs::remove_file(fx.dir().join(METADATA_FILE)).unwrap();
    let err = format!("{:#}", Dataset::load(fx.dir(), None).unwrap_err());
    assert!(err.contains("HAM10000_metadata.csv is missing"), "{err}");
}

#[test]
fn an_undecodable_jpeg_is_named() {
    let fx = Fixture::new(&[("HAM_1", "ISIC_1", "mel"), ("HAM_2", "ISIC_2", "nv")]);
    std::fs::write(fx.image_path("ISIC_2"), b"\xFF\xD8\xFF\xE0 truncated").unwrap();
    let ds = Dataset::load(fx.dir(), None).unwrap();
    let err = format!(
        "{:#}",
        ImageCache::load_or_build(&ds.records, 16, None)
            .err()
            .unwrap()
    );
    assert!(
        err.contains("ISIC_2") && err.contains("cannot decode"),
        "{err}"
    );
}

/// Lesions kept whole, every class in every part at about its share, the seed respected.
fn check_split(ds: &Dataset) {
    let config = SplitConfig::new();
    let split = Split::new(&ds.records, &config).unwrap();
    assert_ne!(
        split,
        Split::new(&ds.records, &config.clone().with_seed(7)).unwrap()
    );
    let mut part_of = std::collections::HashMap::new();
    for (name, part) in [
        ("train", &split.train),
        ("val", &split.val),
        ("test", &split.test),
    ] {
        for &i in part.iter() {
            if let Some(other) = part_of.insert(ds.records[i].lesion_id.clone(), name) {
                assert_eq!(
                    other, name,
                    "lesion {} is in {other} and {name}",
                    ds.records[i].lesion_id
                );
            }
        }
    }
    assert_eq!(
        split.train.len() + split.val.len() + split.test.len(),
        ds.records.len()
    );
    let total = ds.class_counts(0..ds.records.len());
    for part in [&split.val, &split.test] {
        let counts = ds.class_counts(part.iter().copied());
        for (c, (&n, &all)) in counts.iter().zip(&total).enumerate() {
            if all == 0 {
                continue;
            }
            let share = n as f64 / all as f64;
            assert!((0.07..0.25).contains(&share), "class {c}: {n} of {all}");
        }
    }
}

#[test]
fn the_split_keeps_lesions_whole_and_stratifies() {
    let rows: Vec<(String, String, &str)> = (0..300)
        .map(|i| {
            (
                format!("HAM_{}", i / 3),
                format!("ISIC_{i}"),
                ["nv", "mel", "bkl", "df"][i % 4],
            )
        })
        .collect();
    let rows: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), *c))
        .collect();
    let fx = Fixture::new(&rows);
    check_split(&Dataset::load(fx.dir(), None).unwrap());
}

#[test]
#[ignore = "needs HAM10000 in ../shared/ham10000"]
fn the_split_of_the_real_data_keeps_lesions_whole_and_stratifies() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/ham10000");
    check_split(&Dataset::load(&dir, None).unwrap());
}
