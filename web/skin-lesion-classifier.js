// <skin-lesion-classifier>: an embeddable HAM10000 skin-lesion classifier that runs entirely on
// the visitor's device. Embedding takes two lines:
//
//   <script type="module" src="https://example.org/skin-lesion/skin-lesion-classifier.js"></script>
//   <skin-lesion-classifier></skin-lesion-classifier>
//
// Attributes: `model` (base URL of config.json + model.bpk; default: this script's folder) and
// `backend`: "auto" (default: WebGPU on a hardware GPU, else the CPU; a WebGPU failure at any
// point falls back to the CPU), "webgpu" (WebGPU or an error) or "cpu". Events (bubbling, composed): `classified` with
// detail {top, probabilities: {akiec, ...}, backend, ms, workers} and `error` with detail {message}.
//
// For sites with their own UI: `const c = await load({model, backend}); await c.classify(blob)`.
//
// The network runs in a worker (classifier-worker.js) on burn's wgpu backend (WebGPU) or its
// CPU backend; decoding and preprocessing are the Rust crate's, the same as training's.

import { WorkerLink, createWorker } from './worker-link.js';

const HERE = new URL('./', import.meta.url);
const BACKENDS = ['auto', 'webgpu', 'cpu'];
/** Encoded files above this are refused before they are read into memory. */
const MAX_FILE_BYTES = 100 * 1024 * 1024;
/** The Rust decoder's limits (src/preprocess/decode.rs), checked early for raw pixels. */
const MAX_PIXELS = 60_000_000;
const MAX_DIMENSION = 12_000;

class ClassifierError extends Error {
  constructor(message, name = 'ClassifierError') {
    super(message);
    this.name = name;
  }
}

/** Owns one worker; restarts it if the wasm module traps, so one bad photo cannot break the next. */
class WorkerClient {
  #model;
  #backend;
  #link = null;
  #ready = null;

  constructor(model, backend) {
    this.#model = model;
    this.#backend = backend;
  }

  /** Resolves to {backend, classes} once the model is loaded and warmed up. */
  ready() {
    this.#ready ??= this.#spawn();
    return this.#ready;
  }

  async call(message, transfer = []) {
    await this.ready();
    try {
      return await this.#link.request(message, transfer);
    } catch (error) {
      if (error.name === 'Crash') this.#restart();
      throw error;
    }
  }

  async #spawn() {
    const link = new WorkerLink(createWorker(new URL('classifier-worker.js', HERE)), (m, name) => new ClassifierError(m, name));
    this.#link = link;
    link.worker.onerror = (event) => {
      event.preventDefault();
      link.failAll(new ClassifierError(`the classifier stopped: ${event.message || 'worker error'}`, 'Crash'));
      this.#restart();
    };
    try {
      return await link.request({ type: 'load', model: this.#model, backend: this.#backend });
    } catch (error) {
      this.#restart();
      throw error;
    }
  }

  #restart() {
    this.#link?.worker.terminate();
    this.#link = null;
    this.#ready = null;
  }
}

/** A loaded model. Get one with `load()`; every widget on a page with the same settings shares it. */
export class Classifier {
  #client;
  #info;

  constructor(client, info) {
    this.#client = client;
    this.#info = info;
  }

  /** "webgpu" or "cpu": the backend the model is running on now. */
  get backend() {
    return this.#info.backend;
  }

  /** The seven classes in model order: [{code, name, description}]. */
  get classes() {
    return this.#info.classes;
  }

  /**
   * Classify a photo: a Blob/File (JPEG, PNG, WebP, BMP, GIF), an ImageBitmap or an ImageData.
   * Resolves to {top, probabilities: {akiec, bcc, bkl, df, mel, nv, vasc}, backend, ms, workers}
   * (`workers`: 2 when a helper worker ran half of the views on the CPU, else 1).
   */
  async classify(photo) {
    const { message, transfer } = await toMessage(photo);
    const result = await this.#client.call({ type: 'classify', ...message }, transfer);
    this.#info.backend = result.backend;
    const probabilities = {};
    this.classes.forEach(({ code }, i) => (probabilities[code] = result.probabilities[i]));
    const top = this.classes.reduce((best, c) => (probabilities[c.code] > probabilities[best.code] ? c : best)).code;
    return { top, probabilities, backend: result.backend, ms: result.ms, workers: result.workers };
  }
}

