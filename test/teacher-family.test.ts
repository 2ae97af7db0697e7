import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gaussianMixtureDenoiser } from '../src/denoisers/gaussian-mixture.js';
import { prepareNoise, comfyDefaultNoise } from '../src/noise/sources.js';
import { modelSampling } from '../src/model-sampling/index.js';
import { sgmUniformSigmas } from '../src/schedules/comfy-schedulers.js';
import { sample } from '../src/samplers/sample.js';
import { betaFamilySigmas, fitBetaFamily, logSigmaAxis, timeAxis } from '../src/optimizer/schedule-family.js';
import { optimizeTeacherFamily, selectCandidate, splitRows, type FamilyCandidate } from '../src/optimizer/teacher-family.js';
import { optimizeTeacher, perImageMse, runSampler, runTeacher, teacherDp, teacherGrid, teacherPathFor, type TeacherProblem } from '../src/optimizer/teacher.js';
import { optimizeModelSchedule } from '../src/optimizer/model-optimize.js';
import type { ModelHandle } from '../src/optimizer/model-problem.js';

const sd15 = modelSampling('sd15');

test('beta family: alpha = beta = 1 is uniform in timestep (sgm_uniform up to its float32 linspace); every schedule starts at sigma_max, ends in 0, strictly decreasing', () => {
  const axis = timeAxis(sd15);
  assert.equal(axis.tStart, 999);
  assert.equal(axis.tEnd, 0);
  for (const n of [1, 4, 6, 10, 25]) {
    const s = betaFamilySigmas(axis, n, 1, 1);
    assert.equal(s.length, n + 1);
    assert.equal(s[0], sd15.sigmaMax);
    for (let i = 1; i < n; i++) assert.equal(s[i], sd15.sigma(999 * (1 - i / n)), `n=${n} i=${i}: uniform timesteps`);
    const sgm = sgmUniformSigmas(sd15, n);
    for (let i = 0; i <= n; i++) assert.ok(Math.abs(s[i]! - sgm[i]!) <= 1e-5 * sgm[i]!, `n=${n} i=${i}: ${s[i]} vs sgm_uniform ${sgm[i]}`);
  }
  for (const [a, b] of [[0.3, 0.3], [0.6, 0.6], [2, 0.5], [0.5, 3], [5, 5]] as const) {
    const s = betaFamilySigmas(axis, 8, a, b);
    assert.equal(s[0], sd15.sigmaMax);
    assert.equal(s[8], 0);
    for (let i = 1; i <= 8; i++) assert.ok(s[i]! < s[i - 1]!, `(${a}, ${b}) decreasing at ${i}`);
    assert.ok(s[7]! >= sd15.sigmaMin);
  }
  // alpha < 1 puts more steps near t_end (low noise) than alpha > 1 does
  assert.ok(betaFamilySigmas(axis, 8, 0.5, 1)[4]! < betaFamilySigmas(axis, 8, 2, 1)[4]!);
  assert.throws(() => betaFamilySigmas(axis, 4, 0, 1), /alpha > 0/);
  assert.throws(() => betaFamilySigmas(axis, 0, 1, 1), /positive integer/);
  // flow: the model's own time axis, sigma 1 at the top
  const flow = timeAxis(modelSampling('sd3'));
  const f = betaFamilySigmas(flow, 5, 1, 1);
  assert.equal(f[0], 1);
  for (let i = 1; i <= 5; i++) assert.ok(f[i]! < f[i - 1]!);
});

test('beta family fit: never worse than its best grid point, returns the best point it evaluated, and finds a known optimum', async () => {
  const axis = logSigmaAxis(0.02, 20);
  const target = betaFamilySigmas(axis, 6, 1.3, 0.8);
  let calls = 0;
  const evaluate = async (s: number[]) => {
    calls++;
    let l = 0;
    for (let i = 1; i < 6; i++) l += (Math.log(s[i]!) - Math.log(target[i]!)) ** 2;
    return { fitLoss: l, valLoss: 2 * l };
  };
  const r = await fitBetaFamily(axis, evaluate, { steps: 6, localEvaluations: 30 });
  assert.equal(r.evaluations, calls, 'each distinct point is run once');
  assert.ok(r.best.fitLoss <= r.bestStart.fitLoss);
  assert.equal(r.best.fitLoss, Math.min(...r.evaluated.map((e) => e.fitLoss)));
  assert.ok(r.best.fitLoss < r.bestStart.fitLoss, 'the local search improves on the grid when the optimum is off the grid');
  assert.ok(Math.abs(Math.log(r.best.alpha / 1.3)) < 0.1 && Math.abs(Math.log(r.best.beta / 0.8)) < 0.1, `found (${r.best.alpha}, ${r.best.beta})`);
  assert.equal(r.best.valLoss, 2 * r.best.fitLoss, 'validation loss recorded from the same evaluation');
  // a grid-only fit is exactly the grid's minimum
  const g = await fitBetaFamily(axis, evaluate, { steps: 6, localEvaluations: 0 });
  assert.equal(g.evaluations, 16);
  assert.equal(g.best, g.bestStart);
});

