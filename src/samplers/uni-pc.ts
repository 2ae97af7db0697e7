// UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of Diffusion
// Models", arXiv:2302.04867), multistep, data prediction, B(h) = h (bh1) or e^h - 1 (bh2), after the
// authors' MIT-licensed reference. As in ComfyUI it runs in the VP space x / sqrt(1 + sigma^2) with the
// given sigmas as time points, order min(3, len(sigmas) - 2), lower orders at the end, and no model call
// at the final point. A final sigma of 0 is replaced by 0.001 (ComfyUI does this, also changing the
// caller's sigma tensor; we leave the caller's array alone); the result is mapped back by sqrt(1 + s^2).
import type { Tensor, TensorData } from '../tensor/tensor.js';
import { combineInto, zerosLike } from '../tensor/ops.js';
import { defineSampler, lambdaOf, type Run } from './common.js';
import * as S from './specs.js';

const alphaOf = (s: number): number => 1 / Math.sqrt(1 + s * s);
const stdOf = (s: number): number => s / Math.sqrt(1 + s * s);

/** Solve a small dense system A x = b (Gaussian elimination with partial pivoting). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row.slice(0, n), b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k] = M[r]![k]! - f * M[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= M[r]![k]! * x[k]!;
    x[r] = s / M[r]![r]!;
  }
  return x;
}

/** scratch <- x_vp * sqrt(1 + s^2): the VE state the denoiser expects. */
function toVe(xVp: Tensor, s: number, scratch: Tensor): Tensor {
  const k = Math.sqrt(1 + s * s);
  const sd = scratch.data, xd = xVp.data, n = sd.length;
  for (let j = 0; j < n; j++) sd[j] = xd[j]! * k;
  return scratch;
}

/**
 * UniPC predictor, one pass: base = c0 x - c1 m0 (kept in xb for the corrector) and
 * x <- c0 x + cm0 m0 + sum_k w_k h_k. Kept out of the async sampler so V8 optimises it on its own.
 */
function predictor(xd: TensorData, xb: TensorData, m0: TensorData, hist: TensorData[], c0: number, c1: number, cm0: number, w: number[]): void {
  const n = xd.length;
  if (hist.length === 0) {
    for (let j = 0; j < n; j++) {
      const base = c0 * xd[j]! - c1 * m0[j]!;
      xb[j] = base;
      xd[j] = base;
    }
  } else if (hist.length === 1) {
    const h1 = hist[0]!, w1 = w[0]!;
    for (let j = 0; j < n; j++) {
      const xv = xd[j]!, mv = m0[j]!;
      xb[j] = c0 * xv - c1 * mv;
      xd[j] = c0 * xv + cm0 * mv + w1 * h1[j]!;
    }
  } else {
    const h1 = hist[0]!, h2 = hist[1]!, w1 = w[0]!, w2 = w[1]!;
    for (let j = 0; j < n; j++) {
      const xv = xd[j]!, mv = m0[j]!;
      xb[j] = c0 * xv - c1 * mv;
      xd[j] = c0 * xv + cm0 * mv + w1 * h1[j]! + w2 * h2[j]!;
    }
  }
}

function scaleInPlace(d: TensorData, k: number): void {
  for (let j = 0; j < d.length; j++) d[j] = d[j]! * k;
}

