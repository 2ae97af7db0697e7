// Replays every case of ComfyUI's schedule conformance files (test/fixtures/comfyui, copied byte for byte
// from the shared conformance data). Set AYS_CONFORMANCE_DIR to replay another set with the same schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelSampling } from '../src/model-sampling/index.js';
import {
  calculateSigmas,
  ksamplerSigmas,
  alignYourStepsSigmas,
  gitsSigmas,
  karrasSigmas,
  exponentialSigmas,
  polyexponentialSigmas,
  vpSigmas,
  laplaceSigmas,
  betaSamplingSigmas,
  sdTurboSigmas,
  splitSigmas,
  splitSigmasDenoise,
  flipSigmas,
  extendIntermediateSigmas,
  samplingPercentToSigma,
  type AysTableName,
  type ExtendSpacing,
} from '../src/schedules/index.js';

const dir = process.env.AYS_CONFORMANCE_DIR ?? join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'comfyui');
const load = (name: string): any => JSON.parse(readFileSync(join(dir, name), 'utf8'));
const decode = (v: unknown): number => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : (v as number));

const bits = new Float32Array(1);
const ints = new Uint32Array(bits.buffer);
/** Distance in float32 ulps between two non-negative float32-representable values. */
function ulps(a: number, b: number): number {
  if (a === b) return 0;
  if (Number.isNaN(a) || Number.isNaN(b) || Math.sign(a) * Math.sign(b) < 0) return Infinity;
  bits[0] = Math.abs(a);
  const ia = ints[0]!;
  bits[0] = Math.abs(b);
  const ib = ints[0]!;
  return Math.abs(ia - ib);
}

interface Tally {
  cases: number;
  exact: number;
  maxUlps: number;
}
const newTally = (): Tally => ({ cases: 0, exact: 0, maxUlps: 0 });

/** Asserts the lists agree within 1 float32 ulp per value; counts exact cases. */
function check(tally: Tally, id: string, got: readonly number[], want: readonly unknown[]): void {
  const expected = want.map(decode);
  assert.equal(got.length, expected.length, `${id}: length ${got.length} != ${expected.length}\n got ${got}\nwant ${expected}`);
  let worst = 0;
  expected.forEach((w, i) => {
    const d = ulps(got[i]!, w);
    worst = Math.max(worst, d);
    assert.ok(d <= 1, `${id}[${i}]: got ${got[i]}, ComfyUI ${w} (${d} float32 ulps apart)`);
  });
  tally.cases++;
  if (worst === 0) tally.exact++;
  tally.maxUlps = Math.max(tally.maxUlps, worst);
}
const report = (t: { diagnostic: (m: string) => void }, name: string, tally: Tally) => {
  t.diagnostic(`${name}: ${tally.cases} cases within 1 ulp, ${tally.exact} exact, max ${tally.maxUlps} ulp`);
  // The bundled fixtures are all reproduced bit for bit (torch's float32 kernels are emulated); keep it so.
  if (!process.env.AYS_CONFORMANCE_DIR) assert.equal(tally.exact, tally.cases, `${name}: every bundled case should be exact`);
};

const schedules = load('schedules.json');

test('schedules.json calculate_sigmas: every scheduler, model and step count', (t) => {
  const tally = newTally();
  for (const c of schedules.calculate_sigmas) {
    const ms = modelSampling(c.model);
    if (c.sigmas.some((v: unknown) => decode(v) !== decode(v))) {
      // ComfyUI returns NaN here (kl_optimal at 1 step: 0/0). ays documents its choice instead:
      // the i = 0 end of the formula, a single step sigma_max -> 0.
      assert.equal(c.scheduler, 'kl_optimal');
      const got = calculateSigmas(ms, c.scheduler, c.steps);
      assert.equal(got.length, c.sigmas.length);
      assert.ok(ulps(got[0]!, ms.sigmaMax) <= 1, `${c.id}: ${got[0]} should be sigma_max ${ms.sigmaMax}`);
      assert.equal(got[1], 0);
      continue;
    }
    check(tally, c.id, calculateSigmas(ms, c.scheduler, c.steps), c.sigmas);
  }
  assert.ok(tally.cases >= 178);
  report(t, 'calculate_sigmas', tally);
});

test('schedules.json ksampler_sigmas: denoise and the penultimate-sigma samplers', (t) => {
  const tally = newTally();
  for (const c of schedules.ksampler_sigmas) {
    const ms = modelSampling(c.model);
    assert.equal(schedules.discard_penultimate_sigma_samplers.includes(c.sampler), c.discard_penultimate);
    const got = ksamplerSigmas((n) => calculateSigmas(ms, c.scheduler, n), c.steps, c.denoise, c.sampler);
    check(tally, c.id, got, c.sigmas);
  }
  report(t, 'ksampler_sigmas', tally);
});

