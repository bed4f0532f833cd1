// <skin-lesion-classifier>: an embeddable HAM10000 skin-lesion classifier that runs entirely on
// the visitor's device. Embedding takes two lines:
//
//   <script type="module" src="https://example.org/skin-lesion/skin-lesion-classifier.js"></script>
//   <skin-lesion-classifier></skin-lesion-classifier>
//
// Attributes: `model` (base URL of config.json + model.bpk; default: this script's folder) and
// `backend`: "auto" (default: WebGPU on a hardware GPU, else the CPU; a WebGPU failure at any
// point falls back to the CPU), "webgpu" (WebGPU or an error) or "cpu". Events (bubbling,
// composed): `classified` with detail {top, probabilities: {akiec, ...}, outOfDistribution,
// oodScore, unsure, candidates, patientData, backend, ms, photoMs, workers}, `error` with detail
// {message}, `ready`. For a model with patient tables the widget also asks, optionally, for
// the patient's age, sex and body site, and answers again when they change.
//
// For sites with their own UI: `const c = await load({model, backend}); await c.classify(blob)`
// (or `c.classify(blob, {patient: {age, sex, site}})`).
//
// The network runs in a worker (classifier-worker.js); decoding, preprocessing, the network and
// the answer (calibration, "unsure", out of distribution) are the Rust crate's, the same as
// training's.

import { WorkerLink, createWorker } from './worker-link.js';

const HERE = new URL('./', import.meta.url);
const BACKENDS = ['auto', 'webgpu', 'cpu'];
/** Encoded files above this are refused before they are read into memory. */
const MAX_FILE_BYTES = 100 * 1024 * 1024;
/** The Rust decoder's limits (src/preprocess/decode.rs), checked early for raw pixels. */
const MAX_PIXELS = 60_000_000;
const MAX_DIMENSION = 12_000;
/** However the worker dies or hangs, every request settles within these times. */
const LOAD_TIMEOUT_MS = 180_000;
const CALL_TIMEOUT_MS = 60_000;
/** A test hook (not part of the API): makes the worker's wasm trap, as a bug would. */
const TRAP = Symbol.for('skin-lesion-classifier.trap-for-tests');

class ClassifierError extends Error {
  constructor(message, name = 'ClassifierError') {
    super(message);
    this.name = name;
  }
}

/**
 * Owns one worker; replaces it when its wasm traps, it dies or it stops answering, so one bad
 * photo cannot break the next. Requests that were waiting behind the one that broke the worker
 * are sent once more to its replacement.
 */
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

  async call(message, { timeout = CALL_TIMEOUT_MS, retry = true } = {}) {
    await this.ready();
    const link = this.#link;
    try {
      return await link.request(message, [], timeout);
    } catch (error) {
      if (error.name === 'Restarted' && retry) return this.call(message, { timeout, retry: false });
      // This request broke the worker (a trap) or the worker stopped answering it: replace it.
      if (error.name === 'Crash' || error.name === 'Timeout') this.#restart(link);
      throw error.name === 'Restarted' ? new ClassifierError('the classifier stopped twice on this request', 'Crash') : error;
    }
  }

  async #spawn() {
    const link = new WorkerLink(createWorker(new URL('classifier-worker.js', HERE)), (m, name) => new ClassifierError(m, name));
    this.#link = link;
    link.worker.onerror = (event) => {
      event.preventDefault();
      this.#restart(link);
    };
    try {
      return await link.request({ type: 'load', model: this.#model, backend: this.#backend }, [], LOAD_TIMEOUT_MS);
    } catch (error) {
      this.#restart(link);
      throw error;
    }
  }

  /**
   * Stop `link`'s worker if it is still the current one (a late error from a worker that was
   * already replaced must not stop its replacement); its waiting requests fail as `Restarted`,
   * which `call` sends once more.
   */
  #restart(link) {
    if (this.#link !== link) return;
    this.#link = null;
    this.#ready = null;
    link.close(new ClassifierError('the classifier was restarted', 'Restarted'));
  }

  /** Stop the worker for good (no widget or caller uses this model any more). */
  close() {
    const link = this.#link;
    this.#link = null;
    this.#ready = null;
    link?.close(new ClassifierError('the classifier was closed', 'Closed'));
  }
}

/** The photo behind each answer a Classifier gave ({classifier, token}), for `answerAgain`. */
const answered = new WeakMap();

/** A loaded model. Get one with `load()`; every widget on a page with the same settings shares it. */
export class Classifier {
  #client;
  #info;
  #release;

