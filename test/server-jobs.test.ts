// The studio's jobs: a grid rendered by the bundled model with SSE events, the server answering while it
// renders, cancel, the queue limit, and an optimization run with its sweep events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { startTestStudio, json, readEvents, type TestStudio } from './server-helpers.js';

let studio: TestStudio;

before(async () => {
  studio = await startTestStudio({ concurrency: 1, maxQueued: 3 });
});

after(async () => {
  await studio.stop();
});

const smallGrid = { schedulers: ['karras', 'normal'], samplers: ['euler'], steps: [4, 6], classes: [7], seed: 3, cfg: 2 };

test('a 2x2 grid: 202 with a job, cells arrive over SSE, files are unique PNGs, grid PNG at the end', async () => {
  const res = await json(studio.base, 'POST', '/api/generate', smallGrid);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const id = res.body.job.id;
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(res.body.events, `/api/jobs/${id}/events`);
  const events = await readEvents(studio.base, id);
  const names = events.map((e) => e.event);
  assert.equal(names[names.length - 1], 'done', names.join(','));
  const plan = events.find((e) => e.event === 'plan')!.data;
  assert.deepEqual(plan.rows, ['karras · euler', 'normal · euler']);
  assert.equal(plan.cells, 4);
  const cells = events.filter((e) => e.event === 'cell').map((e) => e.data);
  assert.deepEqual(cells.map((c) => c.index).sort(), [0, 1, 2, 3]);
  const progress = events.filter((e) => e.event === 'progress').map((e) => e.data);
  assert.equal(progress[progress.length - 1].done, 2 * (4 + 6));
  assert.equal(progress[progress.length - 1].total, 2 * (4 + 6));
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i].done >= progress[i - 1].done, 'progress never goes back');
  for (const cell of cells) {
    assert.equal(cell.sigmas.length, cell.steps + 1);
    assert.match(cell.parameters, new RegExp(`Steps: ${cell.steps}`));
    const png = await fetch(studio.base + cell.url);
    assert.equal(png.status, 200);
    assert.equal(png.headers.get('content-type'), 'image/png');
    const img = PNG.sync.read(Buffer.from(await png.arrayBuffer()));
    assert.equal(img.width, 28);
  }
  // The same class, seed and sampler at different schedules give different images.
  const bytes = await Promise.all(cells.map(async (c) => Buffer.from(await (await fetch(studio.base + c.url)).arrayBuffer())));
  assert.notDeepEqual(bytes[0], bytes[1]);
  // GET /api/jobs/:id with Accept: text/event-stream replays the stream too
  const replay = await fetch(`${studio.base}/api/jobs/${id}`, { headers: { accept: 'text/event-stream' } });
  assert.match(replay.headers.get('content-type') ?? '', /^text\/event-stream/);
  const replayText = await replay.text();
  assert.equal((replayText.match(/^event: cell$/gm) ?? []).length, 4);
  assert.match(replayText, /event: done\n/);
  const snapshot = await json(studio.base, 'GET', `/api/jobs/${id}`);
  assert.equal(snapshot.body.status, 'done');
  assert.equal(snapshot.body.result.cells, 4);
  const grid = await fetch(`${studio.base}${snapshot.body.result.gridUrl}?download`);
  assert.equal(grid.status, 200);
  assert.match(grid.headers.get('content-disposition') ?? '', /attachment; filename="ays-.*-grid\.png"/);
  const gridImage = PNG.sync.read(Buffer.from(await grid.arrayBuffer()));
  assert.ok(gridImage.width > 2 * 96 && gridImage.height > 2 * 96);
  // Files live in one new folder of the output folder.
  const folders = readdirSync(studio.outDir).filter((f) => f.includes(id.slice(0, 8)));
  assert.equal(folders.length, 1);
  assert.deepEqual(readdirSync(join(studio.outDir, folders[0]!)).sort(), ['cell-000.png', 'cell-001.png', 'cell-002.png', 'cell-003.png', 'grid.png']);
  // DELETE after the end: 409, nothing changes.
  const late = await json(studio.base, 'DELETE', `/api/jobs/${id}`);
  assert.equal(late.status, 409);
  assert.equal(late.body.job.status, 'done');
});

