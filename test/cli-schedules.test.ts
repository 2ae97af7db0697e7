import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getSigmas } from '../src/index.js';

const cli = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
const run = (args: string[], cwd?: string) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd });

test('ays schedulers prints one line per schedule', () => {
  const r = run(['schedulers']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.ok(lines.length >= 17);
  for (const name of ['ays', 'gits', 'karras', 'custom', 'kl_optimal']) assert.ok(lines.some((l) => l.startsWith(`${name} `)), name);
});

test('ays sigmas --json matches getSigmas, with timesteps for discrete models', () => {
  const r = run(['sigmas', '--model', 'sd15', '--scheduler', 'ays', '--steps', '12', '--denoise', '0.5', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.model, 'sd15');
  assert.equal(out.scheduler, 'ays');
  assert.equal(out.steps, 12);
  assert.equal(out.denoise, 0.5);
  assert.deepEqual(out.sigmas, getSigmas({ model: 'sd15', scheduler: 'ays', steps: 12, denoise: 0.5 }));
  assert.equal(out.timesteps.length, out.sigmas.length);
  assert.equal(out.timesteps.at(-1), null);
  const g = JSON.parse(run(['sigmas', '--scheduler', 'gits', '--coeff', '1.2', '--steps', '10', '--json']).stdout);
  assert.equal(g.coeff, 1.2);
  assert.equal(g.sigmas.length, 11);
  const d = JSON.parse(run(['sigmas', '--scheduler', 'karras', '--steps', '10', '--sampler', 'dpm_2', '--json']).stdout);
  assert.deepEqual(d.sigmas, getSigmas({ model: 'sd15', scheduler: 'karras', steps: 10, sampler: 'dpm_2' }));
  const svd = JSON.parse(run(['sigmas', '--model', 'svd', '--scheduler', 'ays', '--steps', '10', '--json']).stdout);
  assert.equal(svd.sigmas[0], 700);
  assert.equal(svd.timesteps, undefined);
});

test('ays sigmas table output and custom sigmas from --sigmas and --from', () => {
  const t = run(['sigmas', '--model', 'sd15', '--scheduler', 'karras', '--steps', '4']);
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /timestep/);
  assert.match(t.stdout, /14\.614/);
  const c = JSON.parse(run(['sigmas', '--sigmas', '14.6,7.1,2,0', '--json']).stdout);
  assert.equal(c.scheduler, 'custom');
  assert.deepEqual(c.sigmas, [14.6, 7.1, 2, 0]);
  const dir = mkdtempSync(join(tmpdir(), 'ays-cli-'));
  const file = join(dir, 'schedule.json');
  writeFileSync(file, JSON.stringify({ sigmas: [10, 5, 1, 0], master_sigmas: [10, 0] }));
  const f = JSON.parse(run(['sigmas', '--scheduler', 'custom', '--from', file, '--json']).stdout);
  assert.deepEqual(f.sigmas, [10, 5, 1, 0]);
  assert.equal(f.steps, 3);
});

test('ays sigmas rejects bad input with a one-line error and exit code 1', () => {
  const cases: [string[], RegExp][] = [
    [['sigmas', '--scheduler', 'karas'], /unknown scheduler "karas"; valid schedulers: simple/],
    [['sigmas', '--model', 'sd2'], /unknown model "sd2"/],
    [['sigmas', '--steps', '0'], /steps must be an integer >= 1/],
    [['sigmas', '--steps', 'ten'], /--steps must be an integer >= 1, got "ten"/],
    [['sigmas', '--denoise', '2'], /--denoise must be a number in \(0, 1\], got "2"/],
    [['sigmas', '--denoise', 'NaN'], /--denoise must be a number/],
    [['sigmas', '--scheduler', 'gits', '--coeff', '1.23'], /GITS coeff must be one of/],
    [['sigmas', '--sigmas', '1,2,0'], /strictly descending/],
    [['sigmas', '--from', '/nonexistent/x.json'], /cannot read/],
    [['sigmas', '--scheduler', 'karras', '--steps', '5', '--denoise', '0'], /--denoise must be a number in \(0, 1\], got "0"/],
    [['sigmas', '--scheduler', 'ays', '--steps', '10', '--denoise', '0.01'], /ays at 10 steps with --denoise 0\.01 keeps no step \(0 model calls\)/],
    [['sigmas', '--scheduler', 'karras', '--sampler', 'dpm2'], /unknown sampler "dpm2"; valid: .*dpm_2/],
  ];
  for (const [args, re] of cases) {
    const r = run(args);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, /^ays: error: /);
    assert.match(r.stderr, re, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('ays plot writes PNG and SVG, refuses to overwrite without --overwrite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ays-plot-'));
  const png = join(dir, 'schedules.png');
  const args = ['plot', '--model', 'sdxl', '--scheduler', 'ays,karras,normal,sgm_uniform', '--steps', '10', '--out', png];
  const r = run(args);
  assert.equal(r.status, 0, r.stderr);
  const bytes = readFileSync(png);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(bytes.readUInt32BE(16) >= 900 && bytes.readUInt32BE(20) >= 500, 'PNG size');
  assert.ok(statSync(png).size > 20000, 'a PNG with lines and text is not tiny');
  const again = run(args);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /schedules\.png already exists; refusing to overwrite it \(pass --overwrite to replace it\)/);
  assert.equal(readFileSync(png).compare(bytes), 0, 'file untouched');
  assert.equal(run([...args, '--overwrite']).status, 0);
  const svg = join(dir, 'schedules.svg');
  assert.equal(run(['plot', '--model', 'sd15', '--scheduler', 'ays,gits,kl_optimal', '--steps', '8', '--out', svg]).status, 0);
  const text = readFileSync(svg, 'utf8');
  for (const label of ['>ays<', '>gits (coeff 1.20)<', '>kl_optimal<', 'sigma (log scale)', '>step<']) assert.ok(text.includes(label), label);
  const mixed = join(dir, 'mixed.svg');
  const m = run(['plot', '--model', 'sd15', '--scheduler', 'ays,custom', '--sigmas', '14.6,5,1,0', '--steps', '6', '--out', mixed]);
  assert.equal(m.status, 0, m.stderr);
  assert.ok(readFileSync(mixed, 'utf8').includes('>custom<'));
  assert.match(run(['plot', '--scheduler', 'ays', '--sigmas', '3,1,0', '--out', join(dir, 'y.svg')]).stderr, /add custom to --scheduler/);
  const bad = run(['plot', '--scheduler', 'ays', '--out', join(dir, 'x.jpg')]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /must end in \.png or \.svg/);
  assert.ok(!existsSync(join(dir, 'x.jpg')));
});

