/**
 * Teacher-matching schedules (docs: shared/docs/teacher-schedules.md): minimise the error of a sampler's
 * result against a many-step run of the SAME sampler from the SAME noise (and, for stochastic samplers, the same
 * Brownian path), on training noises.
 *
 * Stage A (OSS-style dynamic program, Pei et al. 2025, with the sampler's own update): the student picks its
 * sigmas among the teacher grid's. Level k holds, for every grid node h, the student state after exactly k
 * steps that lands nearest (mean squared error pooled over the whole training batch) to the teacher's state T_h,
 * together with the multistep history of the path that produced it. One batched model call per reachable node
 * and level; paths for every n <= K come out of one pass. Exact updates: euler, dpmpp_2m (with its history),
 * euler_ancestral and dpmpp_2m_sde (eta 1, their noise taken from the shared Brownian path). Other samplers run
 * the DP with a "parent" update (heunpp2 -> euler, dpmpp_2s_ancestral -> euler_ancestral, dpmpp_3m_sde ->
 * dpmpp_2m_sde) against their own teacher's states, and rely on stage B, which runs the real sampler.
 *
 * Stage B (coordinate search in log sigma, running the real sampler): each interior sigma moves a fraction f
 * towards a neighbour; a candidate reruns the sampler from the cached prefix (calls before the changed sigma are
 * replayed from a log after checking that their inputs are bit-identical), and is kept only when the training
 * objective strictly falls. The objective is the mean squared error of the final x0 (in image space [0, 1] when
 * an image map is given, as for the bundled model; in latent space for Stable Diffusion latents).
 *
 * Noise convention (stochastic samplers): every run, teacher, student, optimisation and paired evaluation, draws
 * its noise from ONE Brownian tree per seed over the model's fixed sigma range [sigma_min, sigma_max]
 * (`pairedNoise`), so W(sigma) does not move when a schedule's last sigma moves and a 100-step teacher and a
 * 10-step student follow the same Brownian path. Ancestral samplers get their per-step normals from the same
 * path's increments ((W(s) - W(s')) / sqrt(s - s')): each draw is still a standard normal, so their law is
 * unchanged, but unlike ComfyUI's fresh randn per step the draws are coupled across step counts.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser, NoiseSource } from '../samplers/types.js';
import { sample } from '../samplers/sample.js';
import { samplerSpec } from '../samplers/registry.js';
import { comfyDefaultNoise, extendedBrownianTreeNoise } from '../noise/sources.js';
import { edmSchedule } from './search.js';

/** Samplers whose stage-A update is exact. */
export const exactDpSamplers = ['euler', 'dpmpp_2m', 'euler_ancestral', 'dpmpp_2m_sde'] as const;
/** The update stage A uses for the other samplers it supports. */
const dpParent: Record<string, string> = {
  heunpp2: 'euler',
  heun: 'euler',
  dpmpp_2s_ancestral: 'euler_ancestral',
  dpmpp_3m_sde: 'dpmpp_2m_sde',
};

/** The update rule stage A uses for `sampler` (itself when exact), or undefined when stage A does not apply. */
export function dpRuleFor(sampler: string): string | undefined {
  if ((exactDpSamplers as readonly string[]).includes(sampler)) return sampler;
  return dpParent[sampler];
}

/** Whether the sampler draws noise with its default parameters (its spec's `noise` is not 'none'). */
export function drawsNoise(sampler: string): boolean {
  return samplerSpec(sampler).noise !== 'none';
}

/**
 * Which path the teacher method takes for `sampler`:
 * - 'family' when the sampler draws noise and stage A has no noise-free update for it (its own rule, or its
 *   parent's, draws noise too): the DP's premise (each segment starts from the teacher's state) fails for a
 *   stochastic sampler and it over-fits the training Brownian paths, so the teacher method fits the
 *   two-parameter beta family instead (teacher-family.ts);
 * - 'dp' when stage A applies with a noise-free update (euler, dpmpp_2m, and heunpp2, which draws churn noise
 *   but multiplies it by 0 with its defaults);
 * - 'refine' for the other deterministic samplers (stage B from karras).
 */