test('the same request twice writes to two folders: nothing is overwritten', async () => {
  const a = await json(studio.base, 'POST', '/api/generate', { ...smallGrid, schedulers: ['karras'], steps: [2] });
  const b = await json(studio.base, 'POST', '/api/generate', { ...smallGrid, schedulers: ['karras'], steps: [2] });
  await readEvents(studio.base, a.body.job.id);
  await readEvents(studio.base, b.body.job.id);
  const folders = readdirSync(studio.outDir).filter((f) => f.includes(a.body.job.id.slice(0, 8)) || f.includes(b.body.job.id.slice(0, 8)));
  assert.equal(folders.length, 2);
  const pa = readFileSync(join(studio.outDir, folders[0]!, 'cell-000.png'));
  const pb = readFileSync(join(studio.outDir, folders[1]!, 'cell-000.png'));
  assert.deepEqual(pa, pb, 'same seed and settings: same image, in its own file');
});

test('50 concurrent small requests all succeed while a grid renders', async () => {
  const res = await json(studio.base, 'POST', '/api/generate', { ...smallGrid, steps: [20, 30], classes: [0, 1] });
  assert.equal(res.status, 202);
  const id = res.body.job.id;
  // Wait until the grid is really rendering (first progress past 0).
  await readEvents(studio.base, id, (e) => e.event === 'progress' && e.data.done > 0);
  const before = await json(studio.base, 'GET', `/api/jobs/${id}`);
  assert.equal(before.body.status, 'running');
  const requests = Array.from({ length: 50 }, (_, i) =>
    i % 3 === 0
      ? json(studio.base, 'POST', '/api/sigmas', { model: 'sd15', schedulers: ['karras', 'exponential'], steps: [10 + i] })
      : i % 3 === 1
        ? json(studio.base, 'GET', '/api/samplers')
        : json(studio.base, 'GET', `/api/jobs/${id}`),
  );
  const answers = await Promise.all(requests);
  assert.deepEqual(answers.map((a) => a.status), new Array(50).fill(200));
  answers.forEach((a, i) => {
    if (i % 3 === 0) assert.equal(a.body.results[0].sigmas.length, 10 + i + 1);
  });
  const during = await json(studio.base, 'GET', `/api/jobs/${id}`);
  assert.notEqual(during.body.status, 'queued');
  const cancelled = await json(studio.base, 'DELETE', `/api/jobs/${id}`);
  assert.ok(cancelled.status === 202 || cancelled.status === 409);
  await readEvents(studio.base, id);
});

test('cancel a running grid: it stops, frees the queue, and the next job runs', async () => {
  const res = await json(studio.base, 'POST', '/api/generate', { ...smallGrid, steps: [40, 50, 60], classes: [0, 1, 2] });
  const id = res.body.job.id;
  await readEvents(studio.base, id, (e) => e.event === 'progress' && e.data.done > 0);
  const del = await json(studio.base, 'DELETE', `/api/jobs/${id}`);
  assert.equal(del.status, 202);
  const events = await readEvents(studio.base, id);
  assert.equal(events[events.length - 1]!.event, 'cancelled');
  const snap = await json(studio.base, 'GET', `/api/jobs/${id}`);
  assert.equal(snap.body.status, 'cancelled');
  const cells = events.filter((e) => e.event === 'cell').length;
  assert.ok(cells < 2 * 3 * 3, `cancelled early (${cells} cells)`);
  assert.equal(studio.queue.active, 0, 'nothing left running');
  // No grid is composed for a cancelled job.
  const folder = readdirSync(studio.outDir).find((f) => f.includes(id.slice(0, 8)))!;
  assert.equal(existsSync(join(studio.outDir, folder, 'grid.png')), false);
  const next = await json(studio.base, 'POST', '/api/generate', { ...smallGrid, schedulers: ['karras'], steps: [2] });
  assert.equal(next.status, 202);
  const nextEvents = await readEvents(studio.base, next.body.job.id);
  assert.equal(nextEvents[nextEvents.length - 1]!.event, 'done');
});