test('schedules.json basic_scheduler_node: denoise 1, 0.5 and 0', (t) => {
  const tally = newTally();
  for (const c of schedules.basic_scheduler_node) {
    const ms = modelSampling(c.model);
    const got = ksamplerSigmas((n) => calculateSigmas(ms, c.scheduler, n), c.steps, c.denoise, undefined, true);
    check(tally, c.id, got, c.sigmas);
  }
  report(t, 'basic_scheduler_node', tally);
});

test('ays.json: every model type, step count and denoise', (t) => {
  const ays = load('ays.json');
  const tally = newTally();
  for (const [table, levels] of Object.entries(ays.noise_levels as Record<string, number[]>)) {
    const got = alignYourStepsSigmas({ table: table as AysTableName, steps: levels.length - 1 });
    assert.deepEqual(got.slice(0, -1), levels.slice(0, -1).map(Math.fround), `AYS ${table} table`);
  }
  for (const c of ays.cases) {
    check(tally, c.id, alignYourStepsSigmas({ table: c.model_type, steps: c.steps, denoise: c.denoise }), c.sigmas);
  }
  report(t, 'ays', tally);
});

test('gits.json: every coefficient, step count and denoise', (t) => {
  const gits = load('gits.json');
  const tally = newTally();
  for (const c of gits.cases) {
    check(tally, c.id, gitsSigmas({ steps: c.steps, coeff: c.coeff, denoise: c.denoise }), c.sigmas);
  }
  report(t, 'gits', tally);
});

test('scheduler_nodes.json: parameterised nodes and sigma editing', (t) => {
  const nodes = load('scheduler_nodes.json');
  const base: number[] = nodes.base_sigmas_karras_sd15_10;
  const tally = newTally();
  const seen = new Set<string>();
  for (const c of nodes.cases) {
    const p = c.params;
    const ms = () => modelSampling(p.model);
    seen.add(c.node);
    switch (c.node) {
      case 'KarrasScheduler':
        check(tally, c.id, karrasSigmas(p.steps, p.sigma_min, p.sigma_max, p.rho), c.sigmas);
        break;
      case 'ExponentialScheduler':
        check(tally, c.id, exponentialSigmas(p.steps, p.sigma_min, p.sigma_max), c.sigmas);
        break;
      case 'PolyexponentialScheduler':
        check(tally, c.id, polyexponentialSigmas(p.steps, p.sigma_min, p.sigma_max, p.rho), c.sigmas);
        break;
      case 'VPScheduler':
        check(tally, c.id, vpSigmas(p.steps, p.beta_d, p.beta_min, p.eps_s), c.sigmas);
        break;
      case 'LaplaceScheduler':
        check(tally, c.id, laplaceSigmas(p.steps, p.sigma_min, p.sigma_max, p.mu, p.beta), c.sigmas);
        break;
      case 'BetaSamplingScheduler':
        check(tally, c.id, betaSamplingSigmas(ms(), p.steps, p.alpha, p.beta), c.sigmas);
        break;
      case 'SDTurboScheduler':
        check(tally, c.id, sdTurboSigmas(ms(), p.steps, p.denoise), c.sigmas);
        break;
      case 'SplitSigmas': {
        const [hi, lo] = splitSigmas(base, p.step);
        check(tally, `${c.id}/high`, hi, c.sigmas[0]);
        check(tally, `${c.id}/low`, lo, c.sigmas[1]);
        break;
      }
      case 'SplitSigmasDenoise': {
        const [hi, lo] = splitSigmasDenoise(base, p.denoise);
        check(tally, `${c.id}/high`, hi, c.sigmas[0]);
        check(tally, `${c.id}/low`, lo, c.sigmas[1]);
        break;
      }
      case 'FlipSigmas':
        check(tally, c.id, flipSigmas(base), c.sigmas);
        break;
      case 'ExtendIntermediateSigmas':
        check(tally, c.id, extendIntermediateSigmas(base, p.steps, p.start_at_sigma, p.end_at_sigma, p.spacing as ExtendSpacing), c.sigmas);
        break;
      case 'SamplingPercentToSigma':
        check(tally, c.id, [samplingPercentToSigma(ms(), p.sampling_percent, p.return_actual_sigma)], c.sigmas);
        break;
      default:
        assert.fail(`${c.id}: no replay for node ${c.node}`);
    }
  }
  assert.equal(seen.size, 12);
  report(t, 'scheduler_nodes', tally);
});