export function teacherPathFor(sampler: string): 'dp' | 'family' | 'refine' {
  const rule = dpRuleFor(sampler);
  if (drawsNoise(sampler) && (!rule || drawsNoise(rule))) return 'family';
  return rule ? 'dp' : 'refine';
}

/**
 * The noise every optimisation and paired evaluation uses for `sampler` and `seed`: a Brownian tree over the
 * model's fixed range for samplers that draw noise, ComfyUI's default stream otherwise (unused by them).
 */
export function pairedNoise(sampler: string, seed: number, sigmaMin: number, sigmaMax: number): NoiseSource {
  if (!drawsNoise(sampler)) return comfyDefaultNoise(seed);
  // the tree starts at 0 so that every schedule of the model fits in it (sigmaMin only sets the tree's resolution);
  // it goes on above sigmaMax (an independent tree up to 1000 sigmaMax, the path inside the range unchanged)
  // because shipped schedules may start a little (ays_a1111: 14.615 on SD1.5's 14.6146) or far (vp) above it
  const path = extendedBrownianTreeNoise({ seed, sigmaMin: Math.min(0, sigmaMin), sigmaMax, headroom: 1000 });
  // draws without noise levels (torch.randn_like: heunpp2's churn noise, multiplied by 0 with its defaults) come from
  // ComfyUI's default stream, as before
  const fresh = comfyDefaultNoise(seed);
  return {
    next: (like, s, sn) => path.next(like, s, sn),
    randnLike: (like) => (fresh.randnLike ? fresh.randnLike(like) : fresh.next(like, NaN, NaN)),
  };
}

/** The teacher grid: karras (rho 7) with `steps` steps over [sigmaMin, sigmaMax], ending in 0. */
export function teacherGrid(sigmaMin: number, sigmaMax: number, steps = 100): number[] {
  if (steps === 1) return [sigmaMax, 0];
  return [...edmSchedule(sigmaMin, sigmaMax, steps - 1).reverse(), 0];
}

/** The problem both stages (and the paired evaluation) share. */
export interface TeacherProblem {
  /** The guided denoiser over the whole batch (one call per evaluation). */
  denoiser: Denoiser;
  /** Unit normal starting noise z, [B, ...]; the sampler starts at z * sqrt(1 + sigma_0^2). */
  noise: Tensor;
  sampler: string;
  /** Seed of the Brownian path (stochastic samplers). */
  noiseSeed: number;
  /** The model's sigma range: the Brownian tree's range, and the floor for the last positive sigma. */
  sigmaMin: number;
  sigmaMax: number;
  /** Map a final sample to the space the objective is measured in (e.g. pixels in [0, 1]); identity when absent. */
  toImage?: (x: Float64Array) => Float64Array;
  signal?: AbortSignal;
}

function startLatent(noise: Tensor, sigma0: number): Tensor {
  const s = Math.sqrt(1 + sigma0 * sigma0);
  const data = new Float64Array(noise.data.length);
  for (let i = 0; i < data.length; i++) data[i] = noise.data[i]! * s;
  return { data, shape: [...noise.shape] };
}

/** Per-image mean squared error between two batches of the same shape. */
export function perImageMse(a: Float64Array, b: Float64Array, batch: number): Float64Array {
  const plane = a.length / batch;
  const out = new Float64Array(batch);
  for (let r = 0; r < batch; r++) {
    let s = 0;
    for (let j = r * plane, e = j + plane; j < e; j++) {
      const d = a[j]! - b[j]!;
      s += d * d;
    }
    out[r] = s / plane;
  }
  return out;
}

function mean(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]!;
  return s / v.length;
}

/** Run the real sampler over `sigmas` from the problem's noise with the paired noise convention. */
export async function runSampler(p: TeacherProblem, sigmas: readonly number[], denoiser: Denoiser = p.denoiser, onStep?: (i: number, x: Float64Array) => void): Promise<Float64Array> {
  const x = startLatent(p.noise, sigmas[0]!);
  const out = await sample(p.sampler, denoiser, x, sigmas, {
    noise: pairedNoise(p.sampler, p.noiseSeed, p.sigmaMin, p.sigmaMax),
    ...(p.signal ? { signal: p.signal } : {}),
    ...(onStep ? { onStep: (info) => onStep(info.i, Float64Array.from(info.x.data)) } : {}),
  });
  return out.data instanceof Float64Array ? out.data : Float64Array.from(out.data);
}

