//! Which burn device runs the model in the browser.

#[cfg(feature = "webgpu")]
use std::cell::RefCell;

use burn::tensor::Device;

use super::error::WebError;

/// The two ways the page can run the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// burn's wgpu backend on the browser's WebGPU.
    WebGpu,
    /// burn's flex backend, plain wasm (with SIMD) on the CPU.
    Cpu,
}

impl Backend {
    /// Parse the name the JavaScript side uses (`"webgpu"` or `"cpu"`). The worker chose it
    /// (`auto` is resolved there, the one place that sees the adapter).
    pub fn parse(name: &str) -> Result<Self, WebError> {
        match name {
            "webgpu" => Ok(Self::WebGpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(WebError::Backend(format!(
                "unknown backend {other:?}: use \"webgpu\" or \"cpu\""
            ))),
        }
    }

    /// The name reported in results (`"webgpu"` or `"cpu"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::WebGpu => "webgpu",
            Self::Cpu => "cpu",
        }
    }
}

#[cfg(feature = "webgpu")]
thread_local! {
    // burn registers one wgpu runtime per JavaScript realm and refuses a second initialisation,
    // so the first device is kept and shared by every model loaded in this worker.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// The device for `backend`, acquiring the WebGPU adapter on first use.
pub async fn device(backend: Backend) -> Result<Device, WebError> {
    match backend {
        Backend::Cpu => Ok(Device::flex()),
        Backend::WebGpu => webgpu().await,
    }
}

#[cfg(feature = "webgpu")]
async fn webgpu() -> Result<Device, WebError> {
    if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
        return Ok(device);
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| WebError::Backend(format!("WebGPU could not be initialised: {e}")))?;
    WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

/// The CPU-only module has no WebGPU backend at all: the worker loads the other module for it.
#[cfg(not(feature = "webgpu"))]
async fn webgpu() -> Result<Device, WebError> {
    Err(WebError::Backend(
        "this module was built without WebGPU (the CPU-only module)".into(),
    ))
}