  constructor(client, info, release) {
    this.#client = client;
    this.#info = info;
    this.#release = release;
  }

  /** "webgpu" or "cpu": the backend the model is running on now. */
  get backend() {
    return this.#info.backend;
  }

  /** The model's classes in the order of its outputs: [{code, name, description}]. */
  get classes() {
    return this.#info.classes;
  }

  /** The checksum of the model's config and weights: which model this is. */
  get checksum() {
    return this.#info.checksum;
  }

  /** The share of a photo's central square the network sees (the rest is cropped away). */
  get cropShare() {
    return this.#info.cropShare;
  }

  /**
   * What patient data the model weighs in, {maxAge, sexes, sites} (the values `classify`
   * takes), or null when it answers from the photo alone.
   */
  get patientFields() {
    return this.#info.patient;
  }

  /**
   * Classify a photo: a Blob/File (JPEG, PNG, WebP, BMP, GIF), an ImageBitmap or an ImageData;
   * `patient` ({age, sex, site}, each optional; a model without patient tables refuses it)
   * adds what the patient's data says. Resolves to {top, probabilities: {code: p} for each of
   * the model's classes (calibrated), outOfDistribution, oodScore, unsure, candidates: [top,
   * runner-up], patientData (the fields used, in words, or null), backend, ms, photoMs,
   * workers} (`ms`: this call's time in the worker; `photoMs`: the time of the classify that
   * ran the network over the photo, the same as `ms` here and earlier than it for
   * `answerAgain`; `workers`: 2 when a helper worker ran half of the views on the CPU, else 1).
   */
  async classify(photo, { patient } = {}) {
    const message = await toMessage(photo);
    const result = await this.#client.call({ type: 'classify', ...message, patient: patient ?? null });
    return this.#detail(result);
  }

  /**
   * The photo of `answer` (what `classify` or `answerAgain` resolved to) answered again with
   * other patient data (`patient` as `classify` takes it), from the network's views of it,
   * which do not run again. Resolves as `classify` does. Rejects with an InputError when
   * `answer` is not this model's, or when the model's worker no longer holds that photo
   * (another photo classified with the same model since, by any caller, or the worker
   * restarted): classify the photo again then.
   */
  async answerAgain(answer, { patient } = {}) {
    const photo = answered.get(answer);
    if (photo?.classifier !== this) {
      throw new ClassifierError('answerAgain takes an answer this model gave', 'InputError');
    }
    const message = { type: 'answerAgain', token: photo.token, patient: patient ?? null };
    return this.#detail(await this.#client.call(message));
  }

  /** The worker's answer as `classify` resolves it, remembered for `answerAgain`. */
  #detail(result) {
    this.#info.backend = result.backend;
    const probabilities = {};
    this.classes.forEach(({ code }, i) => (probabilities[code] = result.probabilities[i]));
    const detail = {
      top: result.top,
      probabilities,
      outOfDistribution: result.outOfDistribution,
      oodScore: result.oodScore,
      unsure: result.unsure,
      candidates: [result.top, result.runnerUp],
      patientData: result.patientData ?? null,
      backend: result.backend,
      ms: result.ms,
      photoMs: result.photoMs,
      workers: result.workers,
    };
    answered.set(detail, { classifier: this, token: result.token });
    return detail;
  }

  /**
   * Where the network looked for the top class of the last photo this model classified:
   * {map: Float32Array of side x side values in [0, 1] over the crop it saw, side, ms,
   * workers (2 when the CPU worker's helper took half of the views)}.
   */
  async saliency() {
    return this.#client.call({ type: 'saliency' });
  }

  /** Release this reference; the worker stops once no widget or caller holds the model. */
  close() {
    this.#release?.();
    this.#release = null;
  }

  [TRAP]() {
    return this.#client.call({ type: 'trap' }, { retry: false });
  }
}