// ---------------------------------------------------------------------------------------------------------
// Stage A

interface DpState {
  x: Float64Array;
  /** Previous denoised prediction and its sigma (multistep history); null on the first step. */
  dPrev: Float64Array | null;
  sPrev: number;
}

/** One step of `rule` from state st (at sigma s, prediction D) to sigma sn into out; noise = the standard normal of the step. */
function dpStep(rule: string, out: Float64Array, st: DpState, D: Float64Array, s: number, sn: number, noise: Float64Array | null): void {
  const x = st.x, n = x.length;
  if (sn === 0) {
    out.set(D);
    return;
  }
  switch (rule) {
    case 'euler': {
      const k = (sn - s) / s, a = 1 + k;
      for (let j = 0; j < n; j++) out[j] = a * x[j]! - k * D[j]!;
      return;
    }
    case 'euler_ancestral': {
      const up = Math.min(sn, Math.sqrt((sn ** 2 * (s ** 2 - sn ** 2)) / s ** 2));
      const down = Math.sqrt(sn ** 2 - up ** 2);
      const k = (down - s) / s, a = 1 + k;
      for (let j = 0; j < n; j++) out[j] = a * x[j]! - k * D[j]! + up * noise![j]!;
      return;
    }
    case 'dpmpp_2m': {
      const t = -Math.log(s), tn = -Math.log(sn), h = tn - t;
      const a = sn / s, b = -Math.expm1(-h);
      if (!st.dPrev) {
        for (let j = 0; j < n; j++) out[j] = a * x[j]! + b * D[j]!;
      } else {
        const r = (t + Math.log(st.sPrev)) / h;
        const c1 = b * (1 + 1 / (2 * r)), c2 = b * (1 / (2 * r)), od = st.dPrev;
        for (let j = 0; j < n; j++) out[j] = a * x[j]! + c1 * D[j]! - c2 * od[j]!;
      }
      return;
    }
    case 'dpmpp_2m_sde': {
      const h = -Math.log(sn) + Math.log(s);
      const a = (sn / s) * Math.exp(-h), b = -Math.expm1(-2 * h);
      let c = 0;
      if (st.dPrev) {
        const hLast = -Math.log(s) + Math.log(st.sPrev);
        c = 0.5 * b * (h / hLast);
      }
      const u = sn * Math.sqrt(-Math.expm1(-2 * h)), od = st.dPrev;
      for (let j = 0; j < n; j++) out[j] = a * x[j]! + b * D[j]! + (od ? c * (D[j]! - od[j]!) : 0) + u * noise![j]!;
      return;
    }
    default:
      throw new RangeError(`teacher DP: no update rule for "${rule}"`);
  }
}

/** Deterministic rules: the step as cx * x + cd * D + cp * D_prev. */
function dpCoefficients(rule: string, st: DpState, s: number, sn: number): [number, number, number] {
  if (sn === 0) return [0, 1, 0];
  if (rule === 'euler') {
    const k = (sn - s) / s;
    return [1 + k, -k, 0];
  }
  if (rule === 'dpmpp_2m') {
    const t = -Math.log(s), tn = -Math.log(sn), h = tn - t;
    const a = sn / s, b = -Math.expm1(-h);
    if (!st.dPrev) return [a, b, 0];
    const r = (t + Math.log(st.sPrev)) / h;
    return [a, b * (1 + 1 / (2 * r)), -b * (1 / (2 * r))];
  }
  throw new RangeError(`teacher DP: no linear form for "${rule}"`);
}

export interface DpResult {
  /** paths[n] = grid indices of the best n-step path (n + 1 entries, 0 ... M), for n = 1..K. */
  paths: number[][];
  /** costs[n] = its training error at the final node (mean over images and elements, model space). */
  costs: number[];
  /** The rule used (the sampler itself, or its parent). */
  rule: string;
  calls: number;
}

export interface TeacherTrajectory {
  /** States T_0..T_M of the teacher run (T_M is its result). */
  states: Float64Array[];
  grid: number[];
  calls: number;
}