async function uniPc(run: Run, x: Tensor, sigmas: Float64Array, variant: 'bh1' | 'bh2'): Promise<Tensor> {
  const ts = Float64Array.from(sigmas);
  if (ts[ts.length - 1] === 0) ts[ts.length - 1] = 0.001;
  const steps = ts.length - 1;
  const order = Math.max(1, Math.min(3, ts.length - 2));
  const scratch = zerosLike(x);
  // VP state
  scaleInPlace(x.data, alphaOf(ts[0]!));
  const models: Tensor[] = []; // newest last, at most `order`
  const tPrev: number[] = [];
  const spare: Tensor[] = [];
  const take = (): Tensor => spare.pop() ?? zerosLike(x);
  const first = take();
  run.step = 0;
  first.data.set((await run.denoise(toVe(x, ts[0]!, scratch), ts[0]!)).data);
  models.push(first);
  tPrev.push(ts[0]!);
  run.callback(0, ts[0]!, ts[0]!, x, first);
  const xBase = zerosLike(x);
  for (let step = 1; step <= steps; step++) {
    run.step = step;
    const t = ts[step]!;
    const stepOrder = step < order ? step : Math.min(order, steps + 1 - step);
    const useCorrector = step < steps;
    // coefficients
    const t0 = tPrev[tPrev.length - 1]!;
    const m0 = models[models.length - 1]!.data;
    const h = lambdaOf(t) - lambdaOf(t0);
    const rks: number[] = [];
    const dIdx: number[] = [];
    for (let i = 1; i < stepOrder; i++) {
      const ti = tPrev[tPrev.length - 1 - i]!;
      rks.push((lambdaOf(ti) - lambdaOf(t0)) / h);
      dIdx.push(models.length - 1 - i);
    }
    rks.push(1);
    const hh = -h;
    const hPhi1 = Math.expm1(hh);
    let hPhiK = hPhi1 / hh - 1;
    let factorial = 1;
    const Bh = variant === 'bh1' ? hh : Math.expm1(hh);
    const R: number[][] = [];
    const b: number[] = [];
    for (let i = 1; i <= stepOrder; i++) {
      R.push(rks.map((r) => r ** (i - 1)));
      b.push((hPhiK * factorial) / Bh);
      factorial *= i + 1;
      hPhiK = hPhiK / hh - 1 / factorial;
    }
    let rhosP: number[] = [];
    if (dIdx.length > 0) {
      rhosP = stepOrder === 2 ? [0.5] : solve(R.slice(0, -1).map((row) => row.slice(0, -1)), b.slice(0, -1));
    }
    const alphaT = alphaOf(t), stdT = stdOf(t), std0 = stdOf(t0);
    // sum_k rho_k (m_k - m0) / r_k = sum_k w_k m_k - (sum_k w_k) m0 with w_k = rho_k / r_k
    const hist = dIdx.map((idx) => models[idx]!.data);
    const wP = rhosP.map((rho, k) => rho / rks[k]!);
    const xd = x.data, xb = xBase.data;
    const c0 = stdT / std0, c1 = alphaT * hPhi1, cB = alphaT * Bh;
    // base = c0 x - c1 m0 (kept for the corrector); x_t = base - cB * sum_k wP_k (m_k - m0), one pass
    const sumP = wP.reduce((a, b) => a + b, 0);
    const cm0 = -c1 + cB * sumP;
    predictor(xd, xb, m0, hist, c0, c1, cm0, hist.map((_, k) => -cB * wP[k]!));
    if (useCorrector) {
      const rhosC = stepOrder === 1 ? [0.5] : solve(R, b);
      const mt = take();
      mt.data.set((await run.denoise(toVe(x, t, scratch), t)).data);
      const md = mt.data;
      const last = rhosC[rhosC.length - 1]!;
      const wC = rhosC.slice(0, -1).map((rho, k) => rho / rks[k]!);
      // x_t = base - cB * (sum_k wC_k (m_k - m0) + last (m_t - m0))
      const sumW = wC.reduce((a, b) => a + b, 0) + last;
      combineInto(xd, [1, cB * sumW, -cB * last, ...wC.map((w) => -cB * w)], [xb, m0, md, ...hist]);
      models.push(mt);
      tPrev.push(t);
      if (models.length > order) {
        spare.push(models.shift()!);
        tPrev.shift();
      }
      // ComfyUI reports steps 0 .. steps-2 after their update and then the final state as step steps-1
      if (step < steps - 1) run.callback(step, t, t, x, mt);
    } else {
      run.callback(steps - 1, t, t, x, models[models.length - 1]!);
    }
  }
  scaleInPlace(x.data, 1 / alphaOf(ts[ts.length - 1]!));
  return x;
}

export const sampleUniPc = defineSampler(S.uniPc, (run, x, sigmas) => uniPc(run, x, sigmas, run.choice('variant', ['bh1', 'bh2'] as const)));
export const sampleUniPcBh2 = defineSampler(S.uniPcBh2, (run, x, sigmas) => uniPc(run, x, sigmas, 'bh2'));
