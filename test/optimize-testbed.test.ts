import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultTestbedMethod, optimizeForTestbed, type HeldOutTable } from '../src/lab/optimize-testbed.js';

function heldOut(file: { made_by: Record<string, unknown> }): HeldOutTable {
  const h = file.made_by.held_out as HeldOutTable | undefined;
  assert.ok(h, 'the file carries the held-out table');
  return h;
}

for (const solver of ['euler', 'dpmpp_2m_sde']) {
  test(`testbed teacher (${solver}, gmm2d-6x6, 8 steps): beats its karras start on held-out noise by more than 3 paired standard errors`, async () => {
    assert.equal(defaultTestbedMethod, 'teacher');
    const file = await optimizeForTestbed({ testbed: 'gmm2d-6x6', solver, steps: 8, samples: 128, seed: 3, heldOutSamples: 256, teacherSteps: 50 });
    const h = heldOut(file);
    assert.equal(h.seed, 4003, 'held-out seed disjoint from the training seed');
    assert.equal(h.training_seed, 3);
    const start = h.rows.find((r) => r.scheduler === 'karras')!;
    assert.ok(start.diff! > 3 * start.diffStdErr!, `karras - optimized = ${start.diff} ± ${start.diffStdErr}`);
    assert.equal(h.improves_on_start, true);
    assert.equal(file.sigmas.length, 9);
    assert.equal(file.sigmas[0], 80);
    assert.equal(file.sigmas[8], 0);
  });
}

test('gmm2d-8x8, dpmpp_2m, 10 steps: the default optimized schedule has lower held-out NLL than karras and exponential', async () => {
  const file = await optimizeForTestbed({ testbed: 'gmm2d-8x8', solver: 'dpmpp_2m', steps: 10 });
  const h = heldOut(file);
  const row = (name: string) => h.rows.find((r) => r.scheduler === name)!;
  const opt = row('optimized');
  for (const name of ['karras', 'exponential']) {
    const other = row(name);
    const se = Math.hypot(opt.nllStdErr, other.nllStdErr);
    assert.ok(other.nll - opt.nll > 3 * se, `${name} NLL ${other.nll} vs optimized ${opt.nll} (se ${se})`);
  }
});

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

test('ays optimize --testbed: the default prints the held-out table and refuses bad seeds and --out before any work', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ays-opt-tb-'));
  const out = join(dir, 's.json');
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'optimize', ...args], { encoding: 'utf8' });
  const ok = run('--testbed', 'gmm2d-8x4', '--solver', 'dpmpp_2m', '--steps', '6', '--samples', '64', '--held-out-samples', '128', '--teacher-steps', '40', '--out', out);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /held-out noises: seed 4000, 128 samples \(training seed 0\)/);
  assert.match(ok.stdout, /^ {3}1 {2}optimized/m);
  const file = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(file.method, 'teacher');
  assert.equal(file.sigmas.length, 7);
  assert.match(run('--testbed', 'gmm2d-8x4', '--seed', '-1', '--out', join(dir, 'x.json')).stderr, /--seed must be a non-negative integer below 2\^64/);
  assert.match(run('--testbed', 'gmm2d-8x4', '--seed', '18446744073709551615', '--out', join(dir, 'x.json')).stderr, /--seed must be at most 2\^53-1/);
  assert.match(run('--testbed', 'gmm2d-8x4', '--steps', '0', '--out', join(dir, 'x.json')).stderr, /--steps must be an integer >= 1/);
  assert.match(run('--testbed', 'gmm2d-8x4', '--steps', '50', '--teacher-steps', '40', '--out', join(dir, 'x.json')).stderr, /beyond the teacher grid/);
  assert.match(run('--testbed', 'gmm2d-8x4', '--method', 'nope', '--out', join(dir, 'x.json')).stderr, /--method must be one of teacher, ays, gits/);
  assert.match(run('--testbed', 'gmm2d-8x4', '--out', join(out, 'x.json')).stderr, /is a file, not a folder/);
  assert.match(run('--testbed', 'gmm2d-8x4', '--out', out).stderr, /already exists/);
});