test('the queue has a limit: twenty clicks do not start twenty jobs (429), queued jobs cancel at once', async () => {
  const body = { ...smallGrid, schedulers: ['karras'], steps: [30] };
  const answers = [];
  for (let i = 0; i < 6; i++) answers.push(await json(studio.base, 'POST', '/api/generate', body));
  const statuses = answers.map((a) => a.status);
  // one running + three waiting (maxQueued 3), the rest refused
  assert.deepEqual(statuses, [202, 202, 202, 202, 429, 429]);
  assert.match(answers[4]!.body.message, /queue is full/);
  const ids = answers.filter((a) => a.status === 202).map((a) => a.body.job.id);
  for (const id of ids.slice(1)) {
    const del = await json(studio.base, 'DELETE', `/api/jobs/${id}`);
    assert.equal(del.status, 202);
    assert.equal(del.body.job.status, 'cancelled', 'a queued job is cancelled at once');
  }
  await json(studio.base, 'DELETE', `/api/jobs/${ids[0]}`);
  await readEvents(studio.base, ids[0]);
  assert.equal(studio.queue.active, 0);
});

test('optimize: AYS on a testbed streams sweeps (KLUB, metric, sigmas) and returns a schedule ending in 0', async () => {
  const res = await json(studio.base, 'POST', '/api/optimize', { method: 'ays', target: 'gaussian', steps: 4, maxSweeps: 2, seed: 0 });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const events = await readEvents(studio.base, res.body.job.id);
  assert.equal(events[events.length - 1]!.event, 'done', JSON.stringify(events[events.length - 1]));
  const sweeps = events.filter((e) => e.event === 'sweep').map((e) => e.data);
  assert.ok(sweeps.length >= 2, `${sweeps.length} sweeps`);
  assert.equal(sweeps[0].sweep, 0);
  for (const s of sweeps) {
    assert.ok(Number.isFinite(s.klub) && s.klub > 0);
    assert.ok(Number.isFinite(s.metric) && s.metric >= 0);
    assert.equal(s.sigmas.length, 5);
  }
  assert.ok(sweeps[1].klub < sweeps[0].klub, 'the first sweep lowers the KLUB');
  const result = events[events.length - 1]!.data.result;
  assert.equal(result.sigmas.length, 5);
  assert.equal(result.sigmas[4], 0);
  assert.equal(result.sigmas[0], 80);
  for (let i = 1; i < 5; i++) assert.ok(result.sigmas[i] < result.sigmas[i - 1]);
  const saved = await json(studio.base, 'POST', '/api/schedules/saved', { name: 'gauss-4', sigmas: result.sigmas, model: result.model, source: 'test' });
  assert.equal(saved.status, 201);
  const used = await json(studio.base, 'POST', '/api/sigmas', { model: 'svd', schedulers: ['saved:gauss-4'], steps: [4] });
  assert.deepEqual(used.body.results[0].sigmas, result.sigmas);
});

test('optimize: GITS on a testbed reports the EDM start and its path, and its path scores better', async () => {
  const res = await json(studio.base, 'POST', '/api/optimize', { method: 'gits', target: 'gmm2d-8x8', steps: 6 });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const events = await readEvents(studio.base, res.body.job.id);
  assert.equal(events[events.length - 1]!.event, 'done', JSON.stringify(events[events.length - 1]));
  const sweeps = events.filter((e) => e.event === 'sweep').map((e) => e.data);
  assert.equal(sweeps.length, 2);
  assert.match(sweeps[0].note, /EDM/);
  assert.ok(sweeps[1].metric < sweeps[0].metric, `GITS ${sweeps[1].metric} vs EDM ${sweeps[0].metric}`);
  const result = events[events.length - 1]!.data.result;
  assert.equal(result.method, 'gits');
  assert.equal(result.sigmas.length, 7);
  assert.equal(result.sigmas[6], 0);
  const bad = await json(studio.base, 'POST', '/api/optimize', { method: 'ays', target: 'bundled', steps: 6 });
  assert.equal(bad.status, 400);
  assert.match(bad.body.message, /supports teacher, gits, not ays/);
});

