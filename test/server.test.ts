// The studio's JSON API: registries, sigmas and exports, every bad input, saved schedules, static files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { getSigmas } from '../src/schedules/index.js';
import { modelSampling } from '../src/model-sampling/index.js';
import { limits } from '../src/server/schemas.js';
import { startTestStudio, json, rawGet, type TestStudio } from './server-helpers.js';

let studio: TestStudio;

before(async () => {
  studio = await startTestStudio();
});

after(async () => {
  await studio.stop();
});

test('GET /api/schedulers and /api/samplers list the registries', async () => {
  const s = await json(studio.base, 'GET', '/api/schedulers');
  assert.equal(s.status, 200);
  for (const name of ['karras', 'exponential', 'normal', 'ays', 'gits']) assert.ok(s.body.schedulers.includes(name), `missing ${name}`);
  assert.deepEqual(s.body.saved, []);
  const p = await json(studio.base, 'GET', '/api/samplers');
  assert.equal(p.status, 200);
  for (const name of ['euler', 'dpmpp_2m']) assert.ok(p.body.samplers.includes(name), `missing ${name}`);
  assert.match(s.body.descriptions.karras, /\S/);
  assert.equal(Object.keys(s.body.descriptions).length, s.body.schedulers.length);
  assert.match(p.body.descriptions.euler, /^order 1, deterministic/);
  assert.match(p.body.descriptions.euler_ancestral, /stochastic/);
  const m = await json(studio.base, 'GET', '/api/models');
  assert.equal(m.status, 200);
  assert.deepEqual(['sd15', 'sdxl', 'svd', 'flux'].filter((n) => m.body.models.some((x: { name: string }) => x.name === n)), ['sd15', 'sdxl', 'svd', 'flux']);
});

