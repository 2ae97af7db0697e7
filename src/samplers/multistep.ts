// Multistep samplers on the sigma ODE: iPNDM and its variable-step form (Zhang & Chen 2023; Zhou et al. 2024,
// "Fast ODE-based sampling for diffusion models in around 5 steps"), DEIS tab (Zhang & Chen 2023), RES
// multistep (Zhang et al. 2023, arXiv:2308.02157) and gradient estimation (Permenter & Yuan 2024).
import type { Tensor } from '../tensor/tensor.js';
import { cloneTensor, copyInto, zerosLike } from '../tensor/ops.js';
import { addNoise, ancestralStep, defineSampler, lambdaOf, type Run } from './common.js';
import * as S from './specs.js';

/**
 * A ring of past derivatives, newest first via at(0). It holds one spare buffer so the slot being written
 * never aliases an entry still being read in the same pass. Buffers are reused.
 */
class History {
  private readonly bufs: Tensor[] = [];
  private count = 0;
  private head = 0;
  private readonly size: number;
  constructor(private readonly like: Tensor, private readonly capacity: number) {
    this.size = capacity + 1;
  }
  get length(): number {
    return this.count;
  }
  /** k-th most recent (0 = newest). */
  at(k: number): Tensor {
    if (k >= this.count) throw new RangeError(`history has ${this.count} entries, asked for #${k}`);
    return this.bufs[(this.head - 1 - k + this.size * 2) % this.size]!;
  }
  /** Buffer to write the next entry into (becomes at(0) after commit()). */
  slot(): Tensor {
    if (this.bufs.length < this.size) this.bufs.push(zerosLike(this.like));
    return this.bufs[this.head]!;
  }
  commit(): void {
    this.head = (this.head + 1) % this.size;
    this.count = Math.min(this.count + 1, this.capacity);
  }
}

/**
 * Adams-Bashforth-type step: d = (x - denoised) / sigma, x <- x + cCur * d + sum_k cPrev[k] * history.at(k),
 * and d is written to dOut. One fused pass; a loop per history length keeps the inner loop branch-free.
 */
function multistepUpdate(x: Tensor, denoised: Tensor, sigma: number, cCur: number, hist: History, cPrev: readonly number[], dOut: Tensor): void {
  const xd = x.data, dd = denoised.data, o = dOut.data, n = xd.length, inv = 1 / sigma;
  const m = cPrev.length;
  if (m === 0) {
    for (let j = 0; j < n; j++) {
      const d = (xd[j]! - dd[j]!) * inv;
      o[j] = d;
      xd[j] = xd[j]! + cCur * d;
    }
    return;
  }
  const p1 = hist.at(0).data, c1 = cPrev[0]!;
  if (m === 1) {
    for (let j = 0; j < n; j++) {
      const d = (xd[j]! - dd[j]!) * inv;
      o[j] = d;
      xd[j] = xd[j]! + cCur * d + c1 * p1[j]!;
    }
    return;
  }
  const p2 = hist.at(1).data, c2 = cPrev[1]!;
  if (m === 2) {
    for (let j = 0; j < n; j++) {
      const d = (xd[j]! - dd[j]!) * inv;
      o[j] = d;
      xd[j] = xd[j]! + cCur * d + c1 * p1[j]! + c2 * p2[j]!;
    }
    return;
  }
  const p3 = hist.at(2).data, c3 = cPrev[2]!;
  for (let j = 0; j < n; j++) {
    const d = (xd[j]! - dd[j]!) * inv;
    o[j] = d;
    xd[j] = xd[j]! + cCur * d + c1 * p1[j]! + c2 * p2[j]! + c3 * p3[j]!;
  }
}

function maxOrder(run: Run<{ max_order: number }>, hi: number): number {
  const v = run.num('max_order');
  if (!Number.isInteger(v) || v < 1 || v > hi) throw new RangeError(`${run.name}: max_order must be an integer from 1 to ${hi}, got ${v}`);
  return v;
}

