// The page's service worker: after one visit, the page, the CPU module and the model work with
// the network off. Registered by page.js as `sw.js?model=<checksum>`, the SHA-256 that ties
// config.json to model.bpk: a new model is a new service worker with a cache of its own, which
// replaces the old one's once installed.
//
// Online, every request goes to the network first and the cache is refreshed with the answer,
// so a new model is used on the first reload after it is published; offline, the cache
// answers. Only this origin's GET requests under the worker's scope are touched. Sites that
// embed the widget are not served by it unless they register it themselves (see the README).

const VERSION = new URL(self.location.href).searchParams.get('model') ?? 'unversioned';
const PREFIX = 'skin-lesion-';
const CACHE = `${PREFIX}${VERSION}`;

/** What the page needs to start offline (the WebGPU module is cached once it is used). */
const SHELL = [
  './', 'index.html', 'page.css', 'page.js', 'report.js', 'favicon.svg', 'manifest.webmanifest', 'icon-192.png', 'icon-512.png',
  'skin-lesion-classifier.js', 'skin-lesion-classifier.css', 'classifier-worker.js', 'worker-link.js',
  'skin-lesion.js', 'skin-lesion_bg.wasm',
  'config.json', 'model.bpk', 'report.json',
  'training_curves.svg', 'confusion_matrix.svg', 'reliability.svg', 'risk_coverage.svg',
];

/**
 * Each file is tried this often: Chromium fails one of two downloads of one file that run at
 * once (net::ERR_CACHE_WRITE_FAILURE), as when the widget's worker restarts and fetches
 * model.bpk while this worker caches it; one failed file would otherwise leave the page
 * without offline use until the next visit.
 */
const ATTEMPTS = 3;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    try {
      await Promise.all(SHELL.map((file) => add(cache, new URL(file, self.registration.scope))));
    } catch (error) {
      await caches.delete(CACHE);
      throw error;
    }
    await self.skipWaiting();
  })());
});

async function add(cache, url) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await cache.add(new Request(url, { cache: 'no-cache' }));
    } catch (error) {
      if (attempt >= ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith(PREFIX) && n !== CACHE).map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || !request.url.startsWith(self.registration.scope)) return;
  event.respondWith(networkFirst(request));
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request, { cache: 'no-cache' });
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    throw error;
  }
}
