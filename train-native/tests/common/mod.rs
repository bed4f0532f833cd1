#![allow(dead_code)]
//! A tiny HAM10000-layout folder for tests: metadata CSV plus small JPEGs spread over the two
//! part folders of the official download, and their lesion masks. Each class gets its own
//! colour so a model can learn it.

use std::path::{Path, PathBuf};

pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// Rows of `(lesion_id, image_id, dx)`.
    pub fn new(rows: &[(&str, &str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from("lesion_id,image_id,dx,dx_type,age,sex,localization\n");
        for (k, (lesion, image, dx)) in rows.iter().enumerate() {
            csv.push_str(&format!("{lesion},{image},{dx},histo,50.0,male,back\n"));
            let part = dir.path().join(if k % 2 == 0 {
                "HAM10000_images_part_1"
            } else {
                "HAM10000_images_part_2"
            });
            std::fs::create_dir_all(&part).unwrap();
            let class = skin_lesion::classes::class_index(dx).unwrap_or(0) as u32;
            let img = image::RgbImage::from_fn(40, 30, |x, y| {
                let noise = ((x * 31 + y * 17 + k as u32 * 13) % 23) as u8;
                image::Rgb([
                    (class * 35) as u8 + noise,
                    (200 - class * 25) as u8,
                    ((x + y) * 3) as u8,
                ])
            });
            img.save(part.join(format!("{image}.jpg"))).unwrap();
            // Its lesion mask, as HAM10000's: a blob left of the centre.
            let masks = dir.path().join("masks_200x150");
            std::fs::create_dir_all(&masks).unwrap();
            image::GrayImage::from_fn(40, 30, |x, y| {
                let inside = (x as i32 - 16).pow(2) + (y as i32 - 15).pow(2) < 64;
                image::Luma([if inside { 255 } else { 0 }])
            })
            .save(masks.join(format!("{image}_segmentation.png")))
            .unwrap();
        }
        std::fs::write(dir.path().join("HAM10000_metadata.csv"), csv).unwrap();
        Self { dir }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn image_path(&self, image_id: &str) -> PathBuf {
        for part in ["HAM10000_images_part_1", "HAM10000_images_part_2"] {
            let p = self.dir().join(part).join(format!("{image_id}.jpg"));
            if p.exists() {
                return p;
            }
        }
        panic!("{image_id} is not in the fixture")
    }
}

/// A folder per class: `DIR/<class>/<name>.jpg` for each `(class, name)`, each class in a
/// colour of its own (so that a model can learn it).
pub fn tree(photos: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (k, (class, name)) in photos.iter().enumerate() {
        let folder = dir.path().join(class);
        std::fs::create_dir_all(&folder).unwrap();
        let shade = class.bytes().map(u32::from).sum::<u32>() * 37 % 200;
        let img = image::RgbImage::from_fn(40, 30, |x, y| {
            let noise = ((x * 31 + y * 17 + k as u32 * 13) % 23) as u8;
            image::Rgb([
                shade as u8 + noise,
                (200 - shade) as u8,
                ((x + y) * 3) as u8,
            ])
        });
        img.save(folder.join(format!("{name}.jpg"))).unwrap();
    }
    dir
}

/// The train-native binary.
pub fn cli() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("train-native").unwrap()
}

/// Run `command`, which must fail, and return what it printed on stderr.
pub fn refused(command: &mut assert_cmd::Command) -> String {
    let out = command.assert().failure().get_output().stderr.clone();
    String::from_utf8_lossy(&out).into_owned()
}

/// A JSON file.
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The test-split metrics that `evaluate --out` and `report.json` share, key for key.
pub const METRIC_KEYS: [&str; 7] = [
    "confusion_matrix",
    "per_class",
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "weighted_f1",
    "macro_auc",
];
