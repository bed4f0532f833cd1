//! The official HAM10000 layout: `HAM10000_metadata.csv` plus `<image_id>.jpg` files anywhere
//! below the same folder (the official download splits them across two part folders).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use skin_lesion::Patient;
use skin_lesion::classes::{CLASSES, class_index};

/// The metadata file name of the official release.
pub const METADATA_FILE: &str = "HAM10000_metadata.csv";

/// One image of the data set.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub lesion_id: String,
    pub image_id: String,
    /// Index into [`CLASSES`].
    pub label: usize,
    /// The image file.
    pub path: PathBuf,
    /// 1-based line of the metadata CSV the record came from.
    pub line: u64,
    /// Age, sex and body site where the CSV has them (`age`, `sex`, `localization`);
    /// missing columns and values it does not know are unknown.
    pub patient: Patient,
}

/// The data set: every metadata row, each with its image file found.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub root: PathBuf,
    pub records: Vec<Record>,
}

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

impl Dataset {
    /// Read `dir/HAM10000_metadata.csv` and locate every image below `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            bail!(download_hint(dir));
        }
        let csv_path = dir.join(METADATA_FILE);
        if !csv_path.is_file() {
            bail!("{} is missing.\n{}", csv_path.display(), download_hint(dir));
        }
        let images = index_images(dir)?;
        let file = std::fs::File::open(&csv_path)
            .with_context(|| format!("cannot open {}", csv_path.display()))?;
        let records = parse_metadata(file, &csv_path, &images)?;
        if records.is_empty() {
            bail!("{} has no data rows", csv_path.display());
        }
        Ok(Self {
            root: dir.to_path_buf(),
            records,
        })
    }

    /// The first `limit` records only, when a limit is given (quick experiments).
    pub fn limited(mut self, limit: Option<usize>) -> Self {
        if let Some(n) = limit {
            self.records.truncate(n);
        }
        self
    }

    /// Distinct lesions.
    pub fn lesion_count(&self) -> usize {
        self.records
            .iter()
            .map(|r| &r.lesion_id)
            .collect::<std::collections::HashSet<_>>()
            .len()
    }

    /// A digest of what a model trained on this data set learns from: every record's lesion,
    /// image, class and file size, in order. A checkpoint keeps it, so that `--resume` on
    /// changed data is refused rather than silently mixing two data sets.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for r in &self.records {
            let size = std::fs::metadata(&r.path).map_or(0, |m| m.len());
            hash.update(
                format!("{}\t{}\t{}\t{size}\n", r.lesion_id, r.image_id, r.label).as_bytes(),
            );
        }
        format!("{:x}", hash.finalize())
    }

    /// The class of each of `indices`.
    pub fn labels(&self, indices: &[usize]) -> Vec<usize> {
        indices.iter().map(|&i| self.records[i].label).collect()
    }

    /// The patient data of each of `indices`.
    pub fn patients(&self, indices: &[usize]) -> Vec<Patient> {
        indices.iter().map(|&i| self.records[i].patient).collect()
    }

    /// Images per class, in model order.
    pub fn class_counts(&self, indices: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let mut counts = vec![0; CLASSES.len()];
        for i in indices {
            counts[self.records[i].label] += 1;
        }
        counts
    }
}

/// `image_id` → file, for every `.jpg`/`.jpeg`/`.png` below `dir`.
fn index_images(dir: &Path) -> Result<HashMap<String, PathBuf>> {
    let mut images = HashMap::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true) {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if !matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png")) || !entry.file_type().is_file() {
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

/// Parse the metadata CSV, naming the file and line of anything wrong.
pub fn parse_metadata(
    reader: impl std::io::Read,
    csv_path: &Path,
    images: &HashMap<String, PathBuf>,
) -> Result<Vec<Record>> {
    let name = csv_path.display();
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = csv
        .headers()
        .with_context(|| format!("{name}: cannot read the header line"))?
        .clone();
    let column = |wanted: &str| {
        headers.iter().position(|h| h == wanted).with_context(|| {
            format!(
                "{name}: line 1: missing column `{wanted}` (the header has: {})",
                headers.iter().collect::<Vec<_>>().join(",")
            )
        })
    };
    let (lesion_col, image_col, dx_col) =
        (column("lesion_id")?, column("image_id")?, column("dx")?);
    let optional = |wanted: &str| headers.iter().position(|h| h == wanted);
    let patient_cols = [optional("age"), optional("sex"), optional("localization")];

    let mut records = Vec::new();
    let mut seen = HashMap::new();
    for row in csv.records() {
        let row = row.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            anyhow::anyhow!("{name}: line {line}: malformed CSV ({e})")
        })?;
        let line = row.position().map(|p| p.line()).unwrap_or(0);
        let field = |col: usize, what: &str| -> Result<String> {
            match row.get(col) {
                Some(v) if !v.is_empty() => Ok(v.to_string()),
                _ => bail!("{name}: line {line}: empty `{what}`"),
            }
        };
        let lesion_id = field(lesion_col, "lesion_id")?;
        let image_id = field(image_col, "image_id")?;
        let dx = field(dx_col, "dx")?;
        let Some(label) = class_index(&dx) else {
            let known: Vec<_> = CLASSES.iter().map(|c| c.code).collect();
            bail!(
                "{name}: line {line}: unknown dx `{dx}` for {image_id} (expected one of {})",
                known.join(", ")
            );
        };
        if let Some(first) = seen.insert(image_id.clone(), line) {
            bail!("{name}: line {line}: image {image_id} is listed twice (first on line {first})");
        }
        let Some(path) = images.get(&image_id) else {
            bail!(
                "{name}: line {line}: image {image_id}.jpg was not found below {}",
                csv_path.parent().unwrap_or(Path::new(".")).display()
            );
        };
        let [age, sex, site] = patient_cols.map(|c| c.and_then(|c| row.get(c)).unwrap_or(""));
        records.push(Record {
            lesion_id,
            image_id,
            label,
            path: path.clone(),
            line,
            patient: Patient::from_row(age, sex, site),
        });
    }
    Ok(records)
}