/** iPNDM: fixed Adams-Bashforth weights (orders 1-4) on the sigma grid. */
export const sampleIpndm = defineSampler(S.ipndm, async (run, x, sigmas) => {
  const mo = maxOrder(run, 4);
  const hist = new History(x, mo - 1);
  const initial = cloneTensor(x); // ComfyUI reports the initial x in every callback of this sampler
  for (let i = 0; i < sigmas.length - 1; i++) {
    const t = sigmas[i]!, tNext = sigmas[i + 1]!;
    const denoised = await run.denoiseStep(i, x, t, t, initial);
    const order = Math.min(mo, i + 1);
    const dt = tNext - t;
    const slot = hist.slot();
    if (tNext === 0) {
      const xd = x.data, dd = denoised.data, o = slot.data;
      for (let j = 0; j < xd.length; j++) {
        o[j] = (xd[j]! - dd[j]!) / t;
        xd[j] = dd[j]!;
      }
    } else if (order === 1) multistepUpdate(x, denoised, t, dt, hist, [], slot);
    else if (order === 2) multistepUpdate(x, denoised, t, (dt * 3) / 2, hist, [-dt / 2], slot);
    else if (order === 3) multistepUpdate(x, denoised, t, (dt * 23) / 12, hist, [(-dt * 16) / 12, (dt * 5) / 12], slot);
    else multistepUpdate(x, denoised, t, (dt * 55) / 24, hist, [(-dt * 59) / 24, (dt * 37) / 24, (-dt * 9) / 24], slot);
    hist.commit();
  }
  return x;
});

/** iPNDM with variable-step coefficients (orders 1-4) from the step-size ratios. */
export const sampleIpndmV = defineSampler(S.ipndmV, async (run, x, sigmas) => {
  const mo = maxOrder(run, 4);
  const hist = new History(x, mo - 1);
  const initial = cloneTensor(x);
  for (let i = 0; i < sigmas.length - 1; i++) {
    const t = sigmas[i]!, tNext = sigmas[i + 1]!;
    const denoised = await run.denoiseStep(i, x, t, t, initial);
    const order = Math.min(mo, i + 1);
    const slot = hist.slot();
    const h = tNext - t;
    if (tNext === 0) {
      const xd = x.data, dd = denoised.data, o = slot.data;
      for (let j = 0; j < xd.length; j++) {
        o[j] = (xd[j]! - dd[j]!) / t;
        xd[j] = dd[j]!;
      }
    } else if (order === 1) {
      multistepUpdate(x, denoised, t, h, hist, [], slot);
    } else {
      const h1 = t - sigmas[i - 1]!;
      let c: number[];
      if (order === 2) {
        c = [(2 + h / h1) / 2, -(h / h1) / 2];
      } else {
        const h2 = sigmas[i - 1]! - sigmas[i - 2]!;
        const temp1 = (1 - ((h / (3 * (h + h1))) * (h * (h + h1))) / (h1 * (h1 + h2))) / 2;
        if (order === 3) {
          c = [(2 + h / h1) / 2 + temp1, -(h / h1) / 2 - (1 + h1 / h2) * temp1, (temp1 * h1) / h2];
        } else {
          const h3 = sigmas[i - 2]! - sigmas[i - 3]!;
          const temp2 =
            (((1 - h / (3 * (h + h1))) / 2 + ((1 - h / (2 * (h + h1))) * h) / (6 * (h + h1 + h2))) * (h * (h + h1) * (h + h1 + h2))) /
            (h1 * (h1 + h2) * (h1 + h2 + h3));
          const q = (h1 * (h1 + h2)) / (h2 * (h2 + h3));
          c = [
            (2 + h / h1) / 2 + temp1 + temp2,
            -(h / h1) / 2 - (1 + h1 / h2) * temp1 - (1 + h1 / h2 + q) * temp2,
            (temp1 * h1) / h2 + (h1 / h2 + q * (1 + h2 / h3)) * temp2,
            ((-temp2 * q) * h1) / h2,
          ];
        }
      }
      multistepUpdate(x, denoised, t, h * c[0]!, hist, c.slice(1).map((v) => v * h), slot);
    }
    hist.commit();
  }
  return x;
});

/**
 * DEIS "tab" coefficients: integrals of the Lagrange basis over the previous grid points, with sigma
 * mapped to the time of a VP SDE fitted to EDM's sigma range (0.002 .. 80, eps_s = 1e-3), integrated with
 * N = 10000 left Riemann points as in the reference implementation (ComfyUI does this part in float32;
 * we use float64). Row i is empty for first-order steps.
 */