test('ays sigmas --from: a schedule made for another sigma range is refused naming both ranges, unless --force', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ays-from-'));
  // what `ays optimize --testbed gmm2d-8x8` writes: an EDM range 0.002..80
  const edm = join(dir, 'edm.json');
  writeFileSync(edm, JSON.stringify({ format: 'ays-schedule', version: 1, method: 'ays', steps: 4, sigmas: [80, 12, 2, 0.2, 0], table: [80, 12, 2, 0.2, 0.002] }));
  const r = run(['sigmas', '--model', 'sd15', '--from', edm]);
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stderr.trim(), /^ays: error: --from .*edm\.json spans sigma 0\.2\.\.80, but sd15 has sigma 0\.02917\.\.14\.61; it was made for another model \(pass --force to use it anyway\)$/);
  const forced = run(['sigmas', '--model', 'sd15', '--from', edm, '--force', '--json']);
  assert.equal(forced.status, 0, forced.stderr);
  assert.deepEqual((JSON.parse(forced.stdout) as { sigmas: number[] }).sigmas, [80, 12, 2, 0.2, 0]);
  // a recorded range is compared with the model's: sd15's own range passes, on svd it is refused
  const sd15 = join(dir, 'sd15.json');
  writeFileSync(sd15, JSON.stringify({ sigmas: [14.6146, 3, 0.5, 0], model: { name: 'sd15', sampling: 'discrete', sigma_min: 0.0291675, sigma_max: 14.6146 } }));
  assert.equal(run(['sigmas', '--model', 'sd15', '--from', sd15]).status, 0);
  assert.equal(run(['sigmas', '--model', 'sdxl', '--from', sd15]).status, 0, 'sdxl has the same range');
  assert.match(run(['sigmas', '--model', 'svd', '--from', sd15]).stderr, /sd15\.json was made for sd15 with sigmas \[0\.0291675, 14\.6146\], but this model's range is \[0\.002, 700\]; pass --force/);
  // a bare list inside the model's range is fine
  const bare = join(dir, 'bare.json');
  writeFileSync(bare, '[10, 3, 1, 0]');
  assert.equal(run(['sigmas', '--model', 'sd15', '--from', bare]).status, 0);
});
