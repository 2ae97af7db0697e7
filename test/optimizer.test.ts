import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  gaussianEulerKl,
  gaussianKlubPerC4d,
  gaussianStochasticDdimKl,
  klubNormaliser,
} from '../src/optimizer/klub-closed-form.js';
import { estimateBracketCosts, makeKlubDraws } from '../src/optimizer/klub.js';
import { coordinateCandidates, edmSchedule, subdivide, type CoordinateCost } from '../src/optimizer/search.js';
import { optimizeAys, searchStageOne } from '../src/optimizer/ays.js';
import { gitsDynamicProgram, optimizeGits } from '../src/optimizer/gits.js';
import { makeScheduleFile, readScheduleFile, sigmasForSteps } from '../src/optimizer/schedule-file.js';
import { createRng } from '../src/core/rng.js';
import { gaussianMixture, mixtureDenoise, sampleMixture } from '../src/lab/mixture.js';
import { testbed } from '../src/lab/testbeds.js';
import { sigmasFromScheduleJson } from '../src/schedules/custom.js';

const close = (got: number, want: number, tol: number, what: string): void =>
  assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, want ${want} ± ${tol}`);

const c = 0.5;
const exactCost: CoordinateCost = async (s, i, cands) =>
  Float64Array.from(cands, (v) => klubNormaliser(s[i - 1]!, v, c) + klubNormaliser(v, s[i + 1]!, c));

test('§7.3 early-stopping trace: exact KLUB falls every sweep; output KL bottoms out, then rises', async () => {
  const res = await searchStageOne(edmSchedule(0.002, 80, 10), exactCost, { maxSweeps: 17, total: async (s) => gaussianKlubPerC4d(s, c) });
  const klub = res.trace.map((t) => t.klub!);
  const sddim = res.trace.map((t) => gaussianStochasticDdimKl(t.schedule, c));
  const euler = res.trace.map((t) => gaussianEulerKl(t.schedule, c));
  // the spec's table (sweeps 0..6, 8, 10, 15)
  const want: [number, number, number, number][] = [
    [0, 745.7, 0.314, 0.098], [1, 395.0, 0.096, 0.029], [2, 316.9, 0.066, 0.027], [3, 197.2, 0.059, 0.033],
    [4, 181.9, 0.058, 0.043], [5, 155.9, 0.067, 0.059], [6, 117.4, 0.08, 0.083], [8, 105.7, 0.117, 0.141],
    [10, 83.9, 0.181, 0.232], [15, 79.0, 0.297, 0.351],
  ];
  for (const [sweep, k, s, e] of want) {
    close(klub[sweep]!, k, 0.05, `KLUB at sweep ${sweep}`);
    close(sddim[sweep]!, s, 0.0005, `S-DDIM KL at sweep ${sweep}`);
    close(euler[sweep]!, e, 0.0005, `Euler KL at sweep ${sweep}`);
  }
  for (let i = 1; i < klub.length; i++) assert.ok(klub[i]! < klub[i - 1]!, `KLUB must fall at sweep ${i}`);
  const argmin = (a: number[]): number => a.indexOf(Math.min(...a));
  assert.equal(argmin(sddim), 4, 'S-DDIM output KL is lowest after 4 sweeps');
  assert.equal(argmin(euler), 2, 'Euler output KL is lowest after 2 sweeps');
  assert.ok(sddim[17]! > 5 * sddim[4]! && euler[17]! > 10 * euler[2]!, 'and rises well above its minimum later');
});

test('early stopping on the exact S-DDIM KL stops after the rise and returns the best schedule', async () => {
  const res = await searchStageOne(edmSchedule(0.002, 80, 10), exactCost, {
    maxSweeps: 30,
    earlyStop: async (desc) => gaussianStochasticDdimKl(Float64Array.from(desc).reverse(), c),
  });
  assert.equal(res.stoppedBy, 'early-stop');
  assert.equal(res.sweeps, 5);
  close(gaussianStochasticDdimKl(res.schedule, c), 0.058, 0.0005, 'KL of the returned schedule');
});

test('shared-bracket candidate costs are unbiased on Gaussian data: J(s) ≈ c^4 d (Z(a,s) + Z(s,b))', async () => {
  const d = 16;
  const mix = gaussianMixture([new Array<number>(d).fill(0)], [c]);
  const pair = { denoiser: async (x: any, s: number) => mixtureDenoise(mix, x, s), rowDenoiser: async (x: any, s: Float64Array) => mixtureDenoise(mix, x, s) };
  const rng = createRng(4);
  const draws = makeKlubDraws(sampleMixture(mix, 4096, rng), rng);
  const [a, b] = [0.2, 3];
  const cands = coordinateCandidates([a, 0.9, b], 1, 11);
  assert.equal(cands.length, 11);
  assert.equal(cands[0], 0.9, 'the current value is candidate 0');
  const { estimates, evaluations } = await estimateBracketCosts(pair, draws, a, b, cands, { c });
  assert.ok(evaluations < 4 * 11 * 4096, 'cheaper than four batched calls per candidate');
  estimates.forEach((e, k) => {
    const exact = c ** 4 * d * (klubNormaliser(a, cands[k]!, c) + klubNormaliser(cands[k]!, b, c));
    assert.ok(Math.abs(e.value - exact) <= 4 * e.stderr, `s=${cands[k]}: ${e.value} vs ${exact} (se ${e.stderr})`);
  });
});

test('optimizeAys on the Gaussian testbed: KLUB falls, stages nest, interpolation reproduces stage 1', async () => {
  const tb = testbed('gaussian');
  const progress: number[] = [];
  const res = await optimizeAys({
    denoiser: tb.denoiser, rowDenoiser: tb.rowDenoiser, data: (n, rng) => tb.sampleData(n, rng),
    sigmaMin: 0.002, sigmaMax: 80, samples: 512, maxSweeps: 2, refineRounds: 1, earlyStop: false,
    onProgress: (p) => progress.push(p.fraction),
  });
  assert.equal(res.master.length, 41);
  assert.equal(res.sigmas.length, 11);
  res.stage1.forEach((s, i) => close(res.master[4 * i]!, s, 0, `stage-1 point ${i} is kept in the master`));
  res.stage1.forEach((s, i) => close(res.sigmas[i]!, s, 1e-12 * s, `10-step interpolation point ${i}`));
  for (let i = 1; i < res.master.length; i++) assert.ok(res.master[i]! < res.master[i - 1]!, 'strictly decreasing');
  const exactInit = gaussianKlubPerC4d(edmSchedule(0.002, 80, 10), c);
  const exactOut = gaussianKlubPerC4d(Float64Array.from(res.stage1).reverse(), c);
  assert.ok(exactOut < 0.7 * exactInit, `exact KLUB ${exactOut} should fall well below EDM's ${exactInit}`);
  assert.ok(progress.length > 5 && progress[progress.length - 1] === 1, 'progress is reported up to 1');
  const trace1 = res.trace.filter((t) => t.stage === 1).map((t) => t.klub);
  for (let i = 1; i < trace1.length; i++) assert.ok(trace1[i]! <= trace1[i - 1]!, 'estimated KLUB falls each sweep');
});

