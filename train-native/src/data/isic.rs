//! The ISIC challenges' layout: a ground-truth CSV with one column per class, where `1.0`
//! marks a photo's class (`ISIC_2019_Training_GroundTruth.csv`: `image,MEL,NV,BCC,AK,BKL,DF,
//! VASC,SCC,UNK`), the photos (`<image>.jpg`) anywhere below the same folder, and optionally a
//! metadata CSV (`*Metadata*.csv`) whose `lesion_id` keeps the photos of one lesion in one
//! split part and whose `age_approx` and `sex` are the patient data.
//!
//! Class codes are the column names in lower case (`mel`, `nv`, `bcc`, `ak`, ...), so the
//! codes HAM10000 shares get its names. A column that marks no photo (ISIC 2019's `UNK`) is
//! not a class. Photos that cannot be decoded are skipped and counted (`record::readable`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use skin_lesion::Patient;
use skin_lesion::model::ClassName;

use super::classes;
use super::metadata::index_images;
use super::record::{Layout, LayoutKind, Record, readable};
use super::table::Table;

/// The ground-truth CSV in `dir` (a `.csv` whose name holds `GroundTruth`, any case), if any;
/// two of them are an error, since which one is meant is unclear.
pub fn ground_truth_file(dir: &Path) -> Result<Option<PathBuf>> {
    let mut found = csv_files(dir, "groundtruth")?;
    match found.len() {
        0 | 1 => Ok(found.pop()),
        _ => bail!(
            "{} holds several ground-truth CSVs ({}): keep one",
            dir.display(),
            names(&found)
        ),
    }
}

/// `.csv` files directly in `dir` whose lower-case name contains `part`, sorted.
fn csv_files(dir: &Path, part: &str) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase());
        if name.is_some_and(|n| n.ends_with(".csv") && n.contains(part)) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn names(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the optional metadata CSV says about one photo.
#[derive(Default, Clone)]
struct Extra {
    lesion: Option<String>,
    patient: Option<Patient>,
}

/// Read the ISIC layout of `dir` with ground truth `truth`.
pub fn load(dir: &Path, truth: &Path, wanted: Option<&[ClassName]>) -> Result<Layout> {
    let images = index_images(dir)?;
    let extra = read_metadata(dir)?;
    let mut table = Table::open(truth)?;
    let image_col = table.column("image")?;
    let class_cols: Vec<(usize, String)> = table
        .headers()
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != image_col)
        .map(|(i, h)| (i, h.to_ascii_lowercase()))
        .collect();
    if class_cols.len() < 2 {
        bail!("{}: line 1: fewer than two class columns", table.name);
    }
    let (mut records, mut codes, mut seen) = (Vec::new(), Vec::new(), HashMap::new());
    for row in table.rows() {
        let row = row?;
        let image = row.field(image_col, "image")?;
        let marked: Vec<&str> = class_cols
            .iter()
            .filter(|(i, _)| marks(row.get(*i)))
            .map(|(_, code)| code.as_str())
            .collect();
        let [code] = marked[..] else {
            return Err(row.error(format!(
                "{image} is marked as {} classes ({}): exactly one column must hold 1.0",
                marked.len(),
                marked.join(", ")
            )));
        };
        if let Some(first) = seen.insert(image.clone(), row.line) {
            return Err(row.error(format!(
                "image {image} is listed twice (first on line {first})"
            )));
        }
        let Some(path) = images.get(&image) else {
            return Err(row.error(format!(
                "image {image}.jpg was not found below {}",
                dir.display()
            )));
        };
        let more = extra.get(&image).cloned().unwrap_or_default();
        codes.push(code.to_string());
        records.push(Record {
            lesion_id: more.lesion.unwrap_or_else(|| image.clone()),
            image_id: image,
            label: 0,
            path: path.clone(),
            line: row.line,
            patient: more.patient.unwrap_or(Patient::UNKNOWN),
        });
    }
    if records.is_empty() {
        bail!("{} has no data rows", table.name);
    }
    let name = table.name.clone();
    let classes = classes::assign(&mut records, &codes, wanted, |record, code, known| {
        anyhow::anyhow!(
            "{name}: line {}: {} is of class `{code}`, not one of {known}",
            record.line,
            record.image_id
        )
    })?;
    Ok(Layout {
        records: readable(records, dir)?,
        classes,
        kind: LayoutKind::Isic,
    })
}

/// Whether a ground-truth cell marks the class: `1`, `1.0` (ISIC writes floats).
fn marks(cell: &str) -> bool {
    cell.parse::<f64>().is_ok_and(|v| v >= 0.5)
}

/// The optional `*Metadata*.csv` beside the ground truth: photo → lesion and patient data.
fn read_metadata(dir: &Path) -> Result<HashMap<String, Extra>> {
    let found = csv_files(dir, "metadata")?;
    let path = match &found[..] {
        [] => return Ok(HashMap::new()),
        [one] => one,
        _ => bail!(
            "{} holds several metadata CSVs ({}): keep one",
            dir.display(),
            names(&found)
        ),
    };
    let mut table = Table::open(path)?;
    let image_col = table.column("image")?;
    let lesion_col = table.optional("lesion_id");
    let (age_col, sex_col) = (table.optional("age_approx"), table.optional("sex"));
    let mut extra = HashMap::new();
    for row in table.rows() {
        let row = row?;
        let image = row.field(image_col, "image")?;
        let lesion = lesion_col.map(|c| row.get(c)).filter(|l| !l.is_empty());
        let [age, sex] = [age_col, sex_col].map(|c| c.map_or("", |c| row.get(c)));
        let more = Extra {
            lesion: lesion.map(str::to_owned),
            patient: Some(Patient::from_row(age, sex, "")),
        };
        if extra.insert(image.clone(), more).is_some() {
            return Err(row.error(format!("image {image} is listed twice")));
        }
    }
    Ok(extra)
}
