// Renders the model's evaluation report (report.json, written by `train-native`) into the page:
// headline figures, confusion-matrix heatmap, per-class table, training curves and model card.
// Everything is built with DOM calls (no innerHTML, no inline styles), so it runs under the
// page's strict Content-Security-Policy.

const SVG = 'http://www.w3.org/2000/svg';

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

const fixed = (x, digits = 3) => Number(x).toFixed(digits);
const pct = (x) => `${(100 * x).toFixed(1)}%`;

function headline(report) {
  const tested = report.confusion_matrix.flat().reduce((a, b) => a + b, 0);
  const figures = [
    ['Balanced accuracy', fixed(report.balanced_accuracy), 'mean recall over the seven classes: the figure that matters with skewed classes'],
    ['Macro F1', fixed(report.macro_f1), 'F1 averaged over classes, each weighing the same'],
    ['Macro AUC', fixed(report.macro_auc), 'one-vs-rest ROC AUC, averaged over classes'],
    ['Accuracy', fixed(report.accuracy), 'share of test photos right; flattered by the 66% of nevi'],
    ['Test photos', tested.toLocaleString('en'), 'held-out lesions, never used for training or model selection'],
  ];
  return el('dl', { className: 'figures' }, ...figures.map(([name, value, help]) =>
    el('div', { className: 'figure', title: help }, el('dt', { textContent: name }), el('dd', { textContent: value }))));
}

function confusion(report) {
  const table = el('table', { className: 'confusion' });
  table.append(el('caption', { textContent: 'Rows: true class; columns: predicted class. Colour: share of the row.' }));
  const head = el('tr', {}, el('th', { scope: 'col', textContent: 'true \\ predicted' }));
  for (const code of report.classes) head.append(el('th', { scope: 'col', textContent: code }));
  table.append(el('thead', {}, head));
  const body = el('tbody');
  report.confusion_matrix.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    const tr = el('tr', {}, el('th', { scope: 'row', textContent: report.classes[i] }));
    row.forEach((count, j) => {
      const share = count / total;
      const cell = el('td', { textContent: count, title: `${report.classes[i]} predicted as ${report.classes[j]}: ${count} (${pct(share)} of the row)` });
      // Diagonal (right answers) in blue, mistakes in red; CSSOM writes are allowed by the CSP.
      const hue = i === j ? 220 : 5;
      cell.style.backgroundColor = `hsl(${hue} 70% ${Math.round(97 - 55 * share)}%)`;
      if (share > 0.55) cell.classList.add('dark');
      if (i === j) cell.classList.add('diagonal');
      tr.append(cell);
    });
    body.append(tr);
  });
  table.append(body);
  return el('div', { className: 'scroll' }, table);
}

function perClass(report) {
  const table = el('table', { className: 'per-class' });
  table.append(el('thead', {}, el('tr', {}, ...['Class', 'Precision', 'Recall', 'F1', 'Support'].map((h) => el('th', { scope: 'col', textContent: h })))));
  const body = el('tbody');
  for (const code of report.classes) {
    const m = report.per_class[code];
    body.append(el('tr', {},
      el('th', { scope: 'row' }, el('span', { className: 'class-name', textContent: code }), ' ', el('code', { textContent: code })),
      el('td', { textContent: fixed(m.precision, 2) }),
      el('td', { textContent: fixed(m.recall, 2) }),
      el('td', { textContent: fixed(m.f1, 2) }),
      el('td', { textContent: m.support })));
  }
  table.append(body);
  return el('div', { className: 'scroll' }, table);
}

/** One line chart: epochs on x, `series` ([{label, key, cls}]) on y. */
function chart(title, history, series, { from0 = false, max = null } = {}) {
  const width = 460, height = 260, left = 48, right = 12, top = 28, bottom = 36;
  const values = series.flatMap((s) => history.map((h) => h[s.key]).filter(Number.isFinite));
  let lo = from0 ? 0 : Math.min(...values), hi = max ?? Math.max(...values);
  if (hi - lo < 1e-9) hi = lo + 1;
  const epochs = history.map((h) => h.epoch);
  const [e0, e1] = [Math.min(...epochs), Math.max(...epochs)];
  const x = (e) => left + ((e - e0) / Math.max(1, e1 - e0)) * (width - left - right);
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (height - top - bottom);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, class: 'chart' });
  root.append(svg('title', {}, title));
  root.append(svg('text', { x: left, y: 16, class: 'chart-title' }, title));
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    root.append(svg('line', { x1: left, x2: width - right, y1: y(v), y2: y(v), class: 'grid' }));
    root.append(svg('text', { x: left - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, v.toFixed(2)));
  }
  const step = Math.max(1, Math.ceil((e1 - e0) / 8));
  for (let e = e0; e <= e1; e += step) {
    root.append(svg('text', { x: x(e), y: height - bottom + 16, class: 'tick', 'text-anchor': 'middle' }, String(e)));
  }
  root.append(svg('text', { x: (left + width - right) / 2, y: height - 4, class: 'axis', 'text-anchor': 'middle' }, 'epoch'));
  series.forEach((s, i) => {
    const points = history.filter((h) => Number.isFinite(h[s.key])).map((h) => `${x(h.epoch).toFixed(1)},${y(h[s.key]).toFixed(1)}`);
    root.append(svg('polyline', { points: points.join(' '), class: `line ${s.cls}` }));
    const lx = left + 8 + i * 150;
    root.append(svg('line', { x1: lx, x2: lx + 18, y1: top + 6, y2: top + 6, class: `line ${s.cls}` }));
    root.append(svg('text', { x: lx + 22, y: top + 10, class: 'legend' }, s.label));
  });
  return root;
}