test('integer-timestep mode on the SD1.5-presented mixture: every point is a table sigma', async () => {
  const tb = testbed('gmm16-sd15');
  const table = tb.model!.sigmas!;
  const res = await optimizeAys({
    denoiser: tb.denoiser, rowDenoiser: tb.rowDenoiser, data: (n, rng) => tb.sampleData(n, rng),
    sigmaMin: tb.sigmaMin, sigmaMax: tb.sigmaMax, samples: 256, maxSweeps: 1, refineRounds: 1, earlyStop: false,
    timestepSigmas: table,
  });
  assert.deepEqual(res.masterTimesteps!.slice(0, 1), [999]);
  assert.equal(res.masterTimesteps![40], 0);
  res.master.forEach((s, i) => assert.equal(s, table[res.masterTimesteps![i]!], `master point ${i} is sigma(t) at an integer t`));
  for (let i = 1; i < 41; i++) assert.ok(res.masterTimesteps![i]! < res.masterTimesteps![i - 1]!, 'timesteps strictly decrease');
  assert.deepEqual(res.timesteps, res.masterTimesteps!.filter((_, i) => i % 4 === 0));
});

test('GITS dynamic program equals brute force over all paths', () => {
  const rng = createRng(8);
  const N = 9;
  const cost = Array.from({ length: N }, (_, i) => Array.from({ length: N }, (_, j) => (j > i ? rng.uniform() * (j - i) : Infinity)));
  for (const steps of [1, 2, 3, 5]) {
    for (const coeff of [0.8, 1.2]) {
      // brute force: the DP's value is C[p0][p1] + coeff (C[p1][p2] + coeff (...))
      let best = Infinity;
      const walk = (path: number[]): void => {
        if (path.length === steps) {
          const full = [...path, N - 1];
          let v = 0;
          for (let k = full.length - 2; k >= 0; k--) v = cost[full[k]!]![full[k + 1]!]! + (k === full.length - 2 ? 0 : coeff * v);
          best = Math.min(best, v);
          return;
        }
        for (let j = path[path.length - 1]! + 1; j < N - 1; j++) walk([...path, j]);
      };
      walk([0]);
      const dp = gitsDynamicProgram(cost, steps, coeff);
      close(dp.value, best, 1e-12, `steps ${steps} coeff ${coeff}`);
      assert.equal(dp.path.length, steps + 1);
      assert.equal(dp.path[0], 0);
      assert.equal(dp.path[steps], N - 1);
    }
  }
  assert.throws(() => gitsDynamicProgram(cost, 9, 1.2), /at least 10 points/);
});

