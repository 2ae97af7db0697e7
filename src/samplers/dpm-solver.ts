// DPM-Solver (Lu et al. 2022, arXiv:2206.00927) with its own step control, after k-diffusion (MIT):
// dpm_fast (fixed steps, orders 3,3,...,2/1 over a uniform grid in t = -log sigma) and dpm_adaptive
// (embedded 2(3) pair with a PID step-size controller). ComfyUI runs from sigmas[0] to the last non-zero
// sigma. dpm_fast's time grid is a float32 torch.linspace, so its step scalars are float32: we round the
// same way with Math.fround.
import type { Tensor } from '../tensor/tensor.js';
import { zerosLike } from '../tensor/ops.js';
import { addNoise, ancestralStep, defineSampler, type Run } from './common.js';
import * as S from './specs.js';
import { sleefExpf } from './float32-libm.js';

export interface DpmSolverInfo {
  nfe: number;
  steps: number;
  nAccept: number;
  nReject: number;
}

const f32 = Math.fround;

/** Scalar arithmetic of one precision (float32 for dpm_fast, float64 for dpm_adaptive). */
interface Arith {
  r(v: number): number;
  exp(v: number): number;
  expm1(v: number): number;
}
const F32: Arith = { r: f32, exp: sleefExpf, expm1: (v) => f32(Math.expm1(v)) };
const F64: Arith = { r: (v) => v, exp: Math.exp, expm1: Math.expm1 };

class Solver {
  constructor(private readonly run: Run, private readonly a: Arith, private readonly x: Tensor) {}
  sigma(t: number): number {
    return this.a.exp(-t);
  }
  /** eps = (x - D(x, sigma(t))) / sigma(t), written into out. */
  async eps(out: Tensor, x: Tensor, t: number): Promise<Tensor> {
    const s = this.sigma(t);
    const den = await this.run.denoise(x, s);
    const o = out.data, xd = x.data, dd = den.data, n = o.length;
    for (let j = 0; j < n; j++) o[j] = (xd[j]! - dd[j]!) / s;
    return den;
  }
  zeros(): Tensor {
    return zerosLike(this.x);
  }
}

function minSigmaOf(sigmas: Float64Array): number {
  const last = sigmas[sigmas.length - 1]!;
  return last === 0 ? sigmas[sigmas.length - 2]! : last;
}

/** Steps of order 1-3 sharing the eps evaluations in `cache` (k-diffusion's dpm_solver_{1,2,3}_step). */
async function dpmStep(sv: Solver, a: Arith, order: number, x: Tensor, out: Tensor, t: number, tNext: number, eps: Tensor, cache: { e1: Tensor; e2: Tensor; u: Tensor; have1: boolean }, r1: number, r2: number): Promise<void> {
  const R = a.r;
  const h = R(tNext - t);
  const xd = x.data, ed = eps.data, o = out.data, n = xd.length;
  const sn = sv.sigma(tNext), emh = a.expm1(h);
  const c0 = R(sn * emh);
  if (order === 1) {
    for (let j = 0; j < n; j++) o[j] = xd[j]! - c0 * ed[j]!;
    return;
  }
  const rr1 = R(r1);
  const s1 = R(t + R(rr1 * h));
  if (!cache.have1) {
    const c = R(sv.sigma(s1) * a.expm1(R(rr1 * h)));
    const ud = cache.u.data;
    for (let j = 0; j < n; j++) ud[j] = xd[j]! - c * ed[j]!;
    await sv.eps(cache.e1, cache.u, s1);
    cache.have1 = true;
  }
  const e1 = cache.e1.data;
  if (order === 2) {
    const c1 = R(R(sn / R(2 * r1)) * emh);
    for (let j = 0; j < n; j++) o[j] = xd[j]! - c0 * ed[j]! - c1 * (e1[j]! - ed[j]!);
    return;
  }
  const rr2 = R(r2);
  const s2 = R(t + R(rr2 * h));
  const r2h = R(rr2 * h), em2 = a.expm1(r2h);
  const ss2 = sv.sigma(s2);
  const cu0 = R(ss2 * em2);
  const cu1 = R(R(ss2 * (r2 / r1)) * R(R(em2 / r2h) - 1));
  const ud = cache.u.data;
  for (let j = 0; j < n; j++) ud[j] = xd[j]! - cu0 * ed[j]! - cu1 * (e1[j]! - ed[j]!);
  await sv.eps(cache.e2, cache.u, s2);
  const e2 = cache.e2.data;
  const c2 = R(R(sn / rr2) * R(R(emh / h) - 1));
  for (let j = 0; j < n; j++) o[j] = xd[j]! - c0 * ed[j]! - c2 * (e2[j]! - ed[j]!);
}

