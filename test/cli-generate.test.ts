// `ays generate` (and the option rules every command shares): bad input is one line naming the problem, before
// the model loads; seeds are exact 64-bit values; the output policy is checked first; outputs agree on the seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPngText, parseParameters } from '../src/image/png.js';
import { writeFixtureModels } from '../src/fixtures/stable-diffusion-tiny.js';
import { parseSeed, parseSigmaList, parseSteps, checkOutputFiles, checkOutputFolder, seedJson, parseCfg } from '../src/cli/options.js';

const cli = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'ays-cli-gen-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: tmp });

/** A usage error: exit 1, one line on stderr, nothing written. */
function refused(args: string[], pattern: RegExp): string {
  const r = run(args);
  assert.equal(r.status, 1, `expected exit 1 for ${args.join(' ')}; stdout ${r.stdout} stderr ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got: ${r.stderr}`);
  assert.match(lines[0]!, /^ays: error: /);
  assert.match(lines[0]!, pattern);
  return lines[0]!;
}

test('seeds are parsed exactly: 2^64-1 is accepted, 2^64 refused quoting what was typed', () => {
  assert.equal(parseSeed('18446744073709551615'), 18446744073709551615n);
  assert.equal(parseSeed(' 0 '), 0n);
  assert.equal(seedJson(parseSeed('18446744073709551615')), '18446744073709551615');
  assert.equal(seedJson(42), '42');
  const line = refused(['generate', '--seed', '18446744073709551616', '--out', 'a.png'], /--seed must be a non-negative integer below 2\^64 \(0 \.\. 18446744073709551615\)/);
  assert.match(line, /got "18446744073709551616"/);
  for (const bad of ['-1', '1.5', '1e3', 'abc', '']) {
    assert.throws(() => parseSeed(bad), (e: Error) => e.message.endsWith(`got "${bad}"`));
  }
});

test('--sigmas: an empty entry is an error, not dropped; the list is checked by the one validator', () => {
  refused(['generate', '--sigmas', '14,,3,0', '--out', 'a.png'], /--sigmas has an empty entry \(number 2\) in "14,,3,0"/);
  refused(['sigmas', '--scheduler', 'custom', '--sigmas', '14,3,,0'], /--sigmas has an empty entry \(number 3\)/);
  assert.throws(() => parseSigmaList('14,3,0,'), /empty entry \(number 4\)/);
  assert.throws(() => parseSigmaList('3,14,0'), /--sigmas must be strictly descending/);
  assert.deepEqual(parseSigmaList('14.6, 3 1,0'), [14.6, 3, 1, 0]);
  assert.deepEqual(parseSigmaList('[14.6, 3, 0]'), [14.6, 3, 0]);
});

test('the steps error reads one way in every command', () => {
  const want = /--steps must be an integer >= 1, got 0$/;
  refused(['generate', '--steps', '0', '--out', 'a.png'], want);
  refused(['sigmas', '--steps', '0'], want);
  refused(['plot', '--scheduler', 'ays', '--steps', '0', '--out', 'p.svg'], want);
  refused(['generate', '--steps', 'ten', '--out', 'a.png'], /--steps must be an integer >= 1, got "ten"$/);
  assert.equal(parseSteps('12'), 12);
});

test('output policy: a missing folder is created when the file is written, the same in every command; nothing is created when a check fails', () => {
  // checks fail first: no folder appears
  refused(['generate', '--out', 'later/a.png', '--steps', '0'], /--steps must be an integer >= 1/);
  refused(['plot', '--scheduler', 'nope', '--out', 'later/p.svg'], /unknown scheduler "nope"/);
  refused(['serve', '--out', 'later/studio', '--port', 'x'], /--port must be an integer/);
  assert.ok(!existsSync(join(tmp, 'later')), 'nothing was created');
  // a file in the path is named
  writeFileSync(join(tmp, 'plainfile'), 'x');
  refused(['generate', '--out', 'plainfile/a.png'], /--out plainfile\/a\.png: .*plainfile is a file, not a folder/);
  refused(['plot', '--scheduler', 'ays', '--out', 'plainfile/deeper/p.svg'], /plainfile is a file, not a folder/);
  assert.throws(() => checkOutputFolder(join(tmp, 'plainfile', 'studio')), /plainfile is a file, not a folder/);
  // plot creates the folder, as generate does
  const r = run(['plot', '--scheduler', 'ays', '--out', 'made/here/p.svg']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(tmp, 'made', 'here', 'p.svg')));
});

test('output policy: an existing file is refused without --overwrite, in one wording; a folder given as --out is named', () => {
  const exists = (name: string) => new RegExp(`${name.replace('.', '\\.')} already exists; refusing to overwrite it \\(pass --overwrite to replace it\\)$`);
  writeFileSync(join(tmp, 'taken.png'), 'x');
  refused(['generate', '--out', 'taken.png'], exists('taken.png'));
  writeFileSync(join(tmp, 'batch-1.png'), 'x');
  refused(['generate', '--out', 'batch.png', '--batch', '2'], exists('batch-1.png'));
  writeFileSync(join(tmp, 'taken.svg'), 'x');
  refused(['plot', '--scheduler', 'ays', '--out', 'taken.svg'], exists('taken.svg'));
  mkdirSync(join(tmp, 'adir.png'), { recursive: true });
  refused(['generate', '--out', 'adir.png'], /--out adir\.png is a folder; give a file name/);
  // the sidecar counts too
  writeFileSync(join(tmp, 'side.json'), 'x');
  refused(['generate', '--out', 'side.png'], exists('side.json'));
  assert.throws(() => checkOutputFiles([join(tmp, 'taken.png')]), /already exists/);
  assert.doesNotThrow(() => checkOutputFiles([join(tmp, 'taken.png')], { overwrite: true }));
  writeFileSync(join(tmp, 'afile'), 'x');
  assert.throws(() => checkOutputFolder(join(tmp, 'afile')), /exists and is not a folder/);
});