/** Run the teacher on `grid` keeping every state. */
export async function runTeacher(p: TeacherProblem, grid: readonly number[], denoiser: Denoiser = p.denoiser): Promise<TeacherTrajectory> {
  const states: Float64Array[] = new Array(grid.length);
  let calls = 0;
  const counted: Denoiser = (x, s) => {
    calls++;
    return denoiser(x, s);
  };
  const final = await runSampler(p, grid, counted, (i, x) => (states[i] = x));
  states[grid.length - 1] = final;
  for (let i = 0; i < grid.length; i++) if (!states[i]) throw new Error(`teacher: no state recorded at grid index ${i} (${p.sampler} skips the step callback?)`);
  return { states, grid: [...grid], calls };
}

/**
 * The increments of the shared Brownian path along the grid: cum[h] such that the standard normal of a step
 * grid[g] -> grid[h] is (cum[h] - cum[g]) / sqrt(grid[g] - grid[h]), exactly what the sampler draws.
 */
function brownianAlongGrid(p: TeacherProblem, grid: readonly number[]): Float64Array[] {
  const src = pairedNoise(p.sampler, p.noiseSeed, p.sigmaMin, p.sigmaMax);
  const n = p.noise.data.length;
  const like: Tensor = { data: new Float64Array(n), shape: [...p.noise.shape] };
  const cum: Float64Array[] = [new Float64Array(n)];
  for (let h = 1; h < grid.length; h++) {
    if (grid[h] === 0) {
      cum.push(cum[h - 1]!); // never used: steps to 0 add no noise
      continue;
    }
    const z = src.next(like, grid[h - 1]!, grid[h]!);
    const w = Math.sqrt(grid[h - 1]! - grid[h]!);
    const prev = cum[h - 1]!, c = new Float64Array(n);
    for (let j = 0; j < n; j++) c[j] = prev[j]! + z.data[j]! * w;
    cum.push(c);
  }
  return cum;
}

export interface DpOptions {
  /** Largest step count wanted (paths for every n <= maxSteps). */
  maxSteps: number;
  /** Override the update rule (default dpRuleFor(sampler)). */
  rule?: string;
  /** Pool the cost over these batch rows only (default every row); the model still runs on the whole batch. */
  rows?: readonly number[];
  onProgress?: (done: number, total: number) => void;
}