async function toMessage(photo) {
  if (typeof Blob !== 'undefined' && photo instanceof Blob) {
    if (photo.size === 0) throw new ClassifierError('the file is empty (0 bytes)', 'InputError');
    if (photo.size > MAX_FILE_BYTES) {
      throw new ClassifierError(`the file is too large (${(photo.size / 2 ** 20).toFixed(0)} MB; the limit is 100 MB)`, 'InputError');
    }
    const bytes = await photo.arrayBuffer();
    return { message: { bytes }, transfer: [bytes] };
  }
  if (typeof ImageData !== 'undefined' && photo instanceof ImageData) {
    checkPixels(photo.width, photo.height);
    const rgba = photo.data.slice().buffer;
    return { message: { rgba, width: photo.width, height: photo.height }, transfer: [rgba] };
  }
  if (typeof ImageBitmap !== 'undefined' && photo instanceof ImageBitmap) {
    checkPixels(photo.width, photo.height);
    const canvas = new OffscreenCanvas(photo.width, photo.height);
    const context = canvas.getContext('2d');
    context.drawImage(photo, 0, 0);
    const rgba = context.getImageData(0, 0, photo.width, photo.height).data.buffer;
    return { message: { rgba, width: photo.width, height: photo.height }, transfer: [rgba] };
  }
  throw new ClassifierError('classify() takes a Blob, File, ImageBitmap or ImageData', 'InputError');
}

function checkPixels(width, height) {
  if (width === 0 || height === 0) throw new ClassifierError(`the image has no pixels (${width}x${height})`, 'InputError');
  if (width > MAX_DIMENSION || height > MAX_DIMENSION || width * height > MAX_PIXELS) {
    throw new ClassifierError(`the image is too large (${width}x${height} pixels)`, 'InputError');
  }
}

const loaded = new Map();

/**
 * Load the model once per page for each (model URL, backend) pair.
 * @param {{model?: string|URL, backend?: "auto"|"webgpu"|"cpu"}} options
 * @returns {Promise<Classifier>}
 */
export function load({ model, backend = 'auto' } = {}) {
  if (!BACKENDS.includes(backend)) {
    return Promise.reject(new ClassifierError(`unknown backend "${backend}": use auto, webgpu or cpu`));
  }
  let base = new URL(model ?? HERE, document.baseURI).href;
  if (!base.endsWith('/')) base += '/';
  // WebGPU is decided here, where a page (or a test) can see whether navigator.gpu exists.
  const effective = backend === 'auto' && !navigator.gpu ? 'cpu' : backend;
  const key = `${effective} ${base}`;
  if (!loaded.has(key)) {
    const client = new WorkerClient(base, effective);
    const promise = client.ready().then((info) => new Classifier(client, { ...info }));
    promise.catch(() => loaded.delete(key)); // a failed load can be retried
    loaded.set(key, promise);
  }
  return loaded.get(key);
}

const TEMPLATE = `
<section class="widget" aria-label="Skin lesion classifier">
  <label class="drop" part="drop-zone">
    <input class="file" type="file" accept="image/*" capture="environment">
    <img class="preview" alt="The photo being classified" hidden>
    <span class="hint">
      <strong>Drop a dermatoscopy photo here</strong>, paste one, or <span class="pick">choose a file</span>.
      <small>The photo stays on this device.</small>
    </span>
  </label>
  <p class="status" role="status" aria-live="polite">Loading the model…</p>
  <div class="result" hidden>
    <p class="verdict"></p>
    <ol class="bars" aria-label="Probability of each class"></ol>
    <p class="meta"></p>
  </div>
  <p class="disclaimer">Not a diagnosis. This research model was trained on one public data set and makes
  mistakes; show any lesion that worries you to a doctor.</p>
</section>`;

const percent = (p) => `${(100 * p).toFixed(1)}%`;