export function deisCoefficients(sigmas: Float64Array, maxOrd: number): number[][] {
  const key = `${maxOrd}:${Array.from(sigmas).join(',')}`;
  const hit = deisCache.get(key);
  if (hit) return hit;
  const rows = computeDeisCoefficients(sigmas, maxOrd);
  deisCache.set(key, rows);
  if (deisCache.size > 16) deisCache.delete(deisCache.keys().next().value!);
  return rows;
}

/** Recently used DEIS tables (the 10000-point integrals cost more than a step on small latents). */
const deisCache = new Map<string, number[][]>();

function computeDeisCoefficients(sigmas: Float64Array, maxOrd: number): number[][] {
  const epsS = 1e-3, sMin = 0.002, sMax = 80;
  const betaD = (2 * (Math.log(sMin * sMin + 1) / epsS - Math.log(sMax * sMax + 1))) / (epsS - 1);
  const betaMin = Math.log(sMax * sMax + 1) - 0.5 * betaD;
  const ts = Array.from(sigmas, (s) => (Math.sqrt(betaMin * betaMin + 2 * betaD * Math.log(s * s + 1)) - betaMin) / betaD);
  const beta0 = betaMin, beta1 = betaD + betaMin;
  const N = 10000;
  const out: number[][] = [];
  for (let i = 0; i < ts.length - 1; i++) {
    const order = Math.min(i + 1, maxOrd);
    if (order === 1) {
      out.push([]);
      continue;
    }
    const a = ts[i]!, b = ts[i + 1]!;
    const dtau = (b - a) / N;
    const prev = Array.from({ length: order }, (_, k) => ts[i - k]!);
    const row = new Array<number>(order).fill(0);
    const step = (b - a) / (N - 1);
    for (let q = 0; q < N; q++) {
      const tau = q < N / 2 ? a + step * q : b - step * (N - 1 - q);
      const alpha = Math.exp(-0.5 * tau * tau * (beta1 - beta0) - tau * beta0);
      const dLogAlpha = -tau * (beta1 - beta0) - beta0;
      const integrand = (-0.5 * dLogAlpha) / Math.sqrt(alpha * (1 - alpha));
      for (let j = 0; j < order; j++) {
        let poly = 1;
        for (let k = 0; k < order; k++) {
          if (k === j) continue;
          poly *= (tau - prev[k]!) / (prev[j]! - prev[k]!);
        }
        row[j] = row[j]! + integrand * poly;
      }
    }
    out.push(row.map((v) => v * dtau));
  }
  return out;
}

export const sampleDeis = defineSampler(S.deis, async (run, x, sigmas) => {
  const mo = maxOrder(run, 4);
  run.choice('deis_mode', ['tab'] as const); // the only mode ComfyUI offers; checked, nothing to switch on
  const coeffs = deisCoefficients(sigmas, mo);
  const hist = new History(x, mo - 1);
  const initial = cloneTensor(x);
  for (let i = 0; i < sigmas.length - 1; i++) {
    const t = sigmas[i]!, tNext = sigmas[i + 1]!;
    const denoised = await run.denoiseStep(i, x, t, t, initial);
    let order = Math.min(mo, i + 1);
    if (tNext <= 0) order = 1;
    const slot = hist.slot();
    if (order === 1) multistepUpdate(x, denoised, t, tNext - t, hist, [], slot);
    else {
      const c = coeffs[i]!;
      multistepUpdate(x, denoised, t, c[0]!, hist, c.slice(1), slot);
    }
    hist.commit();
  }
  return x;
});