async function toMessage(photo) {
  if (typeof Blob !== 'undefined' && photo instanceof Blob) {
    if (photo.size === 0) throw new ClassifierError('the file is empty (0 bytes)', 'InputError');
    if (photo.size > MAX_FILE_BYTES) {
      throw new ClassifierError(`the file is too large (${(photo.size / 2 ** 20).toFixed(0)} MB; the limit is 100 MB)`, 'InputError');
    }
    // Copied, not transferred: a request is sent again if its worker has to be replaced.
    return { bytes: await photo.arrayBuffer() };
  }
  if (typeof ImageData !== 'undefined' && photo instanceof ImageData) {
    checkPixels(photo.width, photo.height);
    return { rgba: photo.data.slice().buffer, width: photo.width, height: photo.height };
  }
  if (typeof ImageBitmap !== 'undefined' && photo instanceof ImageBitmap) {
    checkPixels(photo.width, photo.height);
    const canvas = new OffscreenCanvas(photo.width, photo.height);
    const context = canvas.getContext('2d');
    context.drawImage(photo, 0, 0);
    const rgba = context.getImageData(0, 0, photo.width, photo.height).data.buffer;
    return { rgba, width: photo.width, height: photo.height };
  }
  throw new ClassifierError('classify() takes a Blob, File, ImageBitmap or ImageData', 'InputError');
}

function checkPixels(width, height) {
  if (width === 0 || height === 0) throw new ClassifierError(`the image has no pixels (${width}x${height})`, 'InputError');
  if (width > MAX_DIMENSION || height > MAX_DIMENSION || width * height > MAX_PIXELS) {
    throw new ClassifierError(`the image is too large (${width}x${height} pixels)`, 'InputError');
  }
}

/** The models of this page by (backend, model URL): {client, classifier (a promise), users}. */
const models = new Map();

function keyOf({ model, backend = 'auto' } = {}) {
  if (!BACKENDS.includes(backend)) {
    throw new ClassifierError(`unknown backend "${backend}": use auto, webgpu or cpu`);
  }
  let base = new URL(model ?? HERE, document.baseURI).href;
  if (!base.endsWith('/')) base += '/';
  return { key: `${backend} ${base}`, base, backend };
}

/** One more user of a model: loads it on first use. */
function acquire(options) {
  const { key, base, backend } = keyOf(options);
  let entry = models.get(key);
  if (!entry) {
    const client = new WorkerClient(base, backend);
    entry = { client, users: 0 };
    entry.classifier = client.ready().then((info) => new Classifier(client, { ...info }, () => release(key)));
    entry.classifier.catch(() => {
      // A failed load can be retried by the next user.
      if (models.get(key) === entry) models.delete(key);
      client.close();
    });
    models.set(key, entry);
  }
  entry.users += 1;
  return { key, classifier: entry.classifier };
}

/** One user fewer: the last one out stops the worker. */
function release(key) {
  const entry = models.get(key);
  if (!entry) return;
  entry.users -= 1;
  if (entry.users <= 0) {
    models.delete(key);
    entry.client.close();
  }
}

/**
 * Load the model once per page for each (model URL, backend) pair.
 * @param {{model?: string|URL, backend?: "auto"|"webgpu"|"cpu"}} options
 * @returns {Promise<Classifier>}
 */