test('POST /api/sigmas returns every scheduler x steps, equal to getSigmas, with log-SNR and exports', async () => {
  const res = await json(studio.base, 'POST', '/api/sigmas', { model: 'sd15', schedulers: ['karras', 'ays', 'normal'], steps: [4, 10] });
  assert.equal(res.status, 200);
  assert.equal(res.body.results.length, 6);
  const ms = modelSampling('sd15');
  for (const r of res.body.results) {
    const expected = getSigmas({ model: 'sd15', scheduler: r.scheduler, steps: r.steps });
    assert.deepEqual(r.sigmas, expected, `${r.scheduler} ${r.steps}`);
    assert.equal(r.sigmas.length, r.steps + 1);
    assert.equal(r.logSnr.length, r.sigmas.length);
    assert.equal(r.logSnr[0], -2 * Math.log(r.sigmas[0]));
    assert.equal(r.logSnr[r.sigmas.length - 1], null, 'sigma 0 has no finite log-SNR');
    assert.deepEqual(JSON.parse(r.exports.json), r.sigmas);
    const comfy = r.exports.comfyui.split(',').map(Number);
    assert.equal(comfy.length, r.sigmas.length);
    comfy.forEach((v: number, i: number) => assert.ok(Math.abs(v - r.sigmas[i]) <= 1e-7 * Math.max(1, r.sigmas[i]), `comfy ${i}`));
    const timesteps = /^timesteps=\[(.*)\]$/.exec(r.exports.diffusers);
    assert.ok(timesteps, r.exports.diffusers);
    const ts = timesteps[1]!.split(', ').map(Number);
    assert.deepEqual(ts, r.sigmas.filter((s: number) => s > 0).map((s: number) => ms.timestep(s)));
  }
  // the SD1.5 AYS table at 10 steps starts at timestep 999
  const ays10 = res.body.results.find((r: { scheduler: string; steps: number }) => r.scheduler === 'ays' && r.steps === 10);
  assert.match(ays10.exports.diffusers, /^timesteps=\[999, /);
});

test('POST /api/sigmas on a flow model gives flow log-SNR and sigma*1000 timesteps; EDM gives sigmas=', async () => {
  const flux = await json(studio.base, 'POST', '/api/sigmas', { model: 'flux', schedulers: ['simple'], steps: [4] });
  assert.equal(flux.status, 200);
  const r = flux.body.results[0];
  const s1 = r.sigmas[1];
  assert.ok(Math.abs(r.logSnr[1] - 2 * Math.log((1 - s1) / s1)) < 1e-12);
  assert.match(r.exports.diffusers, /^timesteps=\[/);
  const svd = await json(studio.base, 'POST', '/api/sigmas', { model: 'svd', schedulers: ['karras'], steps: [4] });
  assert.equal(svd.status, 200);
  assert.match(svd.body.results[0].exports.diffusers, /^sigmas=\[700(\.\d+)?, 70\.5/);
});

// ---- bad input: every case answers 4xx with a message that says what is wrong --------------------

const badSigmas: Array<[string, unknown, RegExp]> = [
  ['unknown scheduler', { model: 'sd15', schedulers: ['karras', 'nope'], steps: [10] }, /unknown scheduler "nope".*karras/],
  ['unknown model', { model: 'sd99', schedulers: ['karras'], steps: [10] }, /unknown model "sd99".*sd15/],
  ['zero steps', { model: 'sd15', schedulers: ['karras'], steps: [0] }, /steps\/0 must be >= 1/],
  ['too many steps', { model: 'sd15', schedulers: ['karras'], steps: [limits.sigmaMaxSteps + 1] }, /must be <= 1000/],
  ['fractional steps', { model: 'sd15', schedulers: ['karras'], steps: [2.5] }, /must be integer/],
  ['steps as text', { model: 'sd15', schedulers: ['karras'], steps: ['10'] }, /must be integer/],
  ['missing steps', { model: 'sd15', schedulers: ['karras'] }, /must have required property 'steps'/],
  ['no schedulers', { model: 'sd15', schedulers: [], steps: [10] }, /must NOT have fewer than 1 items/],
  ['too many schedulers', { model: 'sd15', schedulers: new Array(limits.sigmaSchedulers + 1).fill('karras'), steps: [10] }, /must NOT have more than 16 items/],
  ['unknown field', { model: 'sd15', schedulers: ['karras'], steps: [10], extra: 1 }, /must NOT have additional properties/],
  ['denoise out of range', { model: 'sd15', schedulers: ['karras'], steps: [10], denoise: 2 }, /denoise must be <= 1/],
  ['custom without a list', { model: 'sd15', schedulers: ['custom'], steps: [10] }, /custom.*sigma list/],
  ['not an object', [1, 2, 3], /must be object/],
];

for (const [name, body, message] of badSigmas) {
  test(`POST /api/sigmas: ${name} -> 400`, async () => {
    const res = await json(studio.base, 'POST', '/api/sigmas', body);
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(res.body.message, message);
  });
}

test('POST /api/sigmas: malformed JSON -> 400, wrong content type -> 415', async () => {
  const res = await json(studio.base, 'POST', '/api/sigmas', '{"model": "sd15", ');
  assert.equal(res.status, 400);
  assert.match(res.body.message, /JSON/);
  const text = await fetch(`${studio.base}/api/sigmas`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
  assert.equal(text.status, 415);
});

test('a body over the size limit -> 413', async () => {
  const big = { model: 'sd15', schedulers: ['karras'], steps: [10], pad: 'x'.repeat(limits.bodyBytes + 10) };
  const res = await json(studio.base, 'POST', '/api/sigmas', big);
  assert.equal(res.status, 413);
  assert.match(res.body.message, /larger than 65536 bytes/);
});

const goodGrid = { schedulers: ['karras'], samplers: ['euler'], steps: [4], classes: [1], seed: 1, cfg: 2 };
const badGenerate: Array<[string, unknown, RegExp]> = [
  ['unknown sampler', { ...goodGrid, samplers: ['euler', 'warp_drive'] }, /unknown sampler "warp_drive".*euler/],
  ['unknown scheduler', { ...goodGrid, schedulers: ['fast'] }, /unknown scheduler "fast"/],
  ['unknown saved schedule', { ...goodGrid, schedulers: ['saved:none-such'] }, /unknown scheduler "saved:none-such"/],
  ['steps over the grid limit', { ...goodGrid, steps: [limits.gridMaxSteps + 1] }, /must be <= 100/],
  ['too many step counts', { ...goodGrid, steps: [1, 2, 3, 4, 5, 6, 7] }, /must NOT have more than 6 items/],
  [
    'grid too large',
    { ...goodGrid, schedulers: ['karras', 'normal', 'simple', 'exponential', 'beta', 'sgm_uniform'], samplers: ['euler', 'heun'], steps: [2, 4], classes: [0, 1, 2] },
    /grid too large: 12 rows x 6 columns = 72 cells; at most 64/,
  ],
  ['negative seed', { ...goodGrid, seed: -1 }, /seed must be >= 0/],
  ['cfg too high', { ...goodGrid, cfg: 31 }, /cfg must be <= 30/],
  ['class out of range', { ...goodGrid, classes: [10] }, /class 10 is out of range; this model has 10 classes/],
  ['unknown class name', { ...goodGrid, classes: ['spaceship'] }, /unknown class "spaceship"/],
  ['prompt for a class model', { ...goodGrid, prompt: 'a cat' }, /class-conditional and takes no prompt/],
  ['no classes', { schedulers: ['karras'], samplers: ['euler'], steps: [4], seed: 1, cfg: 2 }, /class-conditional: give "classes"/],
  ['missing seed', { schedulers: ['karras'], samplers: ['euler'], steps: [4], classes: [1], cfg: 2 }, /required property 'seed'/],
];

for (const [name, body, message] of badGenerate) {
  test(`POST /api/generate: ${name} -> 400`, async () => {
    const res = await json(studio.base, 'POST', '/api/generate', body);
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(res.body.message, message);
  });
}

test('unknown jobs -> 404 (GET, events, DELETE, files); malformed ids -> 400', async () => {
  const id = '00000000-0000-4000-8000-000000000000';
  for (const [method, path] of [
    ['GET', `/api/jobs/${id}`],
    ['GET', `/api/jobs/${id}/events`],
    ['DELETE', `/api/jobs/${id}`],
    ['GET', `/api/jobs/${id}/files/grid.png`],
  ] as const) {
    const res = await json(studio.base, method, path);
    assert.equal(res.status, 404, `${method} ${path}`);
    assert.match(res.body.message, /no job with id/);
  }
  const bad = await json(studio.base, 'GET', '/api/jobs/..%2f..%2fetc');
  assert.equal(bad.status, 400);
  const badFile = await json(studio.base, 'GET', `/api/jobs/${id}/files/..%2fpackage.json`);
  assert.equal(badFile.status, 400);
  const route = await json(studio.base, 'GET', '/api/no-such-thing');
  assert.equal(route.status, 404);
});

test('optimize: unknown target, unavailable method and bad steps -> 400', async () => {
  const t = await json(studio.base, 'GET', '/api/optimize/targets');
  assert.equal(t.status, 200);
  assert.ok(t.body.targets.some((x: { name: string }) => x.name === 'gmm2d-8x8'));
  const cases: Array<[unknown, RegExp]> = [
    [{ method: 'ays', target: 'moon', steps: 10 }, /unknown optimize target "moon"/],
    [{ method: 'dpo', target: 'gaussian', steps: 10 }, /method must be equal to one of the allowed values/],
    [{ method: 'ays', target: 'gaussian', steps: 1 }, /steps must be >= 2/],
    [{ method: 'ays', target: 'gaussian', steps: 10, maxSweeps: 100 }, /maxSweeps must be <= 12/],
  ];
  for (const [body, message] of cases) {
    const res = await json(studio.base, 'POST', '/api/optimize', body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(res.body.message, message);
  }
});

test('saved schedules: validated, never overwritten, usable as saved:<name> in /api/sigmas', async () => {
  const bad: Array<[unknown, RegExp, number]> = [
    [{ name: 'Bad Name', sigmas: [1, 0] }, /name must match pattern/, 400],
    [{ name: 'up', sigmas: [1, 2, 0] }, /sigmas must decrease strictly/, 400],
    [{ name: 'neg', sigmas: [1, -1] }, /must be >= 0/, 400],
    [{ name: 'zero-mid', sigmas: [2, 0, 0] }, /decrease strictly/, 400],
    [{ name: 'one', sigmas: [1] }, /must NOT have fewer than 2 items/, 400],
  ];
  for (const [body, message, status] of bad) {
    const res = await json(studio.base, 'POST', '/api/schedules/saved', body);
    assert.equal(res.status, status, JSON.stringify(body));
    assert.match(res.body.message, message);
  }
  const sigmas = [14.6146, 6.4745, 3.8636, 2.6946, 1.8841, 1.3943, 0.9642, 0.6523, 0.3983, 0.1525, 0];
  const ok = await json(studio.base, 'POST', '/api/schedules/saved', { name: 'mine', sigmas, model: 'sd15' });
  assert.equal(ok.status, 201);
  assert.equal(ok.body.scheduler, 'saved:mine');
  const again = await json(studio.base, 'POST', '/api/schedules/saved', { name: 'mine', sigmas: [2, 1, 0] });
  assert.equal(again.status, 409);
  assert.match(again.body.message, /already exists/);
  const listed = await json(studio.base, 'GET', '/api/schedulers');
  assert.deepEqual(listed.body.saved.map((s: { name: string }) => s.name), ['saved:mine']);
  const res = await json(studio.base, 'POST', '/api/sigmas', { model: 'sd15', schedulers: ['saved:mine'], steps: [10, 5] });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.results[0].sigmas, sigmas, 'same step count: the saved list as is');
  const five = res.body.results[1].sigmas;
  assert.equal(five.length, 6);
  assert.equal(five[0], sigmas[0]);
  assert.equal(five[4], sigmas[9], 'log-linear resampling keeps both ends');
  assert.equal(five[5], 0);
  // A fresh studio on the same folder finds it again.
  const { SavedSchedules } = await import('../src/server/saved-schedules.js');
  const store = new SavedSchedules(studio.outDir);
  await store.load();
  assert.deepEqual(store.get('mine')?.sigmas, sigmas);
});

test('static files: the app is served, traversal and dotfiles are not', async () => {
  const index = await rawGet(studio.port, '/');
  assert.equal(index.status, 200);
  assert.match(index.body, /<title>ays studio<\/title>/);
  for (const path of ['/../package.json', '/%2e%2e/package.json', '/..%2fpackage.json', '/assets/../../package.json', '/%2e%2e%2f%2e%2e%2fpackage.json', '/.%2e/.%2e/src/server/app.ts']) {
    const res = await rawGet(studio.port, path);
    assert.notEqual(res.status, 200, path);
    assert.doesNotMatch(res.body, /"name": "ays"|createStudio/, path);
  }
});

test('a foreign Host header is refused (DNS-rebinding guard)', async () => {
  const res = await rawGet(studio.port, '/api/schedulers', { host: 'evil.example:80' });
  assert.equal(res.status, 403);
  assert.match(res.body, /not allowed/);
});

test('a model folder that cannot be loaded answers 503 with the reason; the rest of the API still works', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { createStudio } = await import('../src/server/app.js');
  const { createBackend } = await import('../src/server/backend.js');
  const out = mkdtempSync(join(tmpdir(), 'ays-studio-nomodel-'));
  const broken = await createStudio({ outDir: out, backend: createBackend({ modelDir: join(out, 'no-such-model') }) });
  try {
    const model = await broken.app.inject({ method: 'GET', url: '/api/model' });
    assert.equal(model.statusCode, 503);
    assert.match(model.json().message, /could not be loaded: model folder not found/);
    const grid = await broken.app.inject({ method: 'POST', url: '/api/generate', payload: goodGrid });
    assert.equal(grid.statusCode, 503);
    const sigmas = await broken.app.inject({ method: 'POST', url: '/api/sigmas', payload: { model: 'sdxl', schedulers: ['ays'], steps: [10] } });
    assert.equal(sigmas.statusCode, 200);
  } finally {
    await broken.app.close();
    rmSync(out, { recursive: true, force: true });
  }
});

test('ays serve: prints its address, answers, stops on SIGTERM; bad options are usage errors', async () => {
  const { spawn, spawnSync } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const out = mkdtempSync(join(tmpdir(), 'ays-serve-cli-'));
  try {
    const bad = spawnSync(process.execPath, [cli, 'serve', '--port', 'http'], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr.trim(), 'ays: error: --port must be an integer in [0, 65535], got "http"');
    const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--out', join(out, 'studio')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const url = await new Promise<string>((resolve, reject) => {
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const m = /ays studio: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(text);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`ays serve exited early with ${code}`)));
    });
    const health = await fetch(`${url}api/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true, jobs: 0 });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
