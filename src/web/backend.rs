//! Which burn device runs the model in the browser.

use std::cell::RefCell;

use burn::tensor::Device;

/// The two ways the page can run the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// burn's wgpu backend on the browser's WebGPU.
    WebGpu,
    /// burn's flex backend, plain wasm (with SIMD) on the CPU.
    Cpu,
}

impl Backend {
    /// Parse the name the JavaScript side uses (`"webgpu"` or `"cpu"`).
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "webgpu" => Ok(Self::WebGpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(format!("unknown backend {other:?}: use \"webgpu\" or \"cpu\"")),
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

thread_local! {
    // burn registers one wgpu runtime per JavaScript realm and refuses a second initialisation,
    // so the first device is kept and shared by every model loaded in this worker.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// The device for `backend`, acquiring the WebGPU adapter on first use.
pub async fn device(backend: Backend) -> Result<Device, String> {
    match backend {
        Backend::Cpu => Ok(Device::flex()),
        Backend::WebGpu => {
            if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
                return Ok(device);
            }
            let device = Device::wgpu_options()
                .init_async()
                .await
                .map_err(|e| format!("WebGPU could not be initialised: {e}"))?;
            WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
            Ok(device)
        }
    }
}
