//! The CSV files of a data set's layouts, read with errors that name the file and the line:
//! a missing column, a malformed row, an empty field.

use anyhow::{Context, Result, bail};
use csv::StringRecord;

/// A CSV file with a header line.
pub struct Table {
    /// The file, as errors name it.
    pub name: String,
    headers: StringRecord,
    reader: csv::Reader<Box<dyn std::io::Read>>,
}

/// One data row and its 1-based line in the file.
pub struct Row {
    pub line: u64,
    record: StringRecord,
    name: String,
}

impl Table {
    /// Read the header line of `reader`, which errors call `name`.
    pub fn new(reader: impl std::io::Read + 'static, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(Box::new(reader) as Box<dyn std::io::Read>);
        let headers = reader
            .headers()
            .with_context(|| format!("{name}: cannot read the header line"))?
            .clone();
        Ok(Self {
            name,
            headers,
            reader,
        })
    }

    /// Open the file at `path`.
    pub fn open(path: &std::path::Path) -> Result<Self> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Self::new(file, path.display().to_string())
    }

    pub fn headers(&self) -> &StringRecord {
        &self.headers
    }

    /// The position of column `wanted`, or an error that lists the header.
    pub fn column(&self, wanted: &str) -> Result<usize> {
        self.optional(wanted).with_context(|| {
            format!(
                "{}: line 1: missing column `{wanted}` (the header has: {})",
                self.name,
                self.headers.iter().collect::<Vec<_>>().join(",")
            )
        })
    }

    /// The position of column `wanted`, if the file has it.
    pub fn optional(&self, wanted: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == wanted)
    }

    /// Every data row in order; a malformed one is an error naming its line.
    pub fn rows(&mut self) -> impl Iterator<Item = Result<Row>> + '_ {
        let name = self.name.clone();
        self.reader.records().map(move |row| {
            let record = row.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                anyhow::anyhow!("{name}: line {line}: malformed CSV ({e})")
            })?;
            Ok(Row {
                line: record.position().map_or(0, |p| p.line()),
                record,
                name: name.clone(),
            })
        })
    }
}

impl Row {
    /// Field `col`, which must not be empty (`what` names it in the error).
    pub fn field(&self, col: usize, what: &str) -> Result<String> {
        match self.record.get(col) {
            Some(v) if !v.is_empty() => Ok(v.to_string()),
            _ => bail!("{}: line {}: empty `{what}`", self.name, self.line),
        }
    }

    /// Field `col`, empty when the row lacks it.
    pub fn get(&self, col: usize) -> &str {
        self.record.get(col).unwrap_or("")
    }

    /// An error about this row.
    pub fn error(&self, message: impl std::fmt::Display) -> anyhow::Error {
        anyhow::anyhow!("{}: line {}: {message}", self.name, self.line)
    }
}
