/**
 * ComfyUI's nine KSampler schedulers, each computed from the model's own sampling (sigma table and range),
 * plus the KSampler/BasicScheduler rules for denoise and for samplers that drop the penultimate sigma.
 * Numbers follow ComfyUI's float32 tensor arithmetic; the behaviour was read off the conformance data
 * and the published descriptions, not ComfyUI's code.
 */
import { validateDenoise, validateSteps } from '../core/validate.js';
import type { ModelSampling } from '../model-sampling/types.js';
import { findSamplerSpec } from '../samplers/specs.js';
import { f32, torchLinspaceF32 } from '../model-sampling/float32.js';
import { exponentialSigmas, karrasSigmas, klOptimalSigmas } from './k-diffusion.js';
import { betaPpf, npLinspace, rint } from './numerics.js';


function table(ms: ModelSampling): Float32Array {
  if (!ms.sigmas) throw new RangeError(`model sampling "${ms.name}" has no sigma table`);
  return ms.sigmas;
}

/** `simple`: evenly strided entries of the model's sigma table, from the top, then 0. */
export function simpleSigmas(ms: ModelSampling, steps: number): number[] {
  validateSteps(steps);
  const sig = table(ms);
  const stride = sig.length / steps;
  const out: number[] = [];
  for (let x = 0; x < steps; x++) out.push(sig[sig.length - 1 - Math.trunc(x * stride)]!);
  out.push(0);
  return out;
}

/**
 * `ddim_uniform`: every (len/steps)-th table entry starting at index 1, reversed, with a 0 at the end.
 * Like ComfyUI it starts from index 1 (never sigma_max) and, when len/steps is not an integer, it can
 * produce one step more than asked (30 steps on a 1000-entry table give 31).
 */
export function ddimUniformSigmas(ms: ModelSampling, steps: number): number[] {
  validateSteps(steps);
  const sig = table(ms);
  let n = steps;
  const ascending: number[] = [];
  if (Math.abs(sig[1]!) <= 1e-5) n += 1; // table already reaches 0: no extra final 0
  else ascending.push(0);
  const stride = Math.max(Math.floor(sig.length / n), 1);
  for (let x = 1; x < sig.length; x += stride) ascending.push(sig[x]!);
  return ascending.reverse();
}

/**
 * `normal` (sgm = false) and `sgm_uniform` (sgm = true): timesteps evenly spaced (float32 linspace)
 * between timestep(sigma_max) and timestep(sigma_min), mapped through sigma(t). `normal` includes the end
 * point; `sgm_uniform` spaces steps+1 points and drops the last. Both append 0, except that `normal` adds a
 * step instead when sigma(end) is already ~0.
 */
export function normalSigmas(ms: ModelSampling, steps: number, sgm = false): number[] {
  validateSteps(steps);
  const start = ms.timestep(ms.sigmaMax);
  const end = ms.timestep(ms.sigmaMin);
  let appendZero = true;
  let ts: number[];
  if (sgm) {
    ts = torchLinspaceF32(start, end, steps + 1).slice(0, -1);
  } else {
    let n = steps;
    if (Math.abs(ms.sigma(end)) <= 1e-5) {
      n += 1;
      appendZero = false;
    }
    ts = torchLinspaceF32(start, end, n);
  }
  const out = ts.map((t) => ms.sigma(t));
  if (appendZero) out.push(0);
  return out;
}

export function sgmUniformSigmas(ms: ModelSampling, steps: number): number[] {
  return normalSigmas(ms, steps, true);
}

/**
 * `beta` (Lee et al. 2024): table indices at Beta(alpha, beta) quantiles of a uniform grid, rounded to the
 * nearest integer, then 0. Repeated indices are skipped, as ComfyUI does, so the list can have fewer
 * than steps+1 values (e.g. sd15 at 200 steps); ays keeps that behaviour for conformance and says so.
 */
export function betaSigmas(ms: ModelSampling, steps: number, alpha = 0.6, beta = 0.6): number[] {
  validateSteps(steps);
  if (!(alpha > 0 && beta > 0)) throw new RangeError(`beta schedule needs alpha > 0 and beta > 0, got ${alpha}, ${beta}`);
  const sig = table(ms);
  const total = sig.length - 1;
  const out: number[] = [];
  let last = -1;
  for (const u of npLinspace(0, 1, steps, false)) {
    const t = rint(betaPpf(1 - u, alpha, beta) * total);
    if (t !== last) {
      out.push(sig[t]!);
      last = t;
    }
  }
  out.push(0);
  return out;
}

/**
 * `linear_quadratic` (from Mochi): a flow-style schedule in [0, 1]: linear for the first half of the steps
 * up to threshold 0.025, quadratic after; returned as (1 - x) * sigma_max.
 */