/** RES multistep; the non-ancestral variants run with eta = 0 (ComfyUI fixes it), so their noise is multiplied by 0. */
async function resMultistep(run: Run, x: Tensor, sigmas: Float64Array, eta: number, sNoise: number, cfgPp: boolean): Promise<Tensor> {
  const old = zerosLike(x);
  let oldSigmaDown = 0;
  const n = x.data.length;
  return run.eachStep(x, sigmas, ({ i, sigma, sigmaNext, denoised }) => {
    const uncond = cfgPp ? run.uncond() : denoised;
    const [down, up] = ancestralStep(sigma, sigmaNext, eta);
    const xd = x.data, dd = denoised.data, ud = uncond.data, od = old.data;
    if (down === 0 || i === 0) {
      // Euler step (CFG++ form for cfg_pp)
      if (cfgPp) {
        const k = down / sigma;
        for (let j = 0; j < n; j++) xd[j] = dd[j]! + (xd[j]! - ud[j]!) * k;
      } else {
        const k = (down - sigma) / sigma;
        for (let j = 0; j < n; j++) xd[j] = xd[j]! + (xd[j]! - dd[j]!) * k;
      }
    } else {
      // second-order multistep exponential step (RES)
      const t = lambdaOf(sigma), tOld = lambdaOf(oldSigmaDown), tNext = lambdaOf(down), tPrev = lambdaOf(sigmas[i - 1]!);
      const h = tNext - t;
      const c2 = (tPrev - tOld) / h;
      const phi1 = Math.expm1(-h) / -h;
      const phi2 = (phi1 - 1) / -h;
      let b1 = phi1 - phi2 / c2, b2 = phi2 / c2;
      if (Number.isNaN(b1)) b1 = 0;
      if (Number.isNaN(b2)) b2 = 0;
      const a = Math.exp(-h);
      if (cfgPp) for (let j = 0; j < n; j++) xd[j] = a * (xd[j]! + dd[j]! - ud[j]!) + h * (b1 * ud[j]! + b2 * od[j]!);
      else for (let j = 0; j < n; j++) xd[j] = a * xd[j]! + h * (b1 * dd[j]! + b2 * od[j]!);
    }
    if (sigmaNext > 0) addNoise(x, sNoise * up, run.draw(x, sigma, sigmaNext));
    copyInto(old, uncond);
    oldSigmaDown = down;
  });
}

export const sampleResMultistep = defineSampler(S.resMultistep, (run, x, sigmas) => resMultistep(run, x, sigmas, 0, run.num('s_noise'), false));
export const sampleResMultistepCfgPp = defineSampler(S.resMultistepCfgPp, (run, x, sigmas) => resMultistep(run, x, sigmas, 0, run.num('s_noise'), true));
export const sampleResMultistepAncestral = defineSampler(S.resMultistepAncestral, (run, x, sigmas) =>
  resMultistep(run, x, sigmas, run.num('eta'), run.num('s_noise'), false),
);
export const sampleResMultistepAncestralCfgPp = defineSampler(S.resMultistepAncestralCfgPp, (run, x, sigmas) =>
  resMultistep(run, x, sigmas, run.num('eta'), run.num('s_noise'), true),
);

async function gradientEstimation(run: Run, x: Tensor, sigmas: Float64Array, gamma: number, cfgPp: boolean): Promise<Tensor> {
  const oldD = zerosLike(x);
  const n = x.data.length;
  return run.eachStep(x, sigmas, ({ i, sigma, sigmaNext, denoised }) => {
    const target = cfgPp ? run.uncond() : denoised;
    const dt = sigmaNext - sigma;
    const xd = x.data, dd = denoised.data, td = target.data, od = oldD.data, inv = 1 / sigma;
    for (let j = 0; j < n; j++) {
      const d = (xd[j]! - td[j]!) * inv;
      let v: number;
      if (sigmaNext === 0) v = dd[j]!;
      else if (i === 0) v = cfgPp ? dd[j]! + d * sigmaNext : xd[j]! + d * dt;
      else if (cfgPp) v = dd[j]! + d * sigmaNext + (gamma - 1) * (d - od[j]!) * dt;
      else v = xd[j]! + (gamma * d + (1 - gamma) * od[j]!) * dt;
      xd[j] = v;
      od[j] = d;
    }
  });
}

export const sampleGradientEstimation = defineSampler(S.gradientEstimation, (run, x, sigmas) =>
  gradientEstimation(run, x, sigmas, run.num('ge_gamma'), run.flag('cfg_pp')),
);
export const sampleGradientEstimationCfgPp = defineSampler(S.gradientEstimationCfgPp, (run, x, sigmas) =>
  gradientEstimation(run, x, sigmas, run.num('ge_gamma'), true),
);