test('optimize: teacher matching on a testbed reports karras and the result on held-out noise, for the chosen sampler', async () => {
  const res = await json(studio.base, 'POST', '/api/optimize', { method: 'teacher', target: 'gmm2d-8x8', steps: 6, sampler: 'dpmpp_2m', seed: 3 });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const events = await readEvents(studio.base, res.body.job.id);
  assert.equal(events[events.length - 1]!.event, 'done', JSON.stringify(events[events.length - 1]));
  assert.ok(events.some((e) => e.event === 'progress' && /^(teacher|dp|held-out check) /.test(e.data.where)), 'progress names the stage');
  const sweeps = events.filter((e) => e.event === 'sweep').map((e) => e.data);
  assert.equal(sweeps.length, 2);
  assert.match(sweeps[0].note, /^karras \(start\), held-out RMS/);
  assert.match(sweeps[1].note, /^teacher DP for dpmpp_2m, held-out RMS/);
  assert.ok(sweeps[1].metric < sweeps[0].metric, `teacher ${sweeps[1].metric} vs karras ${sweeps[0].metric}`);
  const result = events[events.length - 1]!.data.result;
  assert.equal(result.method, 'teacher');
  assert.equal(result.sampler, 'dpmpp_2m');
  assert.deepEqual(result.sigmas, sweeps[1].sigmas);
  assert.equal(result.sigmas.length, 7);
  assert.equal(result.sigmas[6], 0);
  assert.match(result.note, /held-out RMS|still better/, 'the held-out verdict is passed on');
  const bad = await json(studio.base, 'POST', '/api/optimize', { method: 'teacher', target: 'gmm2d-8x8', steps: 6, sampler: 'eulr' });
  assert.equal(bad.status, 400);
  assert.match(bad.body.message, /unknown sampler "eulr"; valid samplers: euler, /);
});

test('optimize: teacher matching on the bundled model with a sampler that draws noise fits the beta family, progress only moves forward', async () => {
  const res = await json(studio.base, 'POST', '/api/optimize', { method: 'teacher', target: 'bundled', steps: 4, sampler: 'euler_ancestral', seed: 0 });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const events = await readEvents(studio.base, res.body.job.id);
  assert.equal(events[events.length - 1]!.event, 'done', JSON.stringify(events[events.length - 1]));
  const progress = events.filter((e) => e.event === 'progress').map((e) => e.data);
  const stages = new Set(progress.map((p) => String(p.where).replace(/ \d+\/\d+$/, '')));
  for (const stage of ['teacher', 'family', 'held-out check']) assert.ok(stages.has(stage), `stage ${stage} in ${[...stages].join(', ')}`);
  assert.ok(progress.every((p, i) => i === 0 || p.done >= progress[i - 1].done), 'the bar never moves back');
  const sweeps = events.filter((e) => e.event === 'sweep').map((e) => e.data);
  assert.match(sweeps[1].note, /^teacher beta family for euler_ancestral, held-out RMS/);
  const result = events[events.length - 1]!.data.result;
  assert.equal(result.sampler, 'euler_ancestral');
  assert.equal(result.sigmas.length, 5);
  assert.equal(result.sigmas[4], 0);
  assert.match(result.note, /held-out RMS|still better/);
});

test('optimize: cancel stops the worker', async () => {
  const res = await json(studio.base, 'POST', '/api/optimize', { method: 'ays', target: 'gmm2d-8x8', steps: 20, maxSweeps: 12 });
  const id = res.body.job.id;
  await readEvents(studio.base, id, (e) => e.event === 'status' && e.data.status === 'running');
  const del = await json(studio.base, 'DELETE', `/api/jobs/${id}`);
  assert.equal(del.status, 202);
  const events = await readEvents(studio.base, id);
  assert.equal(events[events.length - 1]!.event, 'cancelled');
  assert.equal(studio.queue.active, 0);
});

test('optimize: cancelling GITS on the bundled model while onnxruntime runs never takes the server down', async () => {
  // Before: the worker was terminated mid-inference and the process aborted with
  // "terminate called after throwing an instance of 'Napi::Error'" (this test process with it).
  for (let round = 0; round < 2; round++) {
    const res = await json(studio.base, 'POST', '/api/optimize', { method: 'gits', target: 'bundled', steps: 6 });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = res.body.job.id;
    // the teacher is running: the model is being called in the worker
    await readEvents(studio.base, id, (e) => e.event === 'progress' && /teacher/.test(e.data.where ?? ''));
    const started = Date.now();
    const del = await json(studio.base, 'DELETE', `/api/jobs/${id}`);
    assert.equal(del.status, 202);
    const events = await readEvents(studio.base, id);
    assert.equal(events[events.length - 1]!.event, 'cancelled');
    assert.ok(Date.now() - started < 15000, `stopped within one teacher segment (${Date.now() - started} ms)`);
    const health = await json(studio.base, 'GET', '/api/health');
    assert.equal(health.status, 200);
    assert.equal(studio.queue.active, 0);
  }
  // and the queue goes on: a grid runs after the cancelled optimizations
  const grid = await json(studio.base, 'POST', '/api/generate', { ...smallGrid, steps: [2], schedulers: ['karras'] });
  const events = await readEvents(studio.base, grid.body.job.id);
  assert.equal(events[events.length - 1]!.event, 'done');
});