/** Stage A: the teacher-matching dynamic program over the teacher's grid. */
export async function teacherDp(p: TeacherProblem, teacher: TeacherTrajectory, options: DpOptions): Promise<DpResult> {
  const rule = options.rule ?? dpRuleFor(p.sampler);
  if (!rule) throw new RangeError(`teacher DP: no stage-A update for sampler "${p.sampler}"; use stage B only`);
  const grid = teacher.grid, M = grid.length - 1, K = options.maxSteps;
  if (!Number.isInteger(K) || K < 1 || K > M) throw new RangeError(`teacher DP: steps must be in 1..${M} (the teacher grid has ${M} steps), got ${K}`);
  const T = teacher.states;
  const n = T[0]!.length;
  const stochastic = rule === 'euler_ancestral' || rule === 'dpmpp_2m_sde';
  const batch = p.noise.shape[0]!;
  const rows = options.rows;
  if (rows) {
    if (rows.length === 0 || rows.some((r) => !Number.isInteger(r) || r < 0 || r >= batch)) throw new RangeError(`teacher DP: rows must be a non-empty list of batch rows 0..${batch - 1}`);
  }
  const cum = stochastic ? brownianAlongGrid(p, grid) : null;
  const shape = [...p.noise.shape];
  const x0 = startLatent(p.noise, grid[0]!).data as Float64Array;
  let level: Array<DpState | null> = new Array(M + 1).fill(null);
  level[0] = { x: x0, dPrev: null, sPrev: 0 };
  const arg: Int32Array[] = [new Int32Array(M + 1).fill(-1)];
  const best: Float64Array[] = [new Float64Array(M + 1).fill(Infinity)];
  best[0]![0] = 0;
  const scratch = new Float64Array(n), noiseBuf = stochastic ? new Float64Array(n) : null;
  let calls = 0;
  const total = 1 + Array.from({ length: K - 1 }, (_, i) => M - (i + 2) + 1).reduce((a, b) => a + b, 0);
  // Deterministic rules: a candidate is a linear combination of (x_g, D_g, D_prev), so its error to T_h is a
  // quadratic form in the Gram matrix of those vectors and their dot products with T_h; the dot products for
  // every h come from one pass over the elements against the transposed teacher states (M + 1 values per
  // element, contiguous). The chosen candidates are then computed exactly and their costs recomputed directly.
  const W = M + 1;
  let Tt: Float64Array | null = null;
  const TT = new Float64Array(W);
  if (!stochastic && !rows) {
    Tt = new Float64Array(n * W);
    for (let h = 0; h <= M; h++) {
      const th = T[h]!;
      let q = 0;
      for (let j = 0; j < n; j++) {
        const v = th[j]!;
        Tt[j * W + h] = v;
        q += v * v;
      }
      TT[h] = q;
    }
  }
  const ax = new Float64Array(W), ad = new Float64Array(W), ap = new Float64Array(W);
  const plane = n / batch;
  const exactCost = (x: Float64Array, th: Float64Array): number => {
    let c = 0;
    if (rows) {
      for (const r of rows) {
        for (let j = r * plane, e = j + plane; j < e; j++) {
          const d = x[j]! - th[j]!;
          c += d * d;
        }
      }
      return c / (rows.length * plane);
    }
    for (let j = 0; j < n; j++) {
      const d = x[j]! - th[j]!;
      c += d * d;
    }
    return c / n;
  };
  for (let k = 1; k <= K; k++) {
    const nextLevel: Array<DpState | null> = new Array(M + 1).fill(null);
    const bk = new Float64Array(M + 1).fill(Infinity), ak = new Int32Array(M + 1).fill(-1);
    const Ds: Array<Float64Array | null> = new Array(M + 1).fill(null);
    // at the last level only the final node matters
    const lastLevel = k === K;
    for (let g = 0; g < M; g++) {
      const st = level[g];
      if (!st) continue;
      if (p.signal?.aborted) throw p.signal.reason ?? new Error('aborted');
      const out = await p.denoiser({ data: st.x, shape }, grid[g]!);
      calls++;
      options.onProgress?.(calls, total);
      const D = out.data instanceof Float64Array ? out.data : Float64Array.from(out.data);
      Ds[g] = D;
      const h0 = lastLevel ? M : g + 1;
      if (Tt) {
        // dot products of x, D, D_prev with every T_h (h >= h0), and their Gram matrix
        const x = st.x, P = st.dPrev;
        ax.fill(0);
        ad.fill(0);
        ap.fill(0);
        let xx = 0, xd = 0, dd = 0, xp = 0, dp = 0, pp = 0;
        for (let j = 0; j < n; j++) {
          const xj = x[j]!, dj = D[j]!, base = j * W;
          xx += xj * xj;
          xd += xj * dj;
          dd += dj * dj;
          if (P) {
            const pj = P[j]!;
            xp += xj * pj;
            dp += dj * pj;
            pp += pj * pj;
            for (let h = h0; h <= M; h++) {
              const t = Tt[base + h]!;
              ax[h] = ax[h]! + (xj * t);
              ad[h] = ad[h]! + (dj * t);
              ap[h] = ap[h]! + (pj * t);
            }
          } else {
            for (let h = h0; h <= M; h++) {
              const t = Tt[base + h]!;
              ax[h] = ax[h]! + (xj * t);
              ad[h] = ad[h]! + (dj * t);
            }
          }
        }
        const s = grid[g]!;
        for (let h = h0; h <= M; h++) {
          const [cx, cd, cp] = dpCoefficients(rule, st, s, grid[h]!);
          const q = cx * cx * xx + cd * cd * dd + cp * cp * pp + 2 * (cx * cd * xd + cx * cp * xp + cd * cp * dp);
          const c = (q - 2 * (cx * ax[h]! + cd * ad[h]! + cp * ap[h]!) + TT[h]!) / n;
          if (c < bk[h]!) {
            bk[h] = c;
            ak[h] = g;
          }
        }
        continue;
      }
      for (let h = h0; h <= M; h++) {
        let noise: Float64Array | null = null;
        if (cum && grid[h]! > 0) {
          const a = cum[g]!, b = cum[h]!, w = 1 / Math.sqrt(grid[g]! - grid[h]!);
          for (let j = 0; j < n; j++) noiseBuf![j] = (b[j]! - a[j]!) * w;
          noise = noiseBuf;
        }
        dpStep(rule, scratch, st, D, grid[g]!, grid[h]!, noise);
        const c = exactCost(scratch, T[h]!);
        if (c < bk[h]!) {
          bk[h] = c;
          ak[h] = g;
          const prev = nextLevel[h];
          const x = prev ? prev.x : new Float64Array(n);
          x.set(scratch);
          nextLevel[h] = { x, dPrev: D, sPrev: grid[g]! };
        }
      }
    }
    if (Tt) {
      // the chosen candidates, exactly
      for (let h = 1; h <= M; h++) {
        const g = ak[h]!;
        if (g < 0) continue;
        const x = new Float64Array(n);
        dpStep(rule, x, level[g]!, Ds[g]!, grid[g]!, grid[h]!, null);
        bk[h] = exactCost(x, T[h]!);
        nextLevel[h] = { x, dPrev: Ds[g]!, sPrev: grid[g]! };
      }
    }
    nextLevel[M] = null; // nothing steps on from sigma = 0
    best.push(bk);
    arg.push(ak);
    level = nextLevel;
  }
  const paths: number[][] = [[]], costs: number[] = [NaN];
  for (let nSteps = 1; nSteps <= K; nSteps++) {
    const path = [M];
    for (let k = nSteps, h = M; k > 0; k--) {
      h = arg[k]![h]!;
      path.unshift(h);
    }
    paths.push(path);
    costs.push(best[nSteps]![M]!);
  }
  return { paths, costs, rule, calls };
}

