// The inference worker: loads the wasm module and the model once, then classifies photos off the
// main thread so the page never freezes. Spoken to only by skin-lesion-classifier.js.
//
// Messages in:  {id, type: "load", model: URL, backend: "auto" | "webgpu" | "cpu"}
//               {id, type: "classify", bytes: ArrayBuffer}
//               {id, type: "classify", rgba: ArrayBuffer, width, height}
// Messages out: {id, ok: true, result} | {id, ok: false, error: {name, message}}
import init, { WebClassifier, classes } from './skin-lesion.js';

let model = null; // {classifier, backend}
let files = null; // {config, weights, preference}: kept for a WebGPU -> CPU fallback

async function fetchBytes(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw named('ModelError', `could not download ${url}: ${error.message}`);
  }
  if (!response.ok) {
    throw named('ModelError', `could not download ${url}: HTTP ${response.status}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

function named(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

async function load({ model: base, backend }) {
  await init({ module_or_path: new URL('./skin-lesion_bg.wasm', import.meta.url) });
  const [config, weights] = await Promise.all([
    fetchBytes(new URL('config.json', base)),
    fetchBytes(new URL('model.bpk', base)),
  ]);
  files = { config: new TextDecoder().decode(config), weights, preference: backend };
  if (backend === 'webgpu' || (backend === 'auto' && (await hardwareGpu()))) {
    try {
      model = await start('webgpu');
    } catch (error) {
      if (backend === 'webgpu' || error.name === 'ModelError') throw error;
      console.warn(`WebGPU unavailable, using the CPU: ${error.message}`);
    }
  }
  model ??= await start('cpu');
  return { backend: model.backend, classes: classes() };
}

/**
 * Whether WebGPU offers a hardware adapter. A software one (SwiftShader in a GPU-less VM or
 * headless Chrome, lavapipe, llvmpipe) emulates the GPU on the CPU: measured on this project's
 * 2-core machine it runs the network 17 times slower than the wasm CPU backend (370 ms against
 * 22 ms a photo), so `auto` skips it.
 */
async function hardwareGpu() {
  if (!self.navigator.gpu) return false;
  const adapter = await self.navigator.gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) return false;
  const info = adapter.info ?? {};
  const name = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return !info.isFallbackAdapter && !/swiftshader|lavapipe|llvmpipe|software/i.test(name);
}

async function start(backend) {
  const classifier = await WebClassifier.load(files.config, files.weights, backend);
  return { classifier, backend };
}

async function run(message) {
  const t0 = performance.now();
  const { classifier } = model;
  const probabilities = message.bytes
    ? await classifier.classifyEncoded(new Uint8Array(message.bytes))
    : await classifier.classifyRgba(message.width, message.height, new Uint8Array(message.rgba));
  return { probabilities: Array.from(probabilities), backend: model.backend, ms: performance.now() - t0 };
}

async function classify(message) {
  if (!model) throw named('ModelError', 'the model is not loaded');
  try {
    return await run(message);
  } catch (error) {
    // WebGPU failed mid-session (device lost, driver error): finish on the CPU, for good.
    if (error.name !== 'BackendError' || model.backend !== 'webgpu' || files.preference !== 'auto') throw error;
    console.warn(`WebGPU failed, switching to the CPU: ${error.message}`);
    model = await start('cpu');
    return await run(message);
  }
}

self.onmessage = async ({ data }) => {
  try {
    const result = data.type === 'load' ? await load(data) : await classify(data);
    self.postMessage({ id: data.id, ok: true, result });
  } catch (error) {
    // A wasm trap (RuntimeError) leaves the module unusable; the main thread restarts the worker.
    const name = error instanceof WebAssembly.RuntimeError ? 'Crash' : error?.name ?? 'Error';
    self.postMessage({ id: data.id, ok: false, error: { name, message: String(error?.message ?? error) } });
  }
};