test('a text-to-image ONNX folder given at start-up (the tiny SD1.5 fixture): prompt grid renders, classes refused', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { writeTinyModel } = await import('../src/fixtures/stable-diffusion-tiny.js');
  const { createStudio } = await import('../src/server/app.js');
  const { createBackend } = await import('../src/server/backend.js');
  const root = mkdtempSync(join(tmpdir(), 'ays-studio-sd-'));
  const modelDir = join(root, 'sd15-tiny');
  writeTinyModel(modelDir, { kind: 'sd15' });
  const sd = await createStudio({ outDir: join(root, 'out'), backend: createBackend({ modelDir }) });
  await sd.app.listen({ host: '127.0.0.1', port: 0 });
  const address = sd.app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  try {
    const model = await json(base, 'GET', '/api/model');
    assert.equal(model.body.kind, 'stable-diffusion');
    assert.equal(model.body.classes, null);
    const refused = await json(base, 'POST', '/api/generate', { ...smallGrid, steps: [2] });
    assert.equal(refused.status, 400);
    assert.match(refused.body.message, /text-conditional: give a "prompt"/);
    const body = { schedulers: ['karras'], samplers: ['euler', 'dpmpp_2m'], steps: [2], prompt: 'a photo of a cat', seed: 5, cfg: 5, width: 64, height: 64 };
    // a size the UNet cannot run is refused at once (a 400), not a failed job
    const odd = await json(base, 'POST', '/api/generate', { ...body, height: 48 });
    assert.equal(odd.status, 400);
    assert.match(odd.body.message, /height must be a multiple of 64 for this model, got 48/);
    assert.equal(model.body.sizeMultiple, 64);
    const res = await json(base, 'POST', '/api/generate', body);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const events = await readEvents(base, res.body.job.id);
    assert.equal(events[events.length - 1]!.event, 'done', JSON.stringify(events[events.length - 1]));
    const cells = events.filter((e) => e.event === 'cell').map((e) => e.data);
    assert.equal(cells.length, 2);
    const png = PNG.sync.read(Buffer.from(await (await fetch(base + cells[0].url)).arrayBuffer()));
    assert.deepEqual([png.width, png.height], [64, 64]);
    assert.match(cells[0].parameters, /^a photo of a cat/);
  } finally {
    await sd.app.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("the bundled model's carried optimized schedule is offered as 'optimized' for sigmas and grids", async () => {
  const model = await json(studio.base, 'GET', '/api/model');
  assert.deepEqual(model.body.schedulers, ['optimized']);
  // 'optimized' is the schedule the model carries for the sampler (here euler, as in smallGrid) and step count
  const sig = await json(studio.base, 'POST', '/api/sigmas', { model: 'bundled', schedulers: ['optimized', 'karras'], steps: [6], sampler: 'euler' });
  assert.equal(sig.status, 200, JSON.stringify(sig.body));
  const optimized = sig.body.results[0].sigmas;
  assert.equal(optimized.length, 7);
  assert.equal(optimized[6], 0);
  assert.notDeepEqual(optimized, sig.body.results[1].sigmas);
  const elsewhere = await json(studio.base, 'POST', '/api/sigmas', { model: 'sd15', schedulers: ['optimized'], steps: [6] });
  assert.equal(elsewhere.status, 400, 'only the studio model has it');
  const res = await json(studio.base, 'POST', '/api/generate', { ...smallGrid, schedulers: ['optimized'], steps: [6] });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const events = await readEvents(studio.base, res.body.job.id);
  const cell = events.find((e) => e.event === 'cell')!.data;
  assert.deepEqual(cell.sigmas, optimized);
});
