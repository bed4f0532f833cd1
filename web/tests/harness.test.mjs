// The test harness itself: what it leaves behind on this machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const HARNESS = new URL('./harness.mjs', import.meta.url).href;

/** Runs `code` (an ES module body with the harness imported as `h`) in a node process of its own. */
function inChild(code) {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', `import * as h from '${HARNESS}';\n${code}`], {
    encoding: 'utf8',
  });
  return { status: run.status, dirs: run.stdout.trim().split('\n').filter(Boolean), stderr: run.stderr };
}

test('temporary folders are removed when the process ends, however it ends', () => {
  const body = `
    for (const prefix of ['harness-a-', 'harness-b-']) {
      const dir = h.tempDir(prefix);
      (await import('node:fs')).writeFileSync(dir + '/file', 'x');
      console.log(dir);
    }`;
  for (const [how, end] of [['normally', ''], ['by process.exit(1)', 'process.exit(1);'], ['by a throw', 'throw new Error("boom");']]) {
    const { status, dirs, stderr } = inChild(body + end);
    assert.equal(dirs.length, 2, `${how}: ${stderr}`);
    assert.equal(status === 0, how === 'normally', `${how}: exit status ${status}`);
    for (const dir of dirs) assert.ok(!existsSync(dir), `${how}: ${dir} was left behind`);
  }
});