test('splitRows: every 4th row validates, the rest fit, disjoint and complete; no split for tiny batches', () => {
  const { fit, validation } = splitRows(16, 4);
  assert.deepEqual(validation, [3, 7, 11, 15]);
  assert.deepEqual([...fit, ...validation].sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => i));
  assert.deepEqual(splitRows(3, 4), { fit: [0, 1, 2], validation: [] });
  assert.deepEqual(splitRows(5, 0).validation, []);
  assert.throws(() => splitRows(4, -1), /non-negative/);
});

test('teacher path: the DP for euler, dpmpp_2m and heunpp2 (noise-free stage-A updates), the family for samplers that draw noise', () => {
  for (const s of ['euler', 'dpmpp_2m', 'heunpp2']) assert.equal(teacherPathFor(s), 'dp', s);
  for (const s of ['euler_ancestral', 'dpmpp_2m_sde', 'dpmpp_2s_ancestral', 'dpmpp_3m_sde', 'dpmpp_sde']) assert.equal(teacherPathFor(s), 'family', s);
  assert.equal(teacherPathFor('lms'), 'refine');
});

// a small 2-D mixture "model" with an exact denoiser over sd15's sigma range
const mixture = { means: [[-2, 0], [2, 1], [0, 3]], stds: [0.3, 0.5, 0.4], weights: [0.3, 0.3, 0.4] };
function problem(sampler: string, seed: number, batch: number): TeacherProblem {
  const z = prepareNoise(seed, [batch, 2]);
  return { denoiser: gaussianMixtureDenoiser(mixture), noise: { data: Float64Array.from(z.data), shape: [batch, 2] }, sampler, noiseSeed: seed, sigmaMin: sd15.sigmaMin, sigmaMax: sd15.sigmaMax };
}

test('heunpp2 draws noise but its result with the paired (Brownian) noise is bit-identical to ComfyUI\'s default noise', async () => {
  const p = problem('heunpp2', 4, 8);
  const sigmas = betaFamilySigmas(timeAxis(sd15), 6, 0.6, 0.6);
  const a = await runSampler(p, sigmas);
  const x = { data: p.noise.data.map((v) => v * Math.sqrt(1 + sigmas[0]! ** 2)), shape: [...p.noise.shape] };
  const b = await sample('heunpp2', p.denoiser, x, sigmas, { noise: comfyDefaultNoise(4) });
  assert.deepEqual(Array.from(a), Array.from(b.data));
});

test('teacher DP with rows: its cost is the real sampler\'s error pooled over those rows only', async () => {
  for (const sampler of ['euler', 'dpmpp_2m_sde']) {
    const p = problem(sampler, 3, 12);
    const grid = teacherGrid(p.sigmaMin, p.sigmaMax, 12);
    const teacher = await runTeacher(p, grid);
    const rows = [0, 1, 2, 4, 5, 6, 8, 9, 10];
    const dp = await teacherDp(p, teacher, { maxSteps: 3, rows });
    for (let n = 1; n <= 3; n++) {
      const x = await runSampler(p, dp.paths[n]!.map((i) => grid[i]!));
      const per = perImageMse(x, teacher.states[12]!, 12);
      const real = rows.reduce((s, r) => s + per[r]!, 0) / rows.length;
      assert.ok(Math.abs(real - dp.costs[n]!) <= 1e-9 * Math.max(1, real), `${sampler} n=${n}: DP ${dp.costs[n]} vs sampler ${real}`);
    }
    await assert.rejects(teacherDp(p, teacher, { maxSteps: 2, rows: [12] }), /rows/);
  }
});

