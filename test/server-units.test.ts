// The studio's parts without HTTP: the job queue, the output folder, schedule views and the grid picture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { JobQueue, QueueFullError, type JobEvent } from '../src/server/jobs.js';
import { OutputFolder, writeNewFile } from '../src/server/output.js';
import { diffusersExport, loglinearResample, logSnr, scheduleExports } from '../src/server/schedule-views.js';
import { composeGrid } from '../src/server/grid.js';
import { modelSampling } from '../src/model-sampling/index.js';

/** A job body that waits until released (or cancelled), so the test decides when jobs end. */
function gate() {
  let release!: () => void;
  const opened = new Promise<void>((r) => (release = r));
  return { release, opened };
}

const settle = () => new Promise((r) => setImmediate(r));

test('JobQueue: never more than `concurrency` jobs run; FIFO; the queue refuses past maxQueued', async () => {
  const queue = new JobQueue({ concurrency: 2, maxQueued: 2 });
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const gates = Array.from({ length: 4 }, () => gate());
  const jobs = gates.map((g, k) =>
    queue.submit('t', { k }, async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(k);
      await g.opened;
      running--;
      return k;
    }),
  );
  assert.throws(() => queue.submit('t', {}, async () => 0), QueueFullError);
  await settle();
  assert.deepEqual(jobs.map((j) => j.status), ['running', 'running', 'queued', 'queued']);
  gates[1]!.release();
  await settle();
  await settle();
  assert.equal(jobs[1]!.status, 'done');
  assert.equal(jobs[1]!.result, 1);
  assert.equal(jobs[2]!.status, 'running');
  for (const g of gates) g.release();
  while (queue.active > 0) await settle();
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3]);
});

test('JobQueue: cancel a queued job at once, a running one through its signal; failures keep their message', async () => {
  const queue = new JobQueue({ concurrency: 1 });
  const events: string[] = [];
  const running = queue.submit('t', {}, (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped')))));
  const waiting = queue.submit('t', {}, async () => 'never');
  queue.subscribe(running, (e: JobEvent) => events.push(e.event));
  await settle();
  assert.equal(queue.cancel(waiting.id), true);
  assert.equal(waiting.status, 'cancelled');
  assert.equal(running.status, 'running');
  assert.equal(queue.cancel(running.id), true);
  while (queue.active > 0) await settle();
  assert.equal(running.status, 'cancelled');
  assert.deepEqual(events, ['cancelled']);
  assert.equal(queue.cancel(running.id), false, 'a finished job cannot be cancelled again');
  const failing = queue.submit('t', {}, async () => {
    throw new Error('the model is on fire');
  });
  while (queue.active > 0) await settle();
  assert.equal(failing.status, 'failed');
  assert.equal(failing.error, 'the model is on fire');
  assert.equal(failing.events[failing.events.length - 1]!.event, 'failed');
});

test('JobQueue: finished jobs are forgotten after keepFinished, with onForget called', async () => {
  const forgotten: string[] = [];
  const queue = new JobQueue({ concurrency: 1, keepFinished: 2, onForget: (id) => forgotten.push(id) });
  const jobs = [];
  for (let i = 0; i < 4; i++) {
    jobs.push(queue.submit('t', {}, async () => i));
    while (queue.active > 0) await settle();
  }
  assert.deepEqual(forgotten, [jobs[0]!.id, jobs[1]!.id]);
  assert.equal(queue.get(jobs[0]!.id), undefined);
  assert.equal(queue.get(jobs[3]!.id)?.result, 3);
});

test('OutputFolder: a new folder per job, files never overwritten', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ays-out-'));
  try {
    const out = new OutputFolder(join(root, 'nested', 'out'));
    const a = await out.newJobFolder('grid', '12345678-aaaa');
    const b = await out.newJobFolder('grid', '12345678-aaaa');
    assert.notEqual(a, b);
    assert.equal(readdirSync(join(root, 'nested', 'out')).length, 2);
    await writeNewFile(join(a, 'x.png'), 'first');
    await assert.rejects(writeNewFile(join(a, 'x.png'), 'second'), /EEXIST/);
    assert.equal(readFileSync(join(a, 'x.png'), 'utf8'), 'first');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('log-SNR: -2 ln sigma for VE models, 2 ln((1-s)/s) for flow, null at the ends', () => {
  const sd = modelSampling('sd15');
  assert.equal(logSnr(sd, 1), 0);
  assert.equal(logSnr(sd, Math.E), -2);
  assert.equal(logSnr(sd, 0), null);
  const flux = modelSampling('flux');
  assert.equal(logSnr(flux, 0.5), 0);
  assert.ok(Math.abs(logSnr(flux, 0.2)! - 2 * Math.log(4)) < 1e-15);
  assert.equal(logSnr(flux, 1), null);
});

test('exports: JSON, ComfyUI comma list, diffusers timesteps (discrete, flow) or sigmas (EDM)', () => {
  const sd = modelSampling('sd15');
  const sigmas = [sd.sigmaMax, sd.sigma(500), sd.sigmaMin, 0];
  const e = scheduleExports(sd, sigmas);
  assert.deepEqual(JSON.parse(e.json), sigmas);
  assert.equal(e.comfyui.split(', ').length, 4);
  assert.equal(e.diffusers, 'timesteps=[999, 500, 0]');
  assert.equal(diffusersExport(modelSampling('flux'), [1, 0.5, 0.25, 0]), 'timesteps=[1000, 500, 250]');
  assert.equal(diffusersExport(modelSampling('svd'), [700, 1, 0]), 'sigmas=[700, 1, 0]');
});

test('loglinearResample: same length unchanged, ends kept exactly, log-linear in between', () => {
  const s = [16, 4, 1, 0];
  assert.deepEqual(loglinearResample(s, 3), s);
  const up = loglinearResample(s, 5);
  assert.equal(up.length, 6);
  assert.equal(up[0], 16);
  assert.equal(up[4], 1);
  assert.equal(up[5], 0);
  // 16 -> 1 in 4 equal log steps of factor 2
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(up[i]! - 16 / 2 ** i) < 1e-12, `up[${i}] = ${up[i]}`);
  const noZero = loglinearResample([100, 10, 1], 4);
  assert.equal(noZero.length, 5);
  assert.ok(Math.abs(noZero[1]! - Math.sqrt(1000)) < 1e-9);
  assert.throws(() => loglinearResample([4, 0, 1, 0], 5), /positive before its final 0/);
});

test('composeGrid: a labelled PNG with every cell in its place', async () => {
  const cell = (v: number) => {
    const png = new PNG({ width: 4, height: 4 });
    png.data.fill(v);
    for (let i = 3; i < png.data.length; i += 4) png.data[i] = 255;
    return PNG.sync.write(png);
  };
  const grid = await composeGrid({ rows: 2, cols: 2, rowLabels: ['a', 'b'], colLabels: ['1', '2'], cells: [cell(0), cell(80), undefined, cell(160)], cellSize: 96, title: 't' });
  const img = PNG.sync.read(grid);
  assert.ok(img.width > 2 * 96 && img.height > 2 * 96);
  // The centre of the last cell (row 1, col 1) has that cell's grey; the missing cell stays white.
  const at = (x: number, y: number) => img.data[(y * img.width + x) * 4]!;
  const x1 = img.width - 12 - 6 - 48; // margin, gap, half a cell from the right edge
  const y1 = img.height - 12 - 6 - 48;
  assert.equal(at(x1, y1), 160);
  assert.equal(at(x1 - 102, y1), 255, 'the missing cell is blank');
  assert.equal(at(x1 - 102, y1 - 102), 0);
});