export const sampleDpmFast = defineSampler(S.dpmFast, async (run, x, sigmas) => {
  const eta = run.num('eta'), sNoise = run.num('s_noise');
  const sigmaMin = minSigmaOf(sigmas), sigmaMax = sigmas[0]!;
  const nfe = sigmas.length - 1;
  const sv = new Solver(run, F32, x);
  const tStart = -Math.log(sigmaMax), tEnd = -Math.log(sigmaMin);
  const m = Math.floor(nfe / 3) + 1;
  // torch.linspace(t_start, t_end, m + 1) in float32: first half from the start, second half from the end
  const ts: number[] = [];
  const a = f32(tStart), b = f32(tEnd), step = f32(f32(b - a) / m);
  for (let k = 0; k <= m; k++) ts.push(k < Math.floor((m + 1) / 2) ? f32(a + f32(step * k)) : f32(b - f32(step * (m - k))));
  const orders = nfe % 3 === 0 ? [...Array(m - 2).fill(3), 2, 1] : [...Array(m - 1).fill(3), nfe % 3];
  const eps = zerosLike(x), out = zerosLike(x);
  const cache = { e1: zerosLike(x), e2: zerosLike(x), u: zerosLike(x), have1: false };
  for (let i = 0; i < orders.length; i++) {
    run.step = i;
    const t = ts[i]!, tNext = ts[i + 1]!;
    const [tNext_, su] = ancestralT(sv, t, tNext, eta, tEnd);
    const den = await sv.eps(eps, x, t);
    run.callback(i, sv.sigma(t), sv.sigma(t), x, den);
    cache.have1 = false;
    // the order-2 step of dpm_fast uses r1 = 1/2, the order-3 step r1 = 1/3, r2 = 2/3
    await dpmStep(sv, F32, orders[i]!, x, out, t, tNext_, eps, cache, orders[i] === 2 ? 0.5 : 1 / 3, 2 / 3);
    x.data.set(out.data);
    if (su) addNoise(x, su * sNoise, run.draw(x, sv.sigma(t), sv.sigma(tNext)));
  }
  run.options.onInfo?.({ nfe: run.nfe, steps: orders.length, nAccept: orders.length, nReject: 0 });
  return x;
});

/**
 * The ancestral split of a step s -> t in t = -log(sigma): the time the deterministic step reaches (sigma_down,
 * never past tEnd) and the noise level to add back (0 without eta).
 */
function ancestralT(sv: Solver, s: number, t: number, eta: number, tEnd: number): [number, number] {
  if (!eta) return [t, 0];
  const [sd] = ancestralStep(sv.sigma(s), sv.sigma(t), eta);
  const tDown = Math.min(tEnd, -Math.log(sd));
  return [tDown, Math.sqrt(sv.sigma(t) ** 2 - sv.sigma(tDown) ** 2)];
}

