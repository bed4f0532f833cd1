// Benchmark of two or more builds of the CPU module side by side in one Chromium page (prints
// figures; not a test): for each built dist/ given, the gzip size of its CPU module, its
// model load, the time of one worker's share of a photo (4 views through `viewSums`, one
// thread, no worker) and whether its sums are the first build's to the bit, the builds taking
// turns so that this machine's drift between sittings (a third) falls on all of them alike.
// The page benchmark (bench.mjs) times the whole widget instead, one page load per build, and
// its warm figure moved by 25% between page loads of the same files here.
//
//   node web/bench/modules.mjs DIST_A DIST_B [...]   (ROUNDS=20 by default; 5 photos a turn)
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { launch, openPage, samplePhotos, serve, tempDir } from '../tests/harness.mjs';

const dists = process.argv.slice(2);
if (dists.length < 2) {
  console.error('usage: node web/bench/modules.mjs DIST_A DIST_B [...]');
  process.exit(2);
}
const FILES = ['skin-lesion.js', 'skin-lesion_bg.wasm', 'config.json', 'model.bpk'];
const site = tempDir('module-bench-');
writeFileSync(path.join(site, 'index.html'), '<!doctype html><title>module bench</title>');
copyFileSync(samplePhotos(1)[4], path.join(site, 'photo.jpg'));
const names = dists.map((dist, i) => {
  const name = `build${i}`;
  mkdirSync(path.join(site, name));
  for (const file of FILES) copyFileSync(path.join(dist, file), path.join(site, name, file));
  return name;
});

const server = await serve(site);
const browser = await launch();
const { page } = await openPage(browser, `${server.origin}/index.html`, { hideGpu: true });
const results = await page.evaluate(async ({ names, rounds }) => {
  const photo = new Uint8Array(await (await fetch('/photo.jpg')).arrayBuffer());
  const builds = [];
  for (const name of names) {
    const module = await import(`/${name}/skin-lesion.js`);
    await module.default({ module_or_path: `/${name}/skin-lesion_bg.wasm` });
    const config = await (await fetch(`/${name}/config.json`)).text();
    const weights = new Uint8Array(await (await fetch(`/${name}/model.bpk`)).arrayBuffer());
    const t0 = performance.now();
    const classifier = await module.WebClassifier.load(config, weights, 'cpu');
    builds.push({ classifier, input: classifier.prepare(photo), loadMs: performance.now() - t0, times: [] });
  }
  for (let round = 0; round < rounds; round++) {
    for (const build of builds) {
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        build.sums = await build.classifier.viewSums(build.input, 0, 4);
        build.times.push(performance.now() - t);
      }
    }
  }
  // Whether each build's sums (logits and features of the 4 views) are the first build's to
  // the bit: a build option that only changes speed must not change a number.
  const bits = (sums) => new Uint32Array(sums.buffer, sums.byteOffset, sums.length);
  const same = (a, b) => a.length === b.length && bits(a).every((v, i) => v === bits(b)[i]);
  return builds.map(({ loadMs, times, sums }) => ({
    loadMs, times, same: same(sums, builds[0].sums),
  }));
}, { names, rounds: Number(process.env.ROUNDS ?? 20) });
await browser.close();
await server.close();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log('CPU module in one page, one thread: model load, then 4 views of one photo (median, least)');
dists.forEach((dist, i) => {
  const { loadMs, times, same } = results[i];
  const gz = gzipSync(readFileSync(path.join(dist, 'skin-lesion_bg.wasm')), { level: 9 }).length;
  console.log(`  ${dist.padEnd(28)} module ${(gz / 1024).toFixed(0).padStart(5)} KiB gzip | load ${loadMs.toFixed(0).padStart(5)} ms | ` +
    `4 views ${median(times).toFixed(1)} ms (least ${Math.min(...times).toFixed(1)})` +
    (i === 0 ? '' : ` | sums ${same ? 'the same to the bit' : 'DIFFER'} as ${dists[0]}'s`));
});