test('output policy: an unwritable folder is named in one line', (t) => {
  if (process.getuid?.() === 0) {
    t.skip('running as root: permissions are not enforced');
    return;
  }
  const ro = join(tmp, 'readonly');
  mkdirSync(ro);
  chmodSync(ro, 0o555);
  refused(['generate', '--out', join(ro, 'a.png')], /cannot write in folder .*readonly \(permission denied\)/);
  refused(['plot', '--scheduler', 'ays', '--out', join(ro, 'p.svg')], /cannot write in folder .*readonly/);
});

test('output policy: a folder that refuses new files (even to root) is named before any work', (t) => {
  if (process.platform !== 'linux') {
    t.skip('needs /proc, which refuses new files on Linux');
    return;
  }
  // root passes access(W_OK) on /proc; only creating a file tells
  refused(['generate', '--out', '/proc/a.png'], /--out \/proc\/a\.png: cannot create files in folder \/proc \(E[A-Z]+\)/);
  refused(['optimize', '--testbed', 'gaussian', '--solver', 'euler', '--steps', '4', '--out', '/proc/o.json'], /cannot create files in folder \/proc/);
  // the probe file is removed again
  checkOutputFiles([join(tmp, 'probe-test.png')]);
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('.ays-write-check')), []);
});

test('generate: degenerate settings and bad files are errors naming why', () => {
  refused(['generate', '--sampler', 'dpm_adaptive', '--sigmas', '14,0', '--out', 'a.png'], /dpm_adaptive .* only one non-zero sigma/);
  refused(['generate', '--init', 'x.png', '--denoise', '0', '--out', 'a.png'], /--denoise must be a number in \(0, 1\], got "0"/);
  refused(['generate', '--init', '.', '--denoise', '0.5', '--out', 'a.png'], /is a folder, not an image file/);
  refused(['generate', '--init', 'missing.png', '--denoise', '0.5', '--out', 'a.png'], /image file not found: .*missing\.png/);
  refused(['generate', '--cfg', '-1', '--out', 'a.png'], /--cfg must be a number >= 0, got "-1"/);
});

test('--cfg far out of range warns (one line) and still runs', () => {
  const warnings: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  (process.stderr as { write: unknown }).write = (chunk: string) => {
    warnings.push(String(chunk));
    return true;
  };
  try {
    assert.equal(parseCfg('7'), 7);
    assert.equal(warnings.length, 0);
    assert.equal(parseCfg('1e9'), 1e9);
  } finally {
    (process.stderr as { write: unknown }).write = write;
  }
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^ays: warning: --cfg 1e9 is far above the usual 1\.\.30/);
});

test('generate on the bundled model: --json and the sidecar carry the same exact seed; the PNG says the steps run', () => {
  const seed = '18446744073709551615';
  const r = run(['generate', '--class', 'sneaker', '--steps', '3', '--seed', seed, '--out', 'big.png', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { seed: string; steps: number; sidecar: string };
  assert.equal(summary.seed, seed);
  const sidecar = JSON.parse(readFileSync(join(tmp, 'big.json'), 'utf8')) as { seed: string; steps: number };
  assert.equal(sidecar.seed, seed);
  assert.equal(sidecar.steps, 3);
  assert.equal(summary.steps, 3);
  const params = parseParameters(readPngText(readFileSync(join(tmp, 'big.png'))).parameters!);
  assert.equal(params.settings.Seed, seed);
  assert.equal(params.settings.Steps, '3');
});

test('generate --init with --denoise (SD fixture model): the PNG Steps equals the steps the run made', () => {
  const [sd15] = writeFixtureModels(join(tmp, 'models'));
  const common = ['generate', '--model', sd15!, '--prompt', 'a cat', '--width', '64', '--height', '64', '--seed', '3', '--sampler', 'euler'];
  const r0 = run([...common, '--steps', '2', '--out', 'init.png']);
  assert.equal(r0.status, 0, r0.stderr);
  // ays keeps the last round(steps * denoise) + 1 sigmas: 5 steps of 10
  const r = run([...common, '--scheduler', 'ays', '--init', 'init.png', '--denoise', '0.5', '--steps', '10', '--out', 'i2i.png', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const sidecar = JSON.parse(readFileSync(join(tmp, 'i2i.json'), 'utf8')) as { steps: number; sigmas: number[] };
  assert.equal(sidecar.steps, 5);
  assert.equal(sidecar.sigmas.length, 6);
  assert.equal((JSON.parse(r.stdout) as { steps: number }).steps, 5);
  const params = parseParameters(readPngText(readFileSync(join(tmp, 'i2i.png'))).parameters!);
  assert.equal(params.settings.Steps, String(sidecar.steps), 'PNG Steps = steps run');
  // denoise so small that ays keeps no step: refused, naming why, and nothing written
  const tiny = run([...common, '--scheduler', 'ays', '--init', 'init.png', '--denoise', '0.01', '--steps', '10', '--out', 'none.png']);
  assert.equal(tiny.status, 1, tiny.stdout);
  assert.match(tiny.stderr.trim(), /^ays: error: .*(0 steps|no step|0 model calls|zero)/);
  assert.ok(!existsSync(join(tmp, 'none.png')));
});
