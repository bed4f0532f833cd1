//! A mutation fuzzer on the stable toolchain over everything that reads untrusted bytes:
//! decoding and preprocessing a photo and running the network on it (the path of `predict` and
//! of the browser), and loading a model folder (`config.json` + `model.bpk`).
//!
//! It starts from seeds (real HAM10000 photos, the test fixtures, the shipped model), mutates
//! them (bit flips, interesting bytes, inserted, deleted and repeated ranges, truncation,
//! splices, and for JSON extreme numbers and missing fields), and checks every input against
//! three rules: nothing panics (not even a decoder panic that `decode` would turn into an
//! error), the memory allocated while handling one input stays under a bound, and every answer
//! is finite. An input that breaks a rule is saved in `train-native/tests/fuzz-regressions/`,
//! which `cargo test` replays (`tests/fuzz_regressions.rs`).
//!
//! `bash train-native/fuzz.sh [MINUTES]` (not in CI: it runs for minutes by design).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use burn::prelude::*;
use skin_lesion::weights::{self, CONFIG_FILE, WEIGHTS_FILE};
use skin_lesion::{Classifier, Photo};

/// The most one input may allocate beyond what was allocated before it: the decoder's limits
/// allow a 60-megapixel 16-bit RGBA image (480 MB) and its 8-bit RGB copy.
const MEMORY_BOUND: usize = 1 << 30;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static PANICKED: AtomicBool = AtomicBool::new(false);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `input` (other seeds are there for splices).
fn mutate(input: &[u8], seeds: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        if out.is_empty() {
            out.push(rng.next() as u8);
        }
        let at = rng.below(out.len());
        match rng.below(9) {
            0 => out[at] ^= 1 << rng.below(8),
            1 => out[at] = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE][rng.below(6)],
            2 => {
                let n = 1 + rng.below(64);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                out.splice(at..at, bytes);
            }
            3 => {
                let end = (at + 1 + rng.below(256)).min(out.len());
                out.drain(at..end);
            }
            4 => {
                let end = (at + 1 + rng.below(512)).min(out.len());
                let copy = out[at..end].to_vec();
                out.splice(at..at, copy);
            }
            5 => out.truncate(at),
            6 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
            // A JPEG or PNG header field: a 16-bit value right after a marker or chunk name.
            7 => {
                if at + 2 < out.len() {
                    let value = [0u16, 1, 0x7FFF, 0xFFFF, 12_001, 65_500][rng.below(6)];
                    out[at..at + 2].copy_from_slice(&value.to_be_bytes());
                }
            }
            _ => {
                let marker = [
                    [0xFF, 0xD9],
                    [0xFF, 0xDA],
                    [0xFF, 0xC2],
                    [0xFF, 0xC4],
                    [0xFF, 0xDD],
                    [0xFF, 0xD0],
                ][rng.below(6)];
                out.splice(at..at, marker);
            }
        }
    }
    out
}

/// A mutation of a config.json: an extreme number, a missing or renamed field, or bytes.
fn mutate_json(json: &str, rng: &mut Rng) -> String {
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(json) else {
        return json.to_string();
    };
    let Some(object) = value.as_object_mut() else {
        return json.to_string();
    };
    let keys: Vec<String> = object.keys().cloned().collect();
    let key = &keys[rng.below(keys.len())];
    let extreme: serde_json::Value = match rng.below(8) {
        0 => 0.into(),
        1 => (-1).into(),
        2 => u64::MAX.into(),
        3 => 1e308.into(),
        4 => (1u64 << 40).into(),
        5 => "8".into(),
        6 => serde_json::Value::Null,
        _ => {
            object.remove(key);
            return value.to_string();
        }
    };
    object.insert(key.clone(), extreme);
    value.to_string()
}

/// What went wrong with an input, if anything.
fn check<T>(run: impl FnOnce() -> Result<T, String> + std::panic::UnwindSafe) -> Option<String> {
    PANICKED.store(false, Ordering::SeqCst);
    let before = CURRENT.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let outcome = std::panic::catch_unwind(run);
    let peak = PEAK.load(Ordering::SeqCst).saturating_sub(before);
    if PANICKED.load(Ordering::SeqCst) || outcome.is_err() {
        return Some("panic".into());
    }
    if peak > MEMORY_BOUND {
        return Some(format!("allocated {} MB", peak >> 20));
    }
    match outcome {
        Ok(Err(message)) if message.starts_with("not finite") => Some(message),
        _ => None,
    }
}

