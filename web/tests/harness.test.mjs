// The test harness itself: what it leaves behind on this machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const HARNESS = new URL('./harness.mjs', import.meta.url).href;

function childArgs(code) {
  return ['--input-type=module', '-e', `import * as h from '${HARNESS}';\n${code}`];
}

/** Runs `code` (an ES module body with the harness imported as `h`) in a node process of its own. */
function inChild(code) {
  const run = spawnSync(process.execPath, childArgs(code), { encoding: 'utf8' });
  return { status: run.status, dirs: run.stdout.trim().split('\n').filter(Boolean), stderr: run.stderr };
}

/** A module body that makes two temporary folders, each holding a file, and prints their paths. */
const MAKE_TWO = `
    for (const prefix of ['harness-a-', 'harness-b-']) {
      const dir = h.tempDir(prefix);
      (await import('node:fs')).writeFileSync(dir + '/file', 'x');
      console.log(dir);
    }`;

test('temporary folders are removed when the process ends, however it ends', () => {
  for (const [how, end] of [['normally', ''], ['by process.exit(1)', 'process.exit(1);'], ['by a throw', 'throw new Error("boom");']]) {
    const { status, dirs, stderr } = inChild(MAKE_TWO + end);
    assert.equal(dirs.length, 2, `${how}: ${stderr}`);
    assert.equal(status === 0, how === 'normally', `${how}: exit status ${status}`);
    for (const dir of dirs) assert.ok(!existsSync(dir), `${how}: ${dir} was left behind`);
  }
});

/** Starts `code` in a node process of its own, sends it `signal` once it has printed `lines` lines, and resolves with how it ended. */
function signalledChild(code, lines, signal) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, childArgs(code), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const dirs = stdout.split('\n').filter(Boolean);
      if (!sent && dirs.length >= lines) {
        sent = true;
        child.kill(signal);
      }
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status, ended) => resolve({ status, ended, dirs: stdout.split('\n').filter(Boolean), stderr }));
  });
}

test('temporary folders are removed when a signal ends the process, which still ends by that signal', async () => {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    // The child would wait a minute; the signal is what ends it.
    const { status, ended, dirs, stderr } = await signalledChild(`${MAKE_TWO}\nsetTimeout(() => {}, 60000);`, 2, signal);
    assert.equal(dirs.length, 2, `${signal}: ${stderr}`);
    assert.deepEqual([status, ended], [null, signal], `${signal}: ended with status ${status}, signal ${ended}`);
    for (const dir of dirs) assert.ok(!existsSync(dir), `${signal}: ${dir} was left behind`);
  }
});
