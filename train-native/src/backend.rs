//! Choosing where to train: a GPU through burn's wgpu backend (the default `wgpu` feature), or
//! the CPU through flex.

use anyhow::Result;
use burn::tensor::Device;

/// The `--backend` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// The GPU when a hardware adapter exists, else the CPU.
    Auto,
    /// burn's wgpu backend (Vulkan, Metal, DX12); an error when no adapter works, or when the
    /// program was built without the `wgpu` feature.
    Wgpu,
    /// burn's flex backend on the CPU.
    Cpu,
    /// burn's ndarray backend on the CPU (built with `--features ndarray`; for comparison).
    #[cfg(feature = "ndarray")]
    Ndarray,
    /// LibTorch on the CPU through burn's tch backend: 1.7x flex's training speed here, but it
    /// needs `--features tch` and a LibTorch 2.9 (`LIBTORCH`; docs/throughput.md).
    #[cfg(feature = "tch")]
    Tch,
}

/// A device and how to describe it in the report.
pub struct Selected {
    pub device: Device,
    pub backend: String,
    pub hardware: String,
}

/// Pick the device. `auto` ignores software adapters (lavapipe, SwiftShader): flex is far
/// faster on a CPU than a software GPU.
pub fn select(choice: BackendChoice) -> Result<Selected> {
    match choice {
        BackendChoice::Cpu => Ok(cpu()),
        BackendChoice::Wgpu => wgpu(),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)] // measured against flex, never the default
        BackendChoice::Ndarray => Ok(Selected {
            device: Device::ndarray(),
            backend: "ndarray (CPU)".into(),
            hardware: cpu_name(),
        }),
        #[cfg(feature = "tch")]
        #[allow(deprecated)] // opt-in: it needs LibTorch
        BackendChoice::Tch => Ok(Selected {
            device: Device::libtorch(),
            backend: "tch (LibTorch, CPU)".into(),
            hardware: cpu_name(),
        }),
        BackendChoice::Auto => Ok(auto()),
    }
}

/// The GPU when one works, else the CPU; says on stderr which and why.
#[cfg(feature = "wgpu")]
fn auto() -> Selected {
    let gpus = std::panic::catch_unwind(Device::enumerate_physical).unwrap_or_default();
    let Some(gpu) = gpus.into_iter().next() else {
        eprintln!(
            "backend: no GPU adapter found; falling back to the CPU (flex backend, {} threads)",
            threads()
        );
        return cpu();
    };
    match wgpu() {
        Ok(selected) => {
            eprintln!("backend: wgpu on {}", gpu.name);
            Selected {
                hardware: gpu.name,
                ..selected
            }
        }
        Err(e) => {
            eprintln!(
                "backend: GPU {} found but unusable ({e}); falling back to the CPU (flex)",
                gpu.name
            );
            cpu()
        }
    }
}

#[cfg(not(feature = "wgpu"))]
fn auto() -> Selected {
    eprintln!(
        "backend: built without the `wgpu` feature; the CPU (flex backend, {} threads)",
        threads()
    );
    cpu()
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The CPU through flex.
pub fn cpu() -> Selected {
    Selected {
        device: Device::flex(),
        backend: "flex (CPU)".into(),
        hardware: cpu_name(),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Selected> {
    use burn::tensor::{DeviceKind, Tensor};
    use std::panic::{AssertUnwindSafe, catch_unwind};

    let device = Device::wgpu(DeviceKind::DefaultDevice);
    // Device creation is lazy and panics without an adapter: run one op to find out now.
    let probe = device.clone();
    catch_unwind(AssertUnwindSafe(move || {
        Tensor::<1>::ones([4], &probe).sum().into_scalar::<f32>()
    }))
    .map_err(|_| {
        anyhow::anyhow!("no usable wgpu adapter (is a Vulkan/Metal/DX12 driver installed?)")
    })?;
    let hardware = device
        .identity()
        .map_or_else(|| "GPU (wgpu)".to_string(), |id| id.name);
    Ok(Selected {
        device,
        backend: "wgpu".into(),
        hardware,
    })
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Selected> {
    anyhow::bail!(
        "this train-native was built without the `wgpu` feature (--no-default-features): \
         rebuild with its default features to train on a GPU, or use --backend cpu"
    )
}

/// The CPU model and thread count, for the report.
pub fn cpu_name() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{model}, {} threads", threads())
}