export class SkinLesionClassifierElement extends HTMLElement {
  static observedAttributes = ['model', 'backend'];
  #root;
  #parts;
  #classifier = null;
  #request = 0;
  #previewUrl = null;

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: 'open' });
    const style = document.createElement('link');
    style.rel = 'stylesheet';
    style.href = new URL('skin-lesion-classifier.css', HERE).href;
    this.#root.append(style);
    this.#root.append(document.createRange().createContextualFragment(TEMPLATE));
    const $ = (selector) => this.#root.querySelector(selector);
    this.#parts = {
      drop: $('.drop'), file: $('.file'), preview: $('.preview'), status: $('.status'),
      result: $('.result'), verdict: $('.verdict'), bars: $('.bars'), meta: $('.meta'),
    };
    this.#parts.file.addEventListener('change', () => {
      const [file] = this.#parts.file.files;
      if (file) this.classify(file);
      this.#parts.file.value = '';
    });
    this.#parts.drop.addEventListener('dragover', (event) => {
      event.preventDefault();
      this.#parts.drop.classList.add('over');
    });
    this.#parts.drop.addEventListener('dragleave', () => this.#parts.drop.classList.remove('over'));
    this.#parts.drop.addEventListener('drop', (event) => {
      event.preventDefault();
      this.#parts.drop.classList.remove('over');
      const file = [...(event.dataTransfer?.files ?? [])][0];
      if (file) this.classify(file);
      else this.#fail('Drop a photo file: nothing usable was dropped.', 'nothing usable was dropped');
    });
    this.addEventListener('paste', (event) => {
      const file = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
      if (!file) return;
      event.preventDefault();
      this.classify(file);
    });
  }

  connectedCallback() {
    this.#load();
  }

  attributeChangedCallback(name, previous, value) {
    if (previous !== value && this.isConnected) this.#load();
  }

  /** The shared Classifier behind this element (resolves once it is ready). */
  get classifier() {
    return this.#classifier;
  }

  #load() {
    delete this.dataset.ready;
    this.#parts.status.textContent = 'Loading the model…';
    const model = this.getAttribute('model') ?? undefined;
    const backend = this.getAttribute('backend') || 'auto';
    const classifier = load({ model, backend });
    this.#classifier = classifier;
    classifier.then(
      (c) => {
        if (this.#classifier !== classifier) return;
        this.#parts.status.textContent = `Ready. The model runs here, on ${backendName(c.backend)}.`;
        this.dataset.ready = c.backend;
        this.dispatchEvent(new CustomEvent('ready', { detail: { backend: c.backend }, bubbles: true, composed: true }));
      },
      (error) => this.#classifier === classifier && this.#fail(`The model could not be loaded: ${error.message}`, error.message),
    );
  }

  /** Classify a photo as if it had been dropped on the widget; resolves to the event detail. */
  async classify(photo) {
    const request = ++this.#request;
    this.#showPreview(photo);
    this.#parts.status.textContent = 'Classifying…';
    this.setAttribute('aria-busy', 'true');
    try {
      const classifier = await this.#classifier;
      const detail = await classifier.classify(photo);
      if (request !== this.#request) return detail;
      this.#render(detail, classifier.classes);
      this.dispatchEvent(new CustomEvent('classified', { detail, bubbles: true, composed: true }));
      return detail;
    } catch (error) {
      if (request === this.#request) this.#fail(`Could not classify this photo: ${error.message}`, error.message);
      return undefined;
    } finally {
      if (request === this.#request) this.removeAttribute('aria-busy');
    }
  }

  #showPreview(photo) {
    if (this.#previewUrl) URL.revokeObjectURL(this.#previewUrl);
    this.#previewUrl = null;
    const { preview } = this.#parts;
    preview.hidden = true;
    if (!(photo instanceof Blob)) return;
    this.#previewUrl = URL.createObjectURL(photo);
    preview.onload = () => (preview.hidden = false);
    preview.onerror = () => (preview.hidden = true);
    preview.src = this.#previewUrl;
  }

  #render(detail, classes) {
    const { verdict, bars, meta, result, status } = this.#parts;
    const byCode = Object.fromEntries(classes.map((c) => [c.code, c]));
    const top = byCode[detail.top];
    verdict.replaceChildren(
      'Most likely: ',
      Object.assign(document.createElement('strong'), { textContent: `${top.name} (${top.code})` }),
      `, with ${percent(detail.probabilities[detail.top])} confidence.`,
    );
    const ranked = classes.map((c) => [c, detail.probabilities[c.code]]).sort((a, b) => b[1] - a[1]);
    bars.replaceChildren(
      ...ranked.map(([c, p]) => {
        const item = document.createElement('li');
        item.dataset.code = c.code;
        item.title = c.description;
        const name = Object.assign(document.createElement('span'), { className: 'name', textContent: c.name });
        const code = Object.assign(document.createElement('span'), { className: 'code', textContent: c.code });
        const bar = Object.assign(document.createElement('span'), { className: 'bar' });
        const fill = Object.assign(document.createElement('span'), { className: 'fill' });
        fill.style.width = `${(100 * p).toFixed(2)}%`;
        bar.append(fill);
        const value = Object.assign(document.createElement('span'), { className: 'value', textContent: percent(p) });
        item.setAttribute('aria-label', `${c.name}: ${percent(p)}`);
        item.append(name, code, bar, value);
        return item;
      }),
    );
    meta.textContent = `Ran on ${backendName(detail.backend)} in ${detail.ms.toFixed(1)} ms.`;
    result.hidden = false;
    status.textContent = 'Done.';
    status.classList.remove('error');
  }

  #fail(status, message) {
    this.#parts.result.hidden = true;
    this.#parts.preview.hidden = true;
    this.#parts.status.textContent = status;
    this.#parts.status.classList.add('error');
    this.dispatchEvent(new CustomEvent('error', { detail: { message }, bubbles: true, composed: true }));
  }
}

function backendName(backend) {
  return backend === 'webgpu' ? 'the GPU (WebGPU)' : 'the CPU (WebAssembly)';
}

if (!customElements.get('skin-lesion-classifier')) {
  customElements.define('skin-lesion-classifier', SkinLesionClassifierElement);
}