test('GITS on a testbed returns a descending path on the teacher grid', async () => {
  const tb = testbed('gmm2d-6x6');
  const r = await optimizeGits({ denoiser: tb.denoiser, sigmaMin: tb.sigmaMin, sigmaMax: tb.sigmaMax, sampleShape: [2], steps: 6, warmup: 32, teacherSteps: 20 });
  assert.equal(r.sigmas.length, 7);
  assert.equal(r.sigmas[0], 80);
  close(r.sigmas[6]!, 0.002, 1e-15, 'ends at sigma_min');
  for (const s of r.sigmas) assert.ok(r.grid.includes(s));
});

test('schedule files: round trip, bare arrays, interpolation (spec §5 SD1.5 5-step vector), bad input', () => {
  const sd1 = [14.6146412293, 6.4745760956, 3.8636745985, 2.694615152, 1.8841921177, 1.3943805092, 0.9642583904, 0.6523686016, 0.3977456272, 0.1515232662, 0.0291671582];
  const file = makeScheduleFile({ method: 'ays', table: sd1, master_sigmas: sd1, made_by: { test: true } });
  assert.equal(file.sigmas[10], 0);
  const back = readScheduleFile(JSON.stringify(file));
  assert.deepEqual(back.sigmas, file.sigmas);
  assert.deepEqual(sigmasFromScheduleJson(JSON.parse(JSON.stringify(file))), file.sigmas, 'the schedules module reads it');
  const five = sigmasForSteps(back, 5);
  [14.6146, 3.8637, 1.8842, 0.9643, 0.3977, 0].forEach((w, i) => close(five[i]!, w, 6e-5, `5-step value ${i}`));
  assert.deepEqual(sigmasForSteps(back, 10), file.sigmas, 'the file\'s own step count is its own list, not an interpolation');
  assert.throws(() => readScheduleFile('{"sigmas": [1, 2]}'), /strictly decreasing/);
  assert.throws(() => readScheduleFile('{"sigmas": "x"}'), /array of at least two finite numbers/);
  assert.throws(() => readScheduleFile('nope'), /not valid JSON/);
  assert.equal(subdivide([1, 4]).length, 3);
  close(subdivide([1, 4])[1]!, 2, 1e-15, 'geometric mean');
});

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

test('ays optimize: writes a schedule JSON, refuses to overwrite, rejects bad input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ays-opt-'));
  const out = join(dir, 's.json');
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const ok = run('optimize', '--testbed', 'gaussian', '--solver', 'euler', '--steps', '6', '--out', out, '--samples', '64', '--max-sweeps', '1', '--method', 'ays');
  assert.equal(ok.status, 0, ok.stderr);
  const file = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(file.sigmas.length, 7);
  assert.equal(file.master_sigmas.length, 41);
  assert.equal(file.made_by.testbed, 'gaussian');
  const again = run('optimize', '--testbed', 'gaussian', '--out', out);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already exists; refusing to overwrite it \(pass --overwrite/);
  assert.match(run('optimize', '--testbed', 'nope', '--out', join(dir, 'x.json')).stderr, /unknown testbed "nope"/);
  assert.match(run('optimize', '--testbed', 'gaussian', '--steps', 'ten', '--out', join(dir, 'x.json')).stderr, /--steps must be an integer/);
  writeFileSync(join(dir, 'bad.json'), '[1, 2]');
  const bench = run('bench', 'quality', '--testbed', 'gaussian', '--samplers', 'euler', '--schedulers', `karras,custom:${out}`, '--steps', '6', '--count', '64', '--json', '--no-plot');
  assert.equal(bench.status, 0, bench.stderr);
  const rows = JSON.parse(bench.stdout).results as { scheduler: string; metric: string; value: number }[];
  assert.ok(rows.some((r) => r.scheduler === `custom:${out}` && r.metric === 'kl' && r.value >= 0));
  assert.match(run('bench', 'quality', '--schedulers', 'custom:/no/such.json').stderr, /does not exist/);
});
