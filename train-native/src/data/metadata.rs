//! The official HAM10000 layout: `HAM10000_metadata.csv` plus `<image_id>.jpg` files anywhere
//! below the same folder (the official download splits them across two part folders). Any
//! `dx` value is a class.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use skin_lesion::Patient;
use skin_lesion::model::ClassName;

use super::classes;
use super::record::{Layout, LayoutKind, Record};
use super::table::Table;

/// The metadata file name of the official release.
pub const METADATA_FILE: &str = "HAM10000_metadata.csv";

/// What to tell someone whose data folder is missing.
pub fn download_hint(dir: &Path) -> String {
    format!(
        "HAM10000 was not found at {}.\n\
         Download it from the Harvard Dataverse (doi:10.7910/DVN/DBW86T): HAM10000_metadata.csv \
         and the two image archives HAM10000_images_part_1.zip and HAM10000_images_part_2.zip.\n\
         Unzip them into that folder (the images may stay in their part folders), \
         or pass --data DIR, or set HAM10000_DIR.",
        dir.display()
    )
}

/// Read `dir/HAM10000_metadata.csv` and locate every image below `dir`.
pub fn load(dir: &Path, wanted: Option<&[ClassName]>) -> Result<Layout> {
    let csv_path = dir.join(METADATA_FILE);
    let images = index_images(dir)?;
    let file = std::fs::File::open(&csv_path)
        .with_context(|| format!("cannot open {}", csv_path.display()))?;
    let (records, classes) = parse_metadata(file, &csv_path, &images, wanted)?;
    if records.is_empty() {
        bail!("{} has no data rows", csv_path.display());
    }
    Ok(Layout {
        records,
        classes,
        kind: LayoutKind::Ham10000,
    })
}

/// Whether `dir` holds HAM10000's image part folders (whose metadata file is then missing,
/// rather than the folders being classes).
pub fn looks_like_ham10000(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("HAM10000_images")
        })
    })
}

/// Whether `path` names a photo the layouts read: `.jpg`, `.jpeg` or `.png`, any case.
pub fn is_photo(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png"))
}

/// `image_id` → file, for every `.jpg`/`.jpeg`/`.png` below `dir`.
pub fn index_images(dir: &Path) -> Result<HashMap<String, PathBuf>> {
    let mut images = HashMap::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true) {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        if !is_photo(path) || !entry.file_type().is_file() {
            continue;
        }
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            // Masks are named `<image_id>_segmentation.png` and never shadow a photo.
            images
                .entry(stem.to_string())
                .or_insert_with(|| path.to_path_buf());
        }
    }
    Ok(images)
}

/// Parse the metadata CSV, naming the file and line of anything wrong; the records and the
/// class list (`wanted`, or the one the `dx` values make).
pub fn parse_metadata(
    reader: impl std::io::Read + 'static,
    csv_path: &Path,
    images: &HashMap<String, PathBuf>,
    wanted: Option<&[ClassName]>,
) -> Result<(Vec<Record>, Vec<ClassName>)> {
    let mut table = Table::new(reader, csv_path.display().to_string())?;
    let (lesion_col, image_col, dx_col) = (
        table.column("lesion_id")?,
        table.column("image_id")?,
        table.column("dx")?,
    );
    let patient_cols = ["age", "sex", "localization"].map(|c| table.optional(c));
    let mut records = Vec::new();
    let mut codes = Vec::new();
    let mut seen = HashMap::new();
    for row in table.rows() {
        let row = row?;
        let lesion_id = row.field(lesion_col, "lesion_id")?;
        let image_id = row.field(image_col, "image_id")?;
        let dx = row.field(dx_col, "dx")?;
        if let Some(first) = seen.insert(image_id.clone(), row.line) {
            return Err(row.error(format!(
                "image {image_id} is listed twice (first on line {first})"
            )));
        }
        let Some(path) = images.get(&image_id) else {
            return Err(row.error(format!(
                "image {image_id}.jpg was not found below {}",
                csv_path.parent().unwrap_or(Path::new(".")).display()
            )));
        };
        let [age, sex, site] = patient_cols.map(|c| c.map_or("", |c| row.get(c)));
        codes.push(dx);
        records.push(Record {
            lesion_id,
            image_id,
            label: 0,
            path: path.clone(),
            line: row.line,
            patient: Patient::from_row(age, sex, site),
        });
    }
    let name = csv_path.display();
    let classes = classes::assign(&mut records, &codes, wanted, |record, dx, known| {
        anyhow::anyhow!(
            "{name}: line {}: unknown dx `{dx}` for {} (expected one of {known})",
            record.line,
            record.image_id
        )
    })
    .with_context(|| name.to_string())?;
    Ok((records, classes))
}