test('optimizeTeacherFamily: candidates scored from real runs on the training rows (per-image RMS), the chosen one has the lowest validation objective, the fit never above its best grid point', async () => {
  const p = problem('euler_ancestral', 7, 16);
  const grid = teacherGrid(p.sigmaMin, p.sigmaMax, 40);
  const stages = new Set<string>();
  const r = await optimizeTeacherFamily(p, { steps: 4, grid, axis: timeAxis(sd15), dpCandidate: true, localEvaluations: 6, onProgress: (s) => stages.add(s.stage) });
  assert.deepEqual([...stages].sort(), ['dp', 'family', 'select', 'teacher']);
  assert.deepEqual(r.validationRows, [3, 7, 11, 15]);
  assert.ok(r.candidates.some((c) => c.name === 'center') && r.candidates.some((c) => c.name === 'dp'));
  assert.deepEqual(r.candidates.find((c) => c.name === 'center')!.sigmas, betaFamilySigmas(timeAxis(sd15), 4, 1, 1));
  // the chosen one has the lowest validation objective (ties: fewer parameters)
  const chosen = r.candidates.find((c) => c.name === r.chosen)!;
  for (const c of r.candidates) assert.ok(chosen.valLoss < c.valLoss || (chosen.valLoss === c.valLoss && chosen.parameters <= c.parameters), `${r.chosen} ${chosen.valLoss} vs ${c.name} ${c.valLoss}`);
  assert.deepEqual(r.sigmas, chosen.sigmas);
  assert.ok(r.fit.best.fitLoss <= r.fit.bestStart.fitLoss);
  // the recorded losses are the real sampler's per-image RMS errors against the teacher, averaged on the split rows
  const teacher = await runTeacher(p, grid);
  for (const c of r.candidates) {
    const per = perImageMse(await runSampler(p, c.sigmas), teacher.states[40]!, 16).map(Math.sqrt);
    const m = (rows: number[]) => rows.reduce((s, i) => s + per[i]!, 0) / rows.length;
    assert.ok(Math.abs(m(r.fitRows) - c.fitLoss) <= 1e-12 * Math.max(1, c.fitLoss), `${c.name} fit loss`);
    assert.ok(Math.abs(m(r.validationRows) - c.valLoss) <= 1e-12 * Math.max(1, c.valLoss), `${c.name} validation loss`);
  }
  assert.equal(r.calls, r.teacherCalls + r.familyCalls + r.dpCalls);
  assert.equal(r.teacherCalls, 40);
  // reusing the teacher run gives the same result without its calls
  const again = await optimizeTeacherFamily(p, { steps: 4, grid, axis: timeAxis(sd15), dpCandidate: true, localEvaluations: 6, teacher });
  assert.deepEqual(again.sigmas, r.sigmas);
  assert.equal(again.teacherCalls, 0);
});

test('selection: the lowest validation objective; one-se: a candidate better only within noise loses to the simpler one; no split: lowest fit objective', () => {
  const rows = [1, 3, 5, 7, 9, 11];
  const mk = (name: 'center' | 'family' | 'dp', parameters: number, per: number[], fitLoss: number) => {
    const sigmas = [1, 0.5, 0];
    const v = rows.reduce((a, r) => a + per[r]!, 0) / rows.length;
    const c: FamilyCandidate = { name, parameters, sigmas, fitLoss, valLoss: v, trainLoss: NaN };
    return { c, per: Float64Array.from(per) };
  };
  const base = Array.from({ length: 12 }, (_, i) => 1 + 0.1 * (i % 3));
  const center = mk('center', 0, base, 1);
  const clear = mk('family', 2, base.map((v) => v - 0.2), 0.9); // better on every row
  const noisy = mk('dp', 3, base.map((v, i) => v + (i % 4 < 2 ? -0.5 : 0.45)), 0.5); // lower mean, large spread
  const map = new Map([center, clear, noisy].map((x) => [x.c.sigmas, x.per] as const));
  // distinct sigmas arrays so the map tells them apart
  assert.equal(map.size, 3);
  assert.equal(selectCandidate([center.c, clear.c], map, rows).name, 'family');
  assert.equal(selectCandidate([center.c, clear.c], map, rows, 'one-se').name, 'family');
  assert.ok(noisy.c.valLoss < center.c.valLoss, 'the noisy candidate has the lower validation mean');
  assert.equal(selectCandidate([center.c, noisy.c], map, rows).name, 'dp');
  assert.equal(selectCandidate([center.c, noisy.c], map, rows, 'one-se').name, 'center');
  assert.ok(noisy.c.valGap === 0 && center.c.valGap! > 0 && center.c.valGap! <= center.c.valGapStdErr!);
  assert.equal(selectCandidate([center.c, clear.c, noisy.c], map, []).name, 'dp', 'without validation rows: lowest fit error');
});

/** The mixture as a ModelHandle on sd15's sampling (a pixel-free "model": identity objective). */
function mixtureHandle(): ModelHandle & { inputs: Float64Array[] } {
  let calls = 0;
  const inputs: Float64Array[] = [];
  const den = gaussianMixtureDenoiser(mixture);
  return {
    name: 'mixture',
    modelSampling: sd15,
    latentShape: [2],
    inputs,
    denoiser: () => (x, s) => {
      calls++;
      inputs.push(Float64Array.from(x.data));
      return den(x, s);
    },
    calls: () => calls,
    dispose: async () => {},
  };
}