/// Classify a photo; an answer whose numbers are not finite is a failure.
fn photo(classifier: &Classifier, bytes: &[u8]) -> Result<(), String> {
    let answer = classifier
        .classify(Photo::Encoded(bytes))
        .map_err(|e| e.to_string())?;
    let finite = answer
        .probabilities
        .iter()
        .chain(&answer.logits)
        .chain([&answer.ood_score])
        .all(|v| v.is_finite());
    if finite {
        Ok(())
    } else {
        Err(format!("not finite: {answer:?}"))
    }
}

/// Load a model folder's files and run them once.
fn model(config: &str, bytes: &[u8], input: &[f32]) -> Result<(), String> {
    // Signed for the mutated bytes, so that mutations reach the parsers, not only the checksum.
    let config = weights::config_from_json(config).map_err(|e| e.to_string())?;
    let signed = weights::config_to_json(&weights::signed(&config.with_checksum(None), bytes));
    let classifier =
        Classifier::from_files(&signed, bytes, Device::flex()).map_err(|e| e.to_string())?;
    if input.len() != classifier.input_len() {
        return Ok(());
    }
    let answers = classifier
        .classify_batch(input, 1)
        .map_err(|e| e.to_string())?;
    if answers[0].probabilities.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err("not finite".into())
    }
}

fn save(dir: &Path, kind: &str, parts: &[(&str, &[u8])]) -> PathBuf {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    parts.iter().for_each(|(_, b)| hash.update(b));
    let name = format!("{kind}-{}", &format!("{:x}", hash.finalize())[..16]);
    for (suffix, bytes) in parts {
        std::fs::write(dir.join(format!("{name}{suffix}")), bytes).expect("write a regression");
    }
    dir.join(name)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let minutes: f64 = args.first().map_or(Ok(5.0), |m| m.parse())?;
    let seed_dirs: Vec<PathBuf> = args.iter().skip(1).map(PathBuf::from).collect();
    let root = train_native::paths::workspace();
    let out = root.join("train-native/tests/fuzz-regressions");
    std::fs::create_dir_all(&out)?;
    std::panic::set_hook(Box::new(|_| PANICKED.store(true, Ordering::SeqCst)));

    let model_dir = train_native::paths::model_dir();
    let config = std::fs::read_to_string(model_dir.join(CONFIG_FILE))?;
    let weights_bytes = std::fs::read(model_dir.join(WEIGHTS_FILE))?;
    let classifier = Classifier::from_files(&config, &weights_bytes, Device::flex())?;
    let input = vec![0.1f32; classifier.input_len()];

    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for dir in seed_dirs
        .iter()
        .chain([&root.join("web/tests/fixtures"), &root.join("src/web")])
    {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("jpg" | "jpeg" | "png" | "webp" | "bmp" | "gif")
            ) {
                seeds.push(std::fs::read(&path)?);
            }
        }
    }
    anyhow::ensure!(!seeds.is_empty(), "no seed photos found");
    eprintln!(
        "fuzzing for {minutes} minutes from {} seed photos and the shipped model",
        seeds.len()
    );

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ std::process::id() as u64);
    let deadline = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let (mut runs, mut found) = (0u64, 0usize);
    while Instant::now() < deadline {
        runs += 1;
        if rng.below(8) == 0 {
            let bytes = mutate(
                &weights_bytes,
                std::slice::from_ref(&weights_bytes),
                &mut rng,
            );
            let json = if rng.below(2) == 0 {
                mutate_json(&config, &mut rng)
            } else {
                config.clone()
            };
            let (b, j, x) = (bytes.clone(), json.clone(), input.clone());
            if let Some(problem) = check(move || model(&j, &b, &x)) {
                found += 1;
                let path = save(
                    &out,
                    "model",
                    &[(".config.json", json.as_bytes()), (".bpk", &bytes)],
                );
                eprintln!("{problem}: saved {}", path.display());
            }
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            let bytes = mutate(seed, &seeds, &mut rng);
            let b = bytes.clone();
            let classifier = std::panic::AssertUnwindSafe(&classifier);
            if let Some(problem) = check(move || photo(*classifier, &b)) {
                found += 1;
                let path = save(&out, "photo", &[(".bin", &bytes)]);
                eprintln!("{problem}: saved {}", path.display());
            }
        }
        if runs % 500 == 0 {
            eprintln!("{runs} inputs, {found} problems");
        }
    }
    println!(
        "{runs} inputs in {minutes} minutes, {found} problems (saved in {})",
        out.display()
    );
    Ok(())
}
