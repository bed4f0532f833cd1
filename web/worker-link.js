// Starting a module worker and talking to it by request id: shared by the page's module
// (skin-lesion-classifier.js, for the classifier worker) and by that worker (for its helper).

const shims = new WeakMap(); // worker -> the blob: URL of its shim, revoked when it is closed

/** A module worker: same-origin directly; from a foreign origin, a blob shim that imports it. */
export function createWorker(url, options = {}) {
  const settings = { type: 'module', ...options };
  if (url.origin === self.location.origin) return new Worker(url, settings);
  const shim = URL.createObjectURL(new Blob([`import ${JSON.stringify(url.href)};`], { type: 'text/javascript' }));
  const worker = new Worker(shim, settings);
  shims.set(worker, shim);
  return worker;
}

/**
 * Requests to a worker that answers {id, ok: true, result} or {id, ok: false, error: {name,
 * message}}; `toError(message, name)` makes the rejection. Worker errors are the owner's to
 * handle; every request settles, with its answer, an error, or `Timeout` after `timeout` ms.
 */
export class WorkerLink {
  #worker;
  #toError;
  #pending = new Map();
  #nextId = 1;

  constructor(worker, toError) {
    this.#worker = worker;
    this.#toError = toError;
    worker.onmessage = ({ data }) => {
      const pending = this.#pending.get(data.id);
      if (!pending) return;
      this.#settle(data.id);
      if (data.ok) pending.resolve(data.result);
      else pending.reject(toError(data.error.message, data.error.name));
    };
  }

  get worker() {
    return this.#worker;
  }

  /** Requests sent and not yet answered, as {message, transfer} in the order they were sent. */
  get waiting() {
    return [...this.#pending.values()].map(({ message, transfer, resolve, reject }) => ({ message, transfer, resolve, reject }));
  }

  request(message, transfer = [], timeout = 0) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = timeout > 0
        ? setTimeout(() => {
          this.#settle(id);
          reject(this.#toError(`no answer from the classifier within ${Math.round(timeout / 1000)} s`, 'Timeout'));
        }, timeout)
        : null;
      this.#pending.set(id, { resolve, reject, timer, message, transfer });
      this.#worker.postMessage({ ...message, id }, transfer);
    });
  }

  #settle(id) {
    clearTimeout(this.#pending.get(id)?.timer);
    this.#pending.delete(id);
  }

  /** Reject every request still waiting. */
  failAll(error) {
    const waiting = [...this.#pending.values()];
    for (const id of [...this.#pending.keys()]) this.#settle(id);
    for (const { reject } of waiting) reject(error);
  }

  /** Fail what is waiting with `error`, stop the worker and release its shim. */
  close(error) {
    if (error) this.failAll(error);
    this.#worker.terminate();
    const shim = shims.get(this.#worker);
    if (shim) URL.revokeObjectURL(shim);
    shims.delete(this.#worker);
  }

  /** Forget the waiting requests without settling them (they are handed to another worker). */
  detach() {
    for (const id of [...this.#pending.keys()]) this.#settle(id);
  }
}