test('ays optimize (model): the schedule depends on the training noises only, never on the held-out seed; noise-drawing samplers record the family path', async () => {
  const base = { sampler: 'dpmpp_2m_sde', steps: 4, method: 'teacher' as const, samples: 8, seed: 11, heldOutSamples: 8, cfg: 1, teacherSteps: 30 };
  const a = await optimizeModelSchedule(mixtureHandle(), { ...base, heldOutSeed: 500 });
  const b = await optimizeModelSchedule(mixtureHandle(), { ...base, heldOutSeed: 501 });
  assert.deepEqual(a.file.sigmas, b.file.sigmas);
  assert.notDeepEqual(a.guard.rows.map((r) => r.rms), b.guard.rows.map((r) => r.rms), 'the held-out seeds differ');
  const made = a.file.made_by as Record<string, unknown>;
  assert.match(String(made.path), /^family/);
  assert.equal(made.validation_rows, 2);
  assert.ok(typeof made.alpha === 'number' && typeof made.beta === 'number');
  // every model call before the guard ran on the training batch: its first state is the training noise scaled
  const h = mixtureHandle();
  const stageCalls: string[] = [];
  await optimizeModelSchedule(h, { ...base, heldOutSeed: 500, onProgress: (p) => stageCalls.push(p.stage) });
  const train = prepareNoise(11, [8, 2]).data, held = prepareNoise(500, [8, 2]).data;
  const start = (z: ArrayLike<number>) => Array.from(z, (v) => v * Math.sqrt(1 + sd15.sigmaMax ** 2));
  const isStart = (x: Float64Array, z: number[]) => x.every((v, i) => Math.abs(v - z[i]!) < 1e-9);
  const heldFirst = h.inputs.findIndex((x) => isStart(x, start(held)));
  const lastTrain = h.inputs.map((x, i) => (isStart(x, start(train)) ? i : -1)).reduce((m, i) => Math.max(m, i), -1);
  assert.ok(lastTrain > 0 && heldFirst > lastTrain, `the held-out noise is first seen (call ${heldFirst}) after the last training run starts (call ${lastTrain})`);
  assert.ok(stageCalls.includes('family') && stageCalls.includes('held-out check'));
});

test('ays optimize (model): a deterministic sampler still gets exactly the DP schedule', async () => {
  for (const sampler of ['euler', 'dpmpp_2m']) {
    const base = { sampler, steps: 4, method: 'teacher' as const, samples: 8, seed: 11, heldOutSeed: 500, heldOutSamples: 8, cfg: 1, teacherSteps: 30 };
    const a = await optimizeModelSchedule(mixtureHandle(), base);
    const direct = await optimizeTeacher(problem(sampler, 11, 8), { steps: 4, grid: teacherGrid(sd15.sigmaMin, sd15.sigmaMax, 30) });
    assert.deepEqual(a.file.sigmas, direct.sigmas);
    assert.match(String((a.file.made_by as Record<string, unknown>).stage_a), /^DP over the teacher grid/);
  }
});

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

test('ays optimize --model (SD3 flow folder) with dpmpp_2m_sde: the family path on the flow time axis, every shipped schedule in the held-out table (vp starts above sigma_max)', async () => {
  const { writeFlowTinyModel } = await import('../src/fixtures/flow-tiny.js');
  const dir = mkdtempSync(join(tmpdir(), 'ays-opt-family-'));
  const model = join(dir, 'sd3-tiny');
  writeFlowTinyModel(model, { kind: 'sd3' });
  const out = join(dir, 'o.json');
  const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const r = spawnSync(process.execPath, [cli, 'optimize', '--model', model, '--solver', 'dpmpp_2m_sde', '--steps', '4', '--samples', '8', '--out', out, '--json'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const file = JSON.parse(readFileSync(out, 'utf8')) as { sigmas: number[]; made_by: Record<string, unknown>; held_out: { rows: Array<{ scheduler: string }> } };
  assert.equal(file.sigmas.length, 5);
  assert.equal(file.sigmas[0], 1);
  for (let i = 1; i < 5; i++) assert.ok(file.sigmas[i]! < file.sigmas[i - 1]!);
  assert.match(String(file.made_by.path), /^family/);
  assert.match(String(file.made_by.family), /flow/);
  const names = file.held_out.rows.map((x) => x.scheduler);
  for (const name of ['karras', 'sgm_uniform', 'beta', 'vp']) assert.ok(names.includes(name), `${name} in the held-out table`);
  assert.equal(file.made_by.validation_rows, 2);
});