// ---------------------------------------------------------------------------------------------------------
// Stage B

interface CallRecord {
  sigma: number;
  x: Float64Array;
  out: Float64Array;
}

/**
 * Runs the real sampler, replaying the model calls of the last accepted schedule's run while the candidate's
 * calls are bit-identical to them (same sigma, same input), so a candidate that changes sigma_i costs only the
 * calls from step i on.
 */
export class CachedRunner {
  private log: CallRecord[] = [];
  calls = 0;
  constructor(private readonly p: TeacherProblem) {}

  /** Run `sigmas`; returns the result and the call log of this run (pass it to `accept` to cache it). */
  async run(sigmas: readonly number[]): Promise<{ x: Float64Array; log: CallRecord[] }> {
    const log: CallRecord[] = [];
    let onPrefix = true;
    const den: Denoiser = async (x, sigma) => {
      const k = log.length;
      const xd = x.data;
      const rec = onPrefix ? this.log[k] : undefined;
      if (rec && rec.sigma === sigma && rec.x.length === xd.length) {
        let same = true;
        for (let j = 0; j < xd.length; j++) {
          if (rec.x[j] !== xd[j]) {
            same = false;
            break;
          }
        }
        if (same) {
          log.push(rec);
          return { data: Float64Array.from(rec.out), shape: [...x.shape] };
        }
      }
      onPrefix = false;
      const out = await this.p.denoiser(x, sigma);
      this.calls++;
      const o = out.data instanceof Float64Array ? Float64Array.from(out.data) : Float64Array.from(out.data);
      log.push({ sigma, x: Float64Array.from(xd), out: o });
      return { data: Float64Array.from(o), shape: [...x.shape] };
    };
    const x = await runSampler(this.p, sigmas, den);
    return { x, log };
  }

  accept(log: CallRecord[]): void {
    this.log = log;
  }
}

export interface RefineOptions {
  sweeps: number;
  /** Initial fraction of the gap to a neighbour (log sigma); default 0.25, halved after a sweep without gain. */
  fraction?: number;
  onProgress?: (p: { sweep: number; loss: number; calls: number }) => void;
}

export interface RefineResult {
  sigmas: number[];
  loss: number;
  startLoss: number;
  calls: number;
  trace: number[];
}

