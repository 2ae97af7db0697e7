import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

const cli = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const names: string[] = JSON.parse(readFileSync(new URL('../../test/fixtures/comfyui/samplers_ays10.json', import.meta.url), 'utf8')).sampler_names;

test('ays samplers prints one line per ComfyUI sampler with order, stochasticity and NFE per step', () => {
  const r = run(['samplers']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, names.length);
  for (const name of names) {
    const line = lines.find((l) => l.startsWith(`${name} `));
    assert.ok(line, `no line for ${name}`);
    assert.match(line!, /order \d/);
    assert.match(line!, /(stochastic|deterministic)/);
    assert.match(line!, /nfe\/step/);
  }
  assert.match(lines.find((l) => l.startsWith('euler_ancestral '))!, /stochastic/);
  assert.match(lines.find((l) => l.startsWith('dpmpp_2m '))!, /deterministic/);
});

test('ays samplers --json lists names and defaults', () => {
  const r = run(['samplers', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Array<{ name: string; defaults: Record<string, unknown> }>;
  assert.deepEqual(rows.map((x) => x.name), names);
  assert.equal(rows.find((x) => x.name === 'dpm_adaptive')!.defaults.rtol, 0.05);
});
