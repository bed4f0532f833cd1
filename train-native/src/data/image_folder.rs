//! A folder per class, as torchvision's `ImageFolder` reads it: `DIR/<class>/**/*.jpg` (or
//! `.jpeg`, `.png`), the folder's name being the class code. An optional `DIR/groups.csv`
//! (`image,group`) puts photos of one lesion or one patient in one group, so that the split
//! keeps them in one part; without it every photo is its own group.
//!
//! Photos that cannot be decoded are skipped and counted, not fatal (`record::readable`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use skin_lesion::Patient;
use skin_lesion::model::ClassName;

use super::classes;
use super::metadata::is_photo;
use super::record::{Layout, LayoutKind, Record, readable};
use super::table::Table;

/// The optional file of group ids.
pub const GROUPS_FILE: &str = "groups.csv";

/// A photo found in a class folder.
struct Found {
    /// Relative to the data folder, with `/` separators: the photo's id.
    id: String,
    code: String,
    path: PathBuf,
}

/// Read `dir` as a folder per class.
pub fn load(dir: &Path, wanted: Option<&[ClassName]>) -> Result<Layout> {
    let found = find_photos(dir)?;
    let groups = read_groups(dir, &found)?;
    let codes: Vec<String> = found.iter().map(|f| f.code.clone()).collect();
    let mut records: Vec<Record> = found
        .into_iter()
        .map(|f| Record {
            lesion_id: groups.get(&f.id).cloned().unwrap_or_else(|| f.id.clone()),
            image_id: f.id,
            label: 0,
            path: f.path,
            line: 0,
            patient: Patient::UNKNOWN,
        })
        .collect();
    // A class without a folder is allowed here (`evaluate` on photos of some of a model's
    // classes); training refuses a class missing from a split part.
    let classes = classes::assign(&mut records, &codes, wanted, |_, code, known| {
        anyhow::anyhow!(
            "{}: folder {code:?} is not one of the classes asked for ({known})",
            dir.display()
        )
    })?;
    Ok(Layout {
        records: readable(records, dir)?,
        classes,
        kind: LayoutKind::ImageFolder,
    })
}

/// Every photo below a class folder of `dir`, sorted by id.
fn find_photos(dir: &Path) -> Result<Vec<Found>> {
    let mut found = Vec::new();
    let mut by_stem: HashMap<String, (String, PathBuf)> = HashMap::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries.iter().filter(|e| e.path().is_dir()) {
        let code = entry.file_name().to_string_lossy().into_owned();
        let before = found.len();
        for file in walkdir::WalkDir::new(entry.path())
            .follow_links(true)
            .sort_by_file_name()
        {
            let file = file.with_context(|| format!("cannot list {}", entry.path().display()))?;
            let path = file.path();
            if !file.file_type().is_file() || !is_photo(path) {
                continue;
            }
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some((other, first)) = by_stem.get(&stem).filter(|(other, _)| *other != code) {
                bail!(
                    "photo {stem} is in two classes: {} ({other}) and {} ({code})",
                    first.display(),
                    path.display()
                );
            }
            by_stem.insert(stem, (code.clone(), path.to_path_buf()));
            let relative = path.strip_prefix(dir).unwrap_or(path);
            found.push(Found {
                id: relative.to_string_lossy().replace('\\', "/"),
                code: code.clone(),
                path: path.to_path_buf(),
            });
        }
        if found.len() == before {
            bail!(
                "class folder {} holds no .jpg, .jpeg or .png photo",
                entry.path().display()
            );
        }
    }
    if found.is_empty() {
        bail!(
            "{} holds neither {} nor class folders of photos (DIR/<class>/*.jpg)",
            dir.display(),
            super::metadata::METADATA_FILE
        );
    }
    Ok(found)
}

/// `DIR/groups.csv` as photo id → group, if the file exists. A row may name a photo by its
/// path below `dir` (`mel/ISIC_0001.jpg`) or by its file name alone.
fn read_groups(dir: &Path, found: &[Found]) -> Result<HashMap<String, String>> {
    let path = dir.join(GROUPS_FILE);
    if !path.is_file() {
        return Ok(HashMap::new());
    }
    let mut ids: HashMap<&str, &str> = HashMap::new();
    for f in found {
        ids.insert(&f.id, &f.id);
        let file = f.id.rsplit('/').next().unwrap_or(&f.id);
        ids.insert(file, &f.id);
    }
    let mut table = Table::open(&path)?;
    let (image_col, group_col) = (table.column("image")?, table.column("group")?);
    let mut groups = HashMap::new();
    for row in table.rows() {
        let row = row?;
        let image = row.field(image_col, "image")?;
        let group = row.field(group_col, "group")?;
        let Some(&id) = ids.get(image.as_str()) else {
            return Err(row.error(format!(
                "photo {image} is not in any class folder of {}",
                dir.display()
            )));
        };
        if groups.insert(id.to_string(), group).is_some() {
            return Err(row.error(format!("photo {image} is listed twice")));
        }
    }
    Ok(groups)
}