/** Stage B: coordinate search in log sigma on the training objective, strict decrease only. */
export async function refineSchedule(p: TeacherProblem, target: Float64Array, start: readonly number[], options: RefineOptions): Promise<RefineResult> {
  const batch = p.noise.shape[0]!;
  const img = p.toImage ?? ((x: Float64Array) => x);
  const targetImg = img(target);
  const runner = new CachedRunner(p);
  const lossOf = (x: Float64Array): number => mean(perImageMse(img(x), targetImg, batch));
  let sigmas = [...start];
  const n = sigmas.length - 1;
  let cur = await runner.run(sigmas);
  runner.accept(cur.log);
  let loss = lossOf(cur.x);
  const startLoss = loss;
  const trace = [loss];
  let f = options.fraction ?? 0.25;
  for (let sweep = 1; sweep <= options.sweeps; sweep++) {
    let accepted = false;
    for (let i = 1; i < n; i++) {
      const u = sigmas.map((s) => Math.log(s));
      const below = i + 1 < n ? u[i + 1]! : Math.log(p.sigmaMin);
      let bestCand: { sigmas: number[]; loss: number; log: CallRecord[] } | null = null;
      for (const nb of [u[i - 1]!, below]) {
        const ui = u[i]! + f * (nb - u[i]!);
        const s = Math.exp(ui);
        if (!(s < sigmas[i - 1]!) || !(i + 1 < n ? s > sigmas[i + 1]! : s >= p.sigmaMin * (1 - 1e-12)) || s === sigmas[i]) continue;
        const cand = [...sigmas];
        cand[i] = s;
        const r = await runner.run(cand);
        const l = lossOf(r.x);
        if (l < loss && (!bestCand || l < bestCand.loss)) bestCand = { sigmas: cand, loss: l, log: r.log };
      }
      if (bestCand) {
        sigmas = bestCand.sigmas;
        loss = bestCand.loss;
        runner.accept(bestCand.log);
        accepted = true;
      }
    }
    trace.push(loss);
    options.onProgress?.({ sweep, loss, calls: runner.calls });
    if (!accepted) f /= 2;
  }
  return { sigmas, loss, startLoss, calls: runner.calls, trace };
}

// ---------------------------------------------------------------------------------------------------------
// Both stages

export interface TeacherOptions {
  steps: number;
  /** Teacher grid (descending, ending in 0); default karras 100 over the model's range. */
  grid?: number[];
  /** Stage-B sweeps; 0 = DP only. */
  sweeps?: number;
  /** Skip stage A and refine this start instead (samplers without a stage-A rule default to it). */
  start?: number[];
  onProgress?: (p: { stage: 'teacher' | 'dp' | 'refine'; done: number; total: number; loss?: number }) => void;
}

export interface TeacherResult {
  sigmas: number[];
  /** Stage-A result for every n <= steps (absent when stage A did not run). */
  dp?: DpResult;
  dpSigmas?: number[];
  refine?: RefineResult;
  /** Final training objective (image/latent MSE of the final x0). */
  trainLoss: number;
  teacherCalls: number;
  calls: number;
  seconds: number;
  grid: number[];
}

