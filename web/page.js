// The page's own script: makes the page work offline after the first visit (the service worker
// in sw.js). It registers once the widget is ready, so that the files the worker caches are
// already in the browser's HTTP cache and are only revalidated, not downloaded twice. The
// widget itself never registers a service worker: sites that embed it decide.
import { offline } from './skin-lesion-classifier.js';

const register = () => offline().catch((error) => console.warn(`the page will not work offline: ${error.message}`));
const widget = document.querySelector('skin-lesion-classifier');
if (widget?.dataset.ready) register();
else document.addEventListener('ready', register, { once: true });
