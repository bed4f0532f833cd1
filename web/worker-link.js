// Starting a module worker and talking to it by request id: shared by the page's module
// (skin-lesion-classifier.js, for the classifier worker) and by that worker (for its helper).

/** A module worker: same-origin directly; from a foreign origin, a blob shim that imports it. */
export function createWorker(url, options = {}) {
  const settings = { type: 'module', ...options };
  if (url.origin === self.location.origin) return new Worker(url, settings);
  const shim = new Blob([`import ${JSON.stringify(url.href)};`], { type: 'text/javascript' });
  return new Worker(URL.createObjectURL(shim), settings);
}

/**
 * Requests to a worker that answers {id, ok: true, result} or {id, ok: false, error: {name,
 * message}}; `toError(message, name)` makes the rejection. Worker errors are the owner's to handle.
 */
export class WorkerLink {
  #worker;
  #pending = new Map();
  #nextId = 1;

  constructor(worker, toError) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => {
      const pending = this.#pending.get(data.id);
      if (!pending) return;
      this.#pending.delete(data.id);
      if (data.ok) pending.resolve(data.result);
      else pending.reject(toError(data.error.message, data.error.name));
    };
  }

  get worker() {
    return this.#worker;
  }

  request(message, transfer = []) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** Reject every request still waiting. */
  failAll(error) {
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
  }
}