export function linearQuadraticSigmas(ms: ModelSampling, steps: number, thresholdNoise = 0.025, linearSteps?: number): number[] {
  validateSteps(steps);
  let schedule: number[];
  if (steps === 1) {
    schedule = [1, 0];
  } else {
    const ls = linearSteps ?? Math.trunc(steps / 2);
    const linear: number[] = [];
    for (let i = 0; i < ls; i++) linear.push((i * thresholdNoise) / ls);
    const diff = ls - thresholdNoise * steps;
    const qs = steps - ls;
    const qCoef = diff / (ls * qs ** 2);
    const lCoef = thresholdNoise / ls - (2 * diff) / qs ** 2;
    const c = qCoef * ls ** 2;
    const quadratic: number[] = [];
    for (let i = ls; i < steps; i++) quadratic.push(qCoef * i ** 2 + lCoef * i + c);
    schedule = [...linear, ...quadratic, 1].map((x) => 1 - x);
  }
  const sMax = f32(ms.sigmaMax);
  return schedule.map((x) => f32(f32(x) * sMax));
}

export interface ComfySchedulerEntry {
  description: string;
  fn: (ms: ModelSampling, steps: number) => number[];
}

/** The nine names of ComfyUI's KSampler scheduler list, in its order. */
export const comfySchedulers: Record<string, ComfySchedulerEntry> = {
  simple: { description: 'evenly strided entries of the model sigma table (ComfyUI simple)', fn: simpleSigmas },
  sgm_uniform: { description: 'timesteps uniform, end point excluded (SGM / SD-Turbo style)', fn: sgmUniformSigmas },
  karras: {
    description: 'Karras et al. rho=7 over the model sigma range',
    fn: (ms, steps) => karrasSigmas(steps, ms.sigmaMin, ms.sigmaMax),
  },
  exponential: {
    description: 'log-sigma uniform over the model sigma range',
    fn: (ms, steps) => exponentialSigmas(steps, ms.sigmaMin, ms.sigmaMax),
  },
  ddim_uniform: { description: 'DDIM uniform timestep stride (can add one step)', fn: ddimUniformSigmas },
  beta: { description: 'Beta(0.6,0.6) quantiles of the timestep table (may drop repeats)', fn: (ms, steps) => betaSigmas(ms, steps) },
  normal: { description: 'timesteps uniform from sigma_max to sigma_min', fn: (ms, steps) => normalSigmas(ms, steps) },
  linear_quadratic: { description: 'linear then quadratic in sigma/sigma_max (Mochi)', fn: (ms, steps) => linearQuadraticSigmas(ms, steps) },
  kl_optimal: {
    description: 'KL-optimal: atan(sigma) uniform (AYS Thm 3.1, c=1)',
    fn: (ms, steps) => klOptimalSigmas(steps, ms.sigmaMin, ms.sigmaMax),
  },
};

export const comfySchedulerNames: readonly string[] = Object.keys(comfySchedulers);

/** ComfyUI's calculate_sigmas: the named scheduler for `steps` steps on this model. */
export function calculateSigmas(ms: ModelSampling, scheduler: string, steps: number): number[] {
  const entry = Object.prototype.hasOwnProperty.call(comfySchedulers, scheduler) ? comfySchedulers[scheduler] : undefined;
  if (!entry) throw new RangeError(`unknown scheduler "${scheduler}"; valid: ${comfySchedulerNames.join(', ')}`);
  return entry.fn(ms, steps);
}

/** Whether ComfyUI's KSampler computes steps+1 sigmas and drops the second to last for this sampler (its spec says). */
export function discardsPenultimateSigma(sampler: string | undefined): boolean {
  return sampler !== undefined && findSamplerSpec(sampler)?.discardsPenultimateSigma === true;
}

/**
 * The KSampler rule: with a sampler whose spec discards the penultimate sigma, build steps+1 and drop the
 * penultimate sigma; with denoise < 1 (ComfyUI's test is denoise <= 0.9999), build floor(steps/denoise)
 * steps and keep the last steps+1 sigmas, so the step count is kept. denoise 0 gives an empty list.
 * `node: true` uses the BasicScheduler node's test (denoise < 1) instead; otherwise the same.
 */
export function ksamplerSigmas(
  build: (steps: number) => number[],
  steps: number,
  denoise = 1,
  sampler?: string,
  node = false,
): number[] {
  validateSteps(steps);
  validateDenoise(denoise);
  const discard = discardsPenultimateSigma(sampler);
  const calc = (n: number): number[] => {
    if (!discard) return build(n);
    const s = build(n + 1);
    return [...s.slice(0, -2), ...s.slice(-1)];
  };
  const full = node ? denoise >= 1 : denoise > 0.9999;
  if (full) return calc(steps);
  if (denoise <= 0) return [];
  return calc(Math.trunc(steps / denoise)).slice(-(steps + 1));
}