export function load(options = {}) {
  try {
    return acquire(options).classifier;
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Make the widget's page work offline after this visit: registers the service worker beside
 * this script (sw.js), versioned by the model's checksum so that a new model replaces the old
 * cache. The page must be served from the widget's folder or below it (a service worker only
 * serves pages within its scope). Resolves to the registration, or null where service workers
 * are unavailable (an insecure origin, say).
 */
export async function offline({ model } = {}) {
  if (!('serviceWorker' in navigator)) return null;
  const base = new URL(model ?? HERE, document.baseURI);
  const response = await fetch(new URL('config.json', base), { cache: 'no-cache' });
  if (!response.ok) throw new ClassifierError(`could not read config.json: HTTP ${response.status}`);
  const { checksum } = await response.json();
  const script = new URL(`sw.js?model=${encodeURIComponent(checksum ?? 'unsigned')}`, HERE);
  return navigator.serviceWorker.register(script, { scope: HERE.href });
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
  <details class="patient" hidden>
    <summary>About the patient (optional)</summary>
    <p class="patient-note">The model can weigh in the patient's age, sex and where the lesion is, as
    often as each came with each kind of lesion in its training photos. Any field may stay empty;
    nothing leaves this device.</p>
    <div class="patient-fields">
      <label>Age (years) <input class="age" type="number" min="0" step="1" inputmode="numeric"></label>
      <label>Sex <select class="sex"><option value="">not given</option></select></label>
      <label>Body site <select class="site"><option value="">not given</option></select></label>
    </div>
  </details>
  <p class="status" role="status" aria-live="polite">Loading the model…</p>
  <div class="result" hidden tabindex="-1">
    <p class="verdict"></p>
    <div class="ood" hidden>
      <p>This does not look like a dermatoscopy photo of a skin lesion, so the model cannot classify it:
      it only knows close-up photos of a single lesion taken through a dermatoscope.</p>
      <button type="button" class="show-anyway" aria-expanded="false">Show the model's answer anyway</button>
    </div>
    <ol class="bars" aria-label="Probability of each class"></ol>
    <div class="seen" hidden>
      <canvas class="crop" width="192" height="192" role="img"
        aria-label="The part of the photo the network saw"></canvas>
      <div class="seen-text">
        <button type="button" class="where" aria-pressed="false" disabled>Show where it looked</button>
        <p class="seen-note">The network sees this square at the centre of the photo. The overlay marks the
        parts that raised the top class's score the most: it does not mean the model understood the lesion.</p>
      </div>
    </div>
    <p class="meta"></p>
  </div>
  <p class="disclaimer">Not a diagnosis. This research model was trained on one data set and makes
  mistakes; show any lesion that worries you to a doctor.</p>
</section>`;

const percent = (p) => `${(100 * p).toFixed(1)}%`;

export class SkinLesionClassifierElement extends HTMLElement {
  static observedAttributes = ['model', 'backend'];
  #root;
  #parts;
  #classifier = null;
  #key = null;
  #request = 0;
  #previewUrl = null;
  #lastPhoto = null; // the photo last given to classify(), answered again when patient data changes
  #lastAnswer = null; // the answer shown, whose views answer again when patient data changes
  #photo = null; // the preview image once it has loaded, for the crop view
  #saliency = null;
  #cropShare = 1;

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
      ood: $('.ood'), showAnyway: $('.show-anyway'), seen: $('.seen'), crop: $('.crop'), where: $('.where'),
      patient: $('.patient'), age: $('.age'), sex: $('.sex'), site: $('.site'),
    };
    for (const field of [this.#parts.age, this.#parts.sex, this.#parts.site]) {
      field.addEventListener('change', () => this.#patientChanged());
    }
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
    this.#parts.showAnyway.addEventListener('click', () => {
      const shown = this.#parts.bars.hidden;
      this.#parts.bars.hidden = !shown;
      this.#parts.showAnyway.setAttribute('aria-expanded', String(shown));
      this.#parts.showAnyway.textContent = shown ? 'Hide the model\u2019s answer' : 'Show the model\u2019s answer anyway';
    });
    this.#parts.where.addEventListener('click', () => {
      const on = this.#parts.where.getAttribute('aria-pressed') !== 'true';
      this.#parts.where.setAttribute('aria-pressed', String(on));
      this.#parts.where.textContent = on ? 'Hide where it looked' : 'Show where it looked';
      this.#drawCrop();
    });
  }

  connectedCallback() {
    this.#load();
  }

  disconnectedCallback() {
    if (this.#key) release(this.#key);
    this.#key = null;
    this.#classifier = null;
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
    const previous = this.#key;
    let acquired;
    try {
      acquired = acquire({ model: this.getAttribute('model') ?? undefined, backend: this.getAttribute('backend') || 'auto' });
    } catch (error) {
      this.#fail(`The model could not be loaded: ${error.message}`, error.message);
      return;
    }
    this.#key = acquired.key;
    // Release after acquiring: a widget whose attributes did not really change keeps its worker.
    if (previous) release(previous);
    const classifier = acquired.classifier;
    this.#classifier = classifier;
    classifier.then(
      (c) => {
        if (this.#classifier !== classifier) return;
        this.#showPatientFields(c.patientFields);
        this.#parts.status.textContent = `Ready. The model runs here, on ${backendName(c.backend)}.`;
        this.dataset.ready = c.backend;
        this.dispatchEvent(new CustomEvent('ready', { detail: { backend: c.backend }, bubbles: true, composed: true }));
      },
      (error) => this.#classifier === classifier && this.#fail(`The model could not be loaded: ${error.message}`, error.message),
    );
  }

  /**
   * Classify a photo as if it had been dropped on the widget, with the patient data in its
   * form; resolves to the event detail.
   */
  async classify(photo) {
    this.#showPreview(photo);
    this.#lastPhoto = photo;
    this.#lastAnswer = null;
    return this.#answer(photo);
  }

  /**
   * Answer `photo` with the form's patient data and show it. `again`: the photo is the one
   * shown, so its answer's views serve (the network does not run again) unless the model no
   * longer holds them, when it is classified again.
   */
  async #answer(photo, { again = false } = {}) {
    const request = ++this.#request;
    this.#parts.status.textContent = 'Classifying…';
    this.setAttribute('aria-busy', 'true');
    try {
      const classifier = await this.#classifier;
      const patient = this.#patient(classifier);
      const shown = again ? this.#lastAnswer : null;
      let answeredAgain = Boolean(shown);
      const detail = shown
        ? await classifier.answerAgain(shown, { patient }).catch(() => {
          answeredAgain = false;
          return classifier.classify(photo, { patient });
        })
        : await classifier.classify(photo, { patient });
      if (request !== this.#request) return detail;
      this.#lastAnswer = detail;
      this.#cropShare = classifier.cropShare;
      this.#render(detail, classifier.classes, answeredAgain);
      this.dispatchEvent(new CustomEvent('classified', { detail, bubbles: true, composed: true }));
      this.#explain(classifier, request);
      return detail;
    } catch (error) {
      if (request === this.#request) this.#fail(`Could not classify this photo: ${error.message}`, error.message);
      return undefined;
    } finally {
      if (request === this.#request) this.removeAttribute('aria-busy');
    }
  }

  /** The model's patient fields in the form, or the form hidden for a model without them. */
  #showPatientFields(fields) {
    const { patient, age, sex, site } = this.#parts;
    patient.hidden = !fields;
    if (!fields) return;
    age.max = String(fields.maxAge);
    const options = (select, codes) => {
      const kept = select.value;
      select.replaceChildren(new Option('not given', ''), ...codes.map((code) => new Option(capitalised(code), code)));
      select.value = codes.includes(kept) ? kept : '';
    };
    options(sex, fields.sexes);
    options(site, fields.sites);
  }

  /** The form's patient data ({age, sex, site}; empty fields unknown), or null without it. */
  #patient(classifier) {
    if (!classifier.patientFields) return null;
    const { age, sex, site } = this.#parts;
    return { age: age.value, sex: sex.value, site: site.value };
  }

  /** A patient field changed: answer the shown photo again. */
  #patientChanged() {
    const { age, status } = this.#parts;
    if (!age.checkValidity()) {
      age.setAttribute('aria-invalid', 'true');
      status.textContent = `The age must be a whole number of years from 0 to ${age.max}.`;
      status.classList.add('error');
      return;
    }
    age.removeAttribute('aria-invalid');
    if (this.#lastPhoto) this.#answer(this.#lastPhoto, { again: true });
  }

  /** After the verdict is on screen: where the network looked, for the overlay. */
  async #explain(classifier, request) {
    this.#saliency = null;
    this.#parts.where.disabled = true;
    try {
      const saliency = await classifier.saliency();
      if (request !== this.#request) return;
      this.#saliency = saliency;
      this.#parts.where.disabled = false;
      this.dataset.saliencyMs = saliency.ms.toFixed(1);
      this.#drawCrop();
      this.dispatchEvent(new CustomEvent('saliency', { detail: saliency, bubbles: true, composed: true }));
    } catch (error) {
      console.warn(`no saliency map for this photo: ${error.message}`);
    }
  }

  #showPreview(photo) {
    if (this.#previewUrl) URL.revokeObjectURL(this.#previewUrl);
    this.#previewUrl = null;
    this.#photo = null;
    const { preview, seen } = this.#parts;
    preview.hidden = true;
    seen.hidden = true;
    if (!(photo instanceof Blob)) return;
    this.#previewUrl = URL.createObjectURL(photo);
    preview.onload = () => {
      preview.hidden = false;
      this.#photo = preview;
      this.#drawCrop();
    };
    preview.onerror = () => (preview.hidden = true);
    preview.src = this.#previewUrl;
  }

  /**
   * The crop the network saw (the central square, of which the network's input is the central
   * input/resize part), with the saliency map over it when the toggle is on.
   */
  #drawCrop() {
    const { crop, seen, where, result } = this.#parts;
    const photo = this.#photo;
    if (!photo || result.hidden) return;
    const context = crop.getContext('2d');
    const side = Math.min(photo.naturalWidth, photo.naturalHeight);
    const inner = side * this.#cropShare;
    const x = (photo.naturalWidth - inner) / 2;
    const y = (photo.naturalHeight - inner) / 2;
    context.globalAlpha = 1;
    context.drawImage(photo, x, y, inner, inner, 0, 0, crop.width, crop.height);
    seen.hidden = false;
    if (where.getAttribute('aria-pressed') === 'true' && this.#saliency) {
      context.globalAlpha = 0.55;
      context.imageSmoothingEnabled = true;
      context.drawImage(heatmap(this.#saliency), 0, 0, crop.width, crop.height);
      context.globalAlpha = 1;
    }
  }

  /** Show `detail`; `again`: it answers the shown photo again, without a network pass. */
  #render(detail, classes, again = false) {
    const { verdict, bars, meta, result, status, ood, showAnyway } = this.#parts;
    const byCode = Object.fromEntries(classes.map((c) => [c.code, c]));
    const top = byCode[detail.top];
    const strong = (c) => Object.assign(document.createElement('strong'), { textContent: `${c.name} (${c.code})` });
    if (detail.outOfDistribution) {
      verdict.replaceChildren('Not a dermatoscopy photo of a skin lesion.');
    } else if (detail.unsure) {
      const second = byCode[detail.candidates[1]];
      verdict.replaceChildren('Unsure between ', strong(top), ` (${percent(detail.probabilities[top.code])}) and `,
        strong(second), ` (${percent(detail.probabilities[second.code])}).`);
    } else {
      verdict.replaceChildren('Most likely: ', strong(top), `, with ${percent(detail.probabilities[detail.top])} confidence.`);
    }
    ood.hidden = !detail.outOfDistribution;
    bars.hidden = detail.outOfDistribution;
    showAnyway.setAttribute('aria-expanded', 'false');
    showAnyway.textContent = 'Show the model\u2019s answer anyway';
    const ranked = classes.map((c) => [c, detail.probabilities[c.code]]).sort((a, b) => b[1] - a[1]);
    bars.replaceChildren(...ranked.map(([c, p]) => bar(c, p)));
    meta.textContent = ranText(detail, again);
    result.hidden = false;
    this.#drawCrop();
    status.textContent = 'Done.';
    status.classList.remove('error');
    // On a phone the verdict lands below the fold: bring it into view.
    const box = verdict.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) {
      const still = window.matchMedia?.('(prefers-reduced-motion: reduce)').matches;
      verdict.scrollIntoView({ block: 'start', behavior: still ? 'auto' : 'smooth' });
    }
  }

  #fail(status, message) {
    this.#parts.result.hidden = true;
    this.#parts.preview.hidden = true;
    this.#parts.status.textContent = status;
    this.#parts.status.classList.add('error');
    this.dispatchEvent(new CustomEvent('error', { detail: { message }, bubbles: true, composed: true }));
  }
}

function bar(c, p) {
  const item = document.createElement('li');
  item.dataset.code = c.code;
  item.title = c.description;
  const name = Object.assign(document.createElement('span'), { className: 'name', textContent: c.name });
  const code = Object.assign(document.createElement('span'), { className: 'code', textContent: c.code });
  const track = Object.assign(document.createElement('span'), { className: 'bar' });
  const fill = Object.assign(document.createElement('span'), { className: 'fill' });
  fill.style.width = `${(100 * p).toFixed(2)}%`;
  track.append(fill);
  const value = Object.assign(document.createElement('span'), { className: 'value', textContent: percent(p) });
  item.setAttribute('aria-label', `${c.name}: ${percent(p)}`);
  item.append(name, code, track, value);
  return item;
}

/** The map as a small canvas: transparent where 0, warm and opaque towards 1. */
function heatmap({ map, side }) {
  const canvas = document.createElement('canvas');
  canvas.width = side;
  canvas.height = side;
  const context = canvas.getContext('2d');
  const image = context.createImageData(side, side);
  for (let i = 0; i < map.length; i++) {
    const v = map[i];
image.data.set([255, Math.round(200 * (1 - v)), 0, Math.round(230 * v * v)], 4 * i);
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

function capitalised(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Which backend ran the network over the photo and how long it took, and, for an answer given
 * again when the patient form changed, that this answer took only `ms` (the network did not
 * run again): "0.6 ms" alone would read as the network's time.
 */
function ranText(detail, again) {
  const ran = `Ran on ${backendName(detail.backend)} in ${detail.photoMs.toFixed(1)} ms`;
  const patient = detail.patientData ? `with the patient's ${detail.patientData}` : 'without patient data';
  if (again) return `${ran}; answered again in ${detail.ms.toFixed(1)} ms ${patient}.`;
  return detail.patientData ? `${ran}, ${patient}.` : `${ran}.`;
}

function backendName(backend) {
  return backend === 'webgpu' ? 'the GPU (WebGPU)' : 'the CPU (WebAssembly)';
}

if (!customElements.get('skin-lesion-classifier')) {
  customElements.define('skin-lesion-classifier', SkinLesionClassifierElement);
}