function curves(report) {
  const history = report.history;
  return el('div', { className: 'charts' },
    chart('Loss', history, [
      { label: 'train', key: 'train_loss', cls: 'train' },
      { label: 'validation', key: 'val_loss', cls: 'val' },
    ], { from0: true }),
    chart('Accuracy', history, [
      { label: 'train accuracy', key: 'train_accuracy', cls: 'train' },
      { label: 'val accuracy', key: 'val_accuracy', cls: 'val' },
      { label: 'val balanced acc.', key: 'val_balanced_accuracy', cls: 'val-balanced' },
    ], { from0: true, max: 1 }));
}

// How the shipped weights were chosen on validation: the figures there, and the decision
// offsets folded into the classifier (absent from reports of uncalibrated models).
function selection(report) {
  const m = report.model;
  const figures = `Validation (the best epoch as shipped): balanced accuracy ${m.validation.balanced_accuracy.toFixed(3)}, macro F1 ${m.validation.macro_f1.toFixed(3)}.`;
  const c = m.calibration;
  if (!c) return `${figures} No decision offsets.`;
  const offsets = report.classes.map((code, i) => `${code} ${c.offsets[i] >= 0 ? '+' : '−'}${Math.abs(c.offsets[i]).toFixed(1)}`).join(', ');
  const range = c.cross_fit?.length ? ` within ±${c.offset_limit}, a range chosen by cross-fitting on halves of validation` : '';
  return `${figures} Decision offsets added to the logits (${c.objective}${range}): ${offsets}.`;
}

function modelCard(report) {
  const m = report.model;
  const counts = (split) => m.split_counts[split].reduce((a, b) => a + b, 0).toLocaleString('en');
  const minutes = (m.training_seconds / 60).toFixed(1);
  const rows = [
    ['Architecture', m.architecture],
    ['Input', `${m.input_size.join(' × ')} (RGB); ${m.preprocessing}`],
    ['Parameters', `${m.parameters.toLocaleString('en')} (weights ${(m.weights_bytes / 1e6).toFixed(2)} MB, SHA-256 ${m.weights_sha256.slice(0, 16)}…)`],
    ['Data set', `${m.dataset}. Licence: ${m.dataset_license}.`],
    ['Split', `${m.split_method} (seed ${m.split_seed}): ${counts('train')} / ${counts('val')} / ${counts('test')} photos.`],
    ['Training', `${minutes} minutes on ${m.hardware}, ${m.backend}; best epoch ${m.best_epoch}.`],
    ['Model selection', selection(report)],
    ['Known limits', 'Trained on dermatoscopy photos only: phone snapshots, other skin conditions and other populations are out of its scope. ' +
      'HAM10000 is skewed (two in three photos are nevi; dermatofibroma and vascular lesions have about a hundred photos each) and mostly from fair-skinned patients. ' +
      'It sees a 64 × 64 pixel version of the photo. This is a research demo, not a medical device, and not a diagnosis.'],
  ];
  return el('dl', { className: 'card' }, ...rows.flatMap(([k, v]) => [el('dt', { textContent: k }), el('dd', { textContent: v })]));
}

async function render(target) {
  const status = target.querySelector('.report-status');
  try {
    const response = await fetch(new URL('report.json', import.meta.url));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const report = await response.json();
    target.querySelector('#headline').append(headline(report));
    target.querySelector('#confusion').append(confusion(report));
    target.querySelector('#per-class').append(perClass(report));
    target.querySelector('#curves').append(curves(report));
    target.querySelector('#model-card').append(modelCard(report));
    status.remove();
    target.dataset.rendered = 'true';
    nameClasses(target);
  } catch (error) {
    status.textContent = `The evaluation report could not be loaded (${error.message}).`;
  }
}

/** Full class names come from the model (the Rust class list), not a second copy here. */
async function nameClasses(target) {
  try {
    const { load } = await import('./skin-lesion-classifier.js');
    const names = Object.fromEntries((await load({})).classes.map((c) => [c.code, c.name]));
    for (const cell of target.querySelectorAll('.per-class tbody tr')) {
      const code = cell.querySelector('code').textContent;
      cell.querySelector('.class-name').textContent = names[code] ?? code;
    }
    for (const th of target.querySelectorAll('.confusion th[scope=row], .confusion thead th')) {
      if (names[th.textContent]) th.title = names[th.textContent];
    }
  } catch {
    // The widget shows why the model failed to load; the report keeps the codes.
  }
}

const section = document.querySelector('#report');
if (section) render(section);