/** Teacher-matching optimisation: teacher run, stage A, optional stage B. */
export async function optimizeTeacher(p: TeacherProblem, o: TeacherOptions): Promise<TeacherResult> {
  const t0 = performance.now();
  const grid = o.grid ?? teacherGrid(p.sigmaMin, p.sigmaMax, 100);
  const M = grid.length - 1;
  if (!Number.isInteger(o.steps) || o.steps < 1 || o.steps > M) throw new RangeError(`steps must be an integer in 1..${M} (the teacher grid has ${M} steps), got ${o.steps}`);
  const sweeps = o.sweeps ?? 0;
  o.onProgress?.({ stage: 'teacher', done: 0, total: M });
  let tCalls = 0;
  const counted: Denoiser = (x, s) => {
    tCalls++;
    o.onProgress?.({ stage: 'teacher', done: Math.min(tCalls, M), total: M });
    return p.denoiser(x, s);
  };
  const teacher = await runTeacher(p, grid, counted);
  let sigmas: number[];
  let dp: DpResult | undefined;
  const rule = dpRuleFor(p.sampler);
  if (o.start === undefined && rule) {
    dp = await teacherDp(p, teacher, { maxSteps: o.steps, onProgress: (done, total) => o.onProgress?.({ stage: 'dp', done, total }) });
    sigmas = dp.paths[o.steps]!.map((i) => grid[i]!);
  } else {
    sigmas = o.start ? [...o.start] : teacherGrid(p.sigmaMin, p.sigmaMax, o.steps);
  }
  const dpSigmas = dp ? [...sigmas] : undefined;
  let refine: RefineResult | undefined;
  let trainLoss: number;
  const final = teacher.states[M]!;
  if (sweeps > 0) {
    refine = await refineSchedule(p, final, sigmas, {
      sweeps,
      onProgress: (r) => o.onProgress?.({ stage: 'refine', done: r.sweep, total: sweeps, loss: r.loss }),
    });
    sigmas = refine.sigmas;
    trainLoss = refine.loss;
  } else {
    const x = await runSampler(p, sigmas);
    const img = p.toImage ?? ((v: Float64Array) => v);
    trainLoss = mean(perImageMse(img(x), img(final), p.noise.shape[0]!));
  }
  return {
    sigmas,
    dp,
    dpSigmas,
    refine,
    trainLoss,
    teacherCalls: teacher.calls,
    calls: teacher.calls + (dp?.calls ?? 0) + (refine?.calls ?? 1 * sigmas.length),
    seconds: (performance.now() - t0) / 1000,
    grid,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Paired evaluation

export interface PairedRow {
  name: string;
  sigmas: number[];
  /** sqrt(mean over images of the per-image MSE to the reference). */
  rms: number;
  /** Standard error of rms (delta method over images). */
  rmsStdErr: number;
  /** Per-image MSE to the reference. */
  perImage: Float64Array;
  /** Final samples (model space), for other metrics. */
  x: Float64Array;
}

/** RMS of per-image MSEs and its delta-method standard error. */
export function rmsWithSe(perImage: ArrayLike<number>): { rms: number; se: number } {
  const B = perImage.length, m = mean(perImage);
  let v = 0;
  for (let i = 0; i < B; i++) v += (perImage[i]! - m) ** 2;
  const sd = Math.sqrt(v / Math.max(1, B - 1));
  const rms = Math.sqrt(m);
  return { rms, se: rms > 0 ? sd / Math.sqrt(B) / (2 * rms) : 0 };
}

/** Paired difference RMS_a - RMS_b and its standard error (spec §7). */
export function pairedDifference(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; se: number } {
  const B = a.length;
  const d = Array.from({ length: B }, (_, i) => a[i]! - b[i]!);
  const md = mean(d);
  let v = 0;
  for (const x of d) v += (x - md) ** 2;
  const ra = Math.sqrt(mean(a)), rb = Math.sqrt(mean(b));
  return { diff: ra - rb, se: Math.sqrt(v / Math.max(1, B - 1)) / Math.sqrt(B) / (ra + rb || 1) };
}

/** Run each schedule and a reference run on the same noise; rows sorted by RMS (best first). */
export async function pairedEvaluation(
  p: TeacherProblem,
  reference: readonly number[],
  schedules: ReadonlyArray<{ name: string; sigmas: number[] }>,
  onProgress?: (done: number, total: number, name: string) => void,
): Promise<{ rows: PairedRow[]; reference: Float64Array; calls: number }> {
  const batch = p.noise.shape[0]!;
  const img = p.toImage ?? ((x: Float64Array) => x);
  let calls = 0;
  const counted: Denoiser = (x, s) => {
    calls++;
    return p.denoiser(x, s);
  };
  onProgress?.(0, schedules.length + 1, 'reference');
  const ref = await runSampler(p, reference, counted);
  const refImg = img(ref);
  const rows: PairedRow[] = [];
  for (const [i, s] of schedules.entries()) {
    onProgress?.(i + 1, schedules.length + 1, s.name);
    const x = await runSampler(p, s.sigmas, counted);
    const perImage = perImageMse(img(x), refImg, batch);
    const { rms, se } = rmsWithSe(perImage);
    rows.push({ name: s.name, sigmas: [...s.sigmas], rms, rmsStdErr: se, perImage, x });
  }
  onProgress?.(schedules.length + 1, schedules.length + 1, 'done');
  rows.sort((a, b) => a.rms - b.rms);
  return { rows, reference: ref, calls };
}