export const sampleDpmAdaptive = defineSampler(S.dpmAdaptive, async (run, x, sigmas) => {
  const order = run.num('order');
  if (order !== 2 && order !== 3) throw new RangeError(`dpm_adaptive: order must be 2 or 3, got ${order}`);
  const rtol = f32(run.num('rtol')), atol = f32(run.num('atol')); // torch.tensor(...) makes them float32
  const hInit = run.num('h_init');
  const pcoeff = run.num('pcoeff'), icoeff = run.num('icoeff'), dcoeff = run.num('dcoeff');
  const acceptSafety = run.num('accept_safety');
  const eta = run.num('eta'), sNoise = run.num('s_noise');
  const sigmaMin = minSigmaOf(sigmas), sigmaMax = sigmas[0]!;
  const sv = new Solver(run, F64, x);
  const tStart = -Math.log(sigmaMax), tEnd = -Math.log(sigmaMin);
  const forward = tEnd > tStart;
  // PID step-size controller
  let h = Math.abs(hInit) * (forward ? 1 : -1);
  const ctlOrder = eta ? 1.5 : order;
  const b1 = (pcoeff + icoeff + dcoeff) / ctlOrder, b2 = -(pcoeff + 2 * dcoeff) / ctlOrder, b3 = dcoeff / ctlOrder;
  let errs: number[] | null = null;
  const propose = (error: number): boolean => {
    const inv = 1 / (error + 1e-8);
    if (!errs) errs = [inv, inv, inv];
    errs[0] = inv;
    let factor = errs[0] ** b1 * errs[1]! ** b2 * errs[2]! ** b3;
    factor = 1 + Math.atan(factor - 1);
    const accept = factor >= acceptSafety;
    if (accept) {
      errs[2] = errs[1]!;
      errs[1] = errs[0];
    }
    h *= factor;
    return accept;
  };
  let s = tStart;
  const xPrev = zerosLike(x);
  xPrev.data.set(x.data);
  const eps = zerosLike(x), xLow = zerosLike(x), xHigh = zerosLike(x);
  const cache = { e1: zerosLike(x), e2: zerosLike(x), u: zerosLike(x), have1: false };
  const info: DpmSolverInfo = { nfe: 0, steps: 0, nAccept: 0, nReject: 0 };
  const n = x.data.length;
  while (forward ? s < tEnd - 1e-5 : s > tEnd + 1e-5) {
    run.step = info.steps;
    const t = forward ? Math.min(tEnd, s + h) : Math.max(tEnd, s + h);
    const [t_, su] = ancestralT(sv, s, t, eta, tEnd);
    const den = await sv.eps(eps, x, s);
    cache.have1 = false;
    if (order === 2) {
      await dpmStep(sv, F64, 1, x, xLow, s, t_, eps, cache, 0.5, 0);
      await dpmStep(sv, F64, 2, x, xHigh, s, t_, eps, cache, 0.5, 0);
    } else {
      await dpmStep(sv, F64, 2, x, xLow, s, t_, eps, cache, 1 / 3, 0);
      await dpmStep(sv, F64, 3, x, xHigh, s, t_, eps, cache, 1 / 3, 2 / 3);
    }
    const lo = xLow.data, hi = xHigh.data, pv = xPrev.data;
    let sq = 0;
    for (let j = 0; j < n; j++) {
      const delta = Math.max(atol, rtol * Math.max(Math.abs(lo[j]!), Math.abs(pv[j]!)));
      const e = (lo[j]! - hi[j]!) / delta;
      sq += e * e;
    }
    const error = Math.sqrt(sq) / Math.sqrt(n);
    const accept = propose(error);
    if (accept) {
      pv.set(lo);
      x.data.set(hi);
      if (su) addNoise(x, su * sNoise, run.draw(x, sv.sigma(s), sv.sigma(t)));
      s = t;
      info.nAccept++;
    } else {
      info.nReject++;
    }
    info.nfe += order;
    info.steps++;
    run.callback(info.steps - 1, sv.sigma(s), sv.sigma(s), x, den);
  }
  run.options.onInfo?.(info);
  return x;
});
