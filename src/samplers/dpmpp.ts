// DPM-Solver++ family (Lu et al. 2022, arXiv:2211.01095) in the data-prediction form over lambda = -log(sigma),
// after k-diffusion (MIT): 2S ancestral, SDE, 2M, 2M SDE (midpoint / heun) and 3M SDE, plus ComfyUI's cfg_pp
// variants (CFG++, Chung et al. 2024) and the linear multistep (LMS) sampler.
import type { Tensor, TensorData } from '../tensor/tensor.js';
import { copyInto, zerosLike } from '../tensor/ops.js';
import { addNoise, ancestralStep, defineSampler, lambdaOf, landOnPrediction, sigmaOfLambda, type Run } from './common.js';
import * as S from './specs.js';
import { flowStep, halfLogSnrOf, isFlow, modelSamplingOf, rescaleAddNoise, rfAncestralStep } from './flow.js';


export const sampleDpmpp2sAncestral = defineSampler(S.dpmpp2sAncestral, (run, x, sigmas) => dpmpp2sAncestral(run, x, sigmas, false));
export const sampleDpmpp2sAncestralCfgPp = defineSampler(S.dpmpp2sAncestralCfgPp, (run, x, sigmas) => dpmpp2sAncestral(run, x, sigmas, true));

async function dpmpp2sAncestral(run: Run<S.AncestralParams>, x: Tensor, sigmas: Float64Array, cfgPp: boolean): Promise<Tensor> {
  const eta = run.num('eta'), sNoise = run.num('s_noise');
  // ComfyUI (at the conformance commit) has a rectified-flow variant of the plain sampler only
  if (!cfgPp && isFlow(modelSamplingOf(run))) return dpmpp2sAncestralRF(run, sigmas, x, eta, sNoise);
  const x2 = zerosLike(x);
  const n = x.data.length;
  return run.eachStep(x, sigmas, async ({ sigma, sigmaNext, denoised }) => {
    const uncond = cfgPp ? run.uncond() : denoised;
    const [down, up] = ancestralStep(sigma, sigmaNext, eta);
    const xd = x.data, dd = denoised.data, ud = uncond.data;
    if (down === 0) {
      // Euler step to sigma_down = 0
      if (cfgPp) for (let j = 0; j < n; j++) xd[j] = dd[j]!;
      else for (let j = 0; j < n; j++) xd[j] = xd[j]! + (xd[j]! - dd[j]!) * ((down - sigma) / sigma);
    } else {
      const t = lambdaOf(sigma), tNext = lambdaOf(down), h = tNext - t, s = t + 0.5 * h;
      const a1 = sigmaOfLambda(s) / sigmaOfLambda(t), b1 = -Math.expm1(-h * 0.5);
      const x2d = x2.data;
      // CFG++ moves x along the guided direction before renoising: x + (denoised - uncond)
      for (let j = 0; j < n; j++) x2d[j] = a1 * (xd[j]! + dd[j]! - ud[j]!) - b1 * -dd[j]!;
      const denoised2 = await run.denoise(x2, sigmaOfLambda(s));
      const a2 = sigmaOfLambda(tNext) / sigmaOfLambda(t), b2 = -Math.expm1(-h);
      const d2 = denoised2.data;
      if (cfgPp) {
        const u2 = run.uncond().data;
        for (let j = 0; j < n; j++) xd[j] = a2 * (xd[j]! + dd[j]! - u2[j]!) + b2 * d2[j]!;
      } else {
        for (let j = 0; j < n; j++) xd[j] = a2 * xd[j]! + b2 * d2[j]!;
      }
    }
    if (sigmaNext > 0) addNoise(x, sNoise * up, run.draw(x, sigma, sigmaNext));
  });
}

/**
 * Rectified-flow dpmpp_2s_ancestral (ComfyUI's sample_dpmpp_2s_ancestral_RF): DPM-Solver++(2S) to the RF
 * sigma_down, its midpoint at sigmoid(-lambda_mid) with lambda = log((1 - sigma) / sigma) (0.9999 when sigma
 * is exactly 1), then the RF renoising.
 */
async function dpmpp2sAncestralRF(run: Run, sigmas: Float64Array, x: Tensor, eta: number, sNoise: number): Promise<Tensor> {
  const x2 = zerosLike(x);
  const flowLambda = (s: number): number => Math.log((1 - s) / s);
  return run.eachStep(x, sigmas, async ({ sigma, sigmaNext, denoised }) => {
    const st = rfAncestralStep(sigma, sigmaNext, eta);
    if (sigmaNext === 0) {
      const xd = x.data, dd = denoised.data, k = (st.down - sigma) / sigma;
      for (let j = 0; j < xd.length; j++) xd[j] = xd[j]! + (xd[j]! - dd[j]!) * k;
    } else {
      let sigmaS = 0.9999;
      if (sigma !== 1) {
        const l = flowLambda(sigma), lDown = flowLambda(st.down);
        sigmaS = 1 / (Math.exp(l + 0.5 * (lDown - l)) + 1);
      }
      copyInto(x2, x);
      flowStep(x2, denoised, sigma, sigmaS);
      const denoised2 = await run.denoise(x2, sigmaS);
      flowStep(x, denoised2, sigma, st.down);
    }
    if (sigmaNext > 0 && eta > 0) rescaleAddNoise(x, st.rescale, sNoise * st.renoise, run.draw(x, sigma, sigmaNext));
  });
}

/**
 * DPM-Solver++(2S) with SDE noise at both stages (k-diffusion sample_dpmpp_sde), in the model sampling's
 * half-log-SNR (alpha = 1 - sigma and lambda = -logit(sigma) on flow samplings).
 */
async function dpmppSde(run: Run<S.DpmppSdeParams>, x: Tensor, sigmas: Float64Array): Promise<Tensor> {
  const eta = run.num('eta'), sNoise = run.num('s_noise'), r = run.num('r');
  const hl = halfLogSnrOf(run, sigmas);
  const noisy = eta > 0 && sNoise > 0;
  const x2 = zerosLike(x);
  const n = x.data.length;
  return run.eachStep(x, sigmas, async ({ sigma, sigmaNext, denoised }) => {
    if (landOnPrediction(x, denoised, sigmaNext)) return;
    const ls = hl.lambda(sigma), lt = hl.lambda(sigmaNext), h = lt - ls, ls1 = ls + r * h, fac = 1 / (2 * r);
    const sigmaS1 = hl.sigma(ls1);
    const alphaS = hl.alpha(sigma, ls), alphaS1 = hl.alpha(sigmaS1, ls1), alphaT = hl.alpha(sigmaNext, lt);
    // stage 1: the ancestral split is taken on e^-lambda (sigma / alpha)
    let [sd, su] = ancestralStep(Math.exp(-ls), Math.exp(-ls1), eta);
    let hDown = -Math.log(sd) - ls;
    {
      const a = (alphaS1 / alphaS) * Math.exp(-hDown), b = -alphaS1 * Math.expm1(-hDown);
      const xd = x.data, dd = denoised.data, x2d = x2.data;
      for (let j = 0; j < n; j++) x2d[j] = a * xd[j]! + b * dd[j]!;
    }
    if (noisy) addNoise(x2, alphaS1 * sNoise * su, run.draw(x, sigma, sigmaS1));
    const denoised2 = await run.denoise(x2, sigmaS1);
    // stage 2
    [sd, su] = ancestralStep(Math.exp(-ls), Math.exp(-lt), eta);
    hDown = -Math.log(sd) - ls;
    {
      const a = (alphaT / alphaS) * Math.exp(-hDown), b = -alphaT * Math.expm1(-hDown);
      const xd = x.data, dd = denoised.data, d2 = denoised2.data;
      for (let j = 0; j < n; j++) xd[j] = a * xd[j]! + b * ((1 - fac) * dd[j]! + fac * d2[j]!);
    }
    if (noisy) addNoise(x, alphaT * sNoise * su, run.draw(x, sigma, sigmaNext));
  });
}

export const sampleDpmppSde = defineSampler(S.dpmppSde, dpmppSde);
/** ComfyUI's _gpu variants differ only in where torchsde builds its Brownian tree. */
export const sampleDpmppSdeGpu = defineSampler(S.dpmppSdeGpu, dpmppSde);

export const sampleDpmpp2m = defineSampler(S.dpmpp2m, async (run, x, sigmas) => {
  const old = zerosLike(x);
  const n = x.data.length;
  return run.eachStep(x, sigmas, ({ i, sigma, sigmaNext, denoised }) => {
    const xd = x.data, dd = denoised.data, od = old.data;
    if (sigmaNext === 0) {
      // sigma_next / sigma = 0 and -expm1(-inf) = 1: the step lands on the prediction
      for (let j = 0; j < n; j++) {
        od[j] = dd[j]!;
        xd[j] = dd[j]!;
      }
    } else {
      const t = lambdaOf(sigma), tNext = lambdaOf(sigmaNext), h = tNext - t;
      const a = sigmaNext / sigma, b = -Math.expm1(-h);
      if (i === 0) {
        for (let j = 0; j < n; j++) {
          const d = dd[j]!;
          xd[j] = a * xd[j]! + b * d;
          od[j] = d;
        }
      } else {
        const r = (t - lambdaOf(sigmas[i - 1]!)) / h;
        const c1 = b * (1 + 1 / (2 * r)), c2 = b * (1 / (2 * r));
        for (let j = 0; j < n; j++) {
          const d = dd[j]!;
          xd[j] = a * xd[j]! + c1 * d - c2 * od[j]!;
          od[j] = d;
        }
      }
    }
  });
});

export const sampleDpmpp2mCfgPp = defineSampler(S.dpmpp2mCfgPp, async (run, x, sigmas) => {
  const oldUncond = zerosLike(x);
  const n = x.data.length;
  return run.eachStep(x, sigmas, ({ i, sigma, sigmaNext, denoised }) => {
    const uncond = run.uncond();
    const t = lambdaOf(sigma), tNext = lambdaOf(sigmaNext), h = tNext - t;
    const eh = Math.exp(-h), em1 = Math.expm1(-h);
    const xd = x.data, dd = denoised.data, ud = uncond.data, od = oldUncond.data;
    if (i === 0 || sigmaNext === 0) {
      // x_next = denoised + e^-h (x - uncond): CFG++ first-order step
      for (let j = 0; j < n; j++) {
        xd[j] = dd[j]! + eh * (xd[j]! - ud[j]!);
        od[j] = ud[j]!;
      }
    } else {
      const r = (t - lambdaOf(sigmas[i - 1]!)) / h;
      const c = em1 * (1 / (2 * r));
      for (let j = 0; j < n; j++) {
        xd[j] = dd[j]! + eh * (xd[j]! - ud[j]!) - c * (dd[j]! - od[j]!);
        od[j] = ud[j]!;
      }
    }
  });
});

/** DPM-Solver++(2M) SDE in the model sampling's half-log-SNR (k-diffusion sample_dpmpp_2m_sde). */
async function dpmpp2mSde(run: Run<S.Dpmpp2mSdeParams>, x: Tensor, sigmas: Float64Array): Promise<Tensor> {
  const eta = run.num('eta'), sNoise = run.num('s_noise');
  const solver = run.choice('solver_type', ['midpoint', 'heun'] as const);
  const hl = halfLogSnrOf(run, sigmas);
  const old = zerosLike(x);
  let hLast = 0;
  const n = x.data.length;
  return run.eachStep(x, sigmas, ({ i, sigma, sigmaNext, denoised }) => {
    const xd = x.data, dd = denoised.data, od = old.data;
    if (sigmaNext === 0) {
      copyInto(x, denoised);
    } else {
      const lt = hl.lambda(sigmaNext);
      const h = lt - hl.lambda(sigma), hEta = h * (eta + 1);
      const alphaT = hl.alpha(sigmaNext, lt);
      const a = (sigmaNext / sigma) * Math.exp(-h * eta);
      const b = -alphaT * Math.expm1(-hEta);
      let c = 0;
      if (i > 0) {
        const r = hLast / h;
        c = solver === 'heun' ? alphaT * (-Math.expm1(-hEta) / -hEta + 1) * (1 / r) : 0.5 * b * (1 / r);
      }
      for (let j = 0; j < n; j++) xd[j] = a * xd[j]! + b * dd[j]! + c * (dd[j]! - od[j]!);
      if (eta > 0 && sNoise > 0) addNoise(x, sigmaNext * Math.sqrt(-Math.expm1(-2 * h * eta)) * sNoise, run.draw(x, sigma, sigmaNext));
      hLast = h;
    }
    copyInto(old, denoised);
  });
}

/** The _heun variants differ from the plain ones only in their default solver_type (the spec's). */
export const sampleDpmpp2mSde = defineSampler(S.dpmpp2mSde, dpmpp2mSde);
export const sampleDpmpp2mSdeHeun = defineSampler(S.dpmpp2mSdeHeun, dpmpp2mSde);
export const sampleDpmpp2mSdeGpu = defineSampler(S.dpmpp2mSdeGpu, dpmpp2mSde);
export const sampleDpmpp2mSdeHeunGpu = defineSampler(S.dpmpp2mSdeHeunGpu, dpmpp2mSde);

async function dpmpp3mSde(run: Run<S.AncestralParams>, x: Tensor, sigmas: Float64Array): Promise<Tensor> {
  const eta = run.num('eta'), sNoise = run.num('s_noise');
  const hl = halfLogSnrOf(run, sigmas);
  let d1 = zerosLike(x), d2 = zerosLike(x); // previous two predictions
  let h1: number | null = null, h2: number | null = null;
  const n = x.data.length;
  return run.eachStep(x, sigmas, ({ sigma, sigmaNext, denoised }) => {
    const xd = x.data, dd = denoised.data, p1 = d1.data, p2 = d2.data;
    let h: number | null = null;
    if (sigmaNext === 0) {
      copyInto(x, denoised);
    } else {
      const lt = hl.lambda(sigmaNext);
      h = lt - hl.lambda(sigma);
      const hEta = h * (eta + 1), alphaT = hl.alpha(sigmaNext, lt);
      const a = (sigmaNext / sigma) * Math.exp(-h * eta), b = -alphaT * Math.expm1(-hEta);
      if (h2 !== null && h1 !== null) {
        const r0 = h1 / h, r1 = h2 / h;
        const phi2 = alphaT * (Math.expm1(-hEta) / hEta + 1);
        const phi3 = alphaT * ((Math.expm1(-hEta) / hEta + 1) / hEta - 0.5);
        const k = r0 / (r0 + r1), inv = 1 / (r0 + r1);
        for (let j = 0; j < n; j++) {
          const d10 = (dd[j]! - p1[j]!) / r0;
          const d11 = (p1[j]! - p2[j]!) / r1;
          const dA = d10 + (d10 - d11) * k;
          const dB = (d10 - d11) * inv;
          xd[j] = a * xd[j]! + b * dd[j]! + phi2 * dA - phi3 * dB;
        }
      } else if (h1 !== null) {
        const r = h1 / h;
        const phi2 = alphaT * (Math.expm1(-hEta) / hEta + 1);
        for (let j = 0; j < n; j++) xd[j] = a * xd[j]! + b * dd[j]! + phi2 * ((dd[j]! - p1[j]!) / r);
      } else {
        for (let j = 0; j < n; j++) xd[j] = a * xd[j]! + b * dd[j]!;
      }
      if (eta > 0 && sNoise > 0) addNoise(x, sigmaNext * Math.sqrt(-Math.expm1(-2 * h * eta)) * sNoise, run.draw(x, sigma, sigmaNext));
    }
    // shift history: d2 <- d1 <- denoised
    const tmp = d2;
    d2 = d1;
    d1 = tmp;
    copyInto(d1, denoised);
    h2 = h1;
    h1 = h;
  });
}

export const sampleDpmpp3mSde = defineSampler(S.dpmpp3mSde, dpmpp3mSde);
export const sampleDpmpp3mSdeGpu = defineSampler(S.dpmpp3mSdeGpu, dpmpp3mSde);

/** Coefficient of the j-th previous derivative in an order-`order` Adams-Bashforth step over sigmas (exact integral). */
export function lmsCoefficient(order: number, t: Float64Array, i: number, j: number): number {
  // integrate prod_{k != j} (tau - t[i-k]) / (t[i-j] - t[i-k]) over [t[i], t[i+1]] with 4-point Gauss-Legendre
  // (exact for these polynomials of degree <= 3... and for order <= 4 degree is order - 1 <= 3)
  const a = t[i]!, b = t[i + 1]!;
  const nodes = [-0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526];
  const weights = [0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538];
  let sum = 0;
  for (let q = 0; q < 4; q++) {
    const tau = 0.5 * (b - a) * nodes[q]! + 0.5 * (a + b);
    let prod = 1;
    for (let k = 0; k < order; k++) {
      if (k === j) continue;
      prod *= (tau - t[i - k]!) / (t[i - j]! - t[i - k]!);
    }
    sum += weights[q]! * prod;
  }
  return 0.5 * (b - a) * sum;
}

export const sampleLms = defineSampler(S.lms, async (run, x, sigmas) => {
  const order = run.num('order');
  if (!Number.isInteger(order) || order < 1 || order > 4) throw new RangeError(`lms: order must be 1, 2, 3 or 4, got ${order}`);
  const ds: Tensor[] = []; // newest last
  const spare: Tensor[] = [];
  const n = x.data.length;
  for (let i = 0; i < sigmas.length - 1; i++) {
    run.step = i;
    const sigma = sigmas[i]!;
    const denoised = await run.denoise(x, sigma);
    const d = ds.length >= order ? ds.shift()! : spare.pop() ?? zerosLike(x);
    const dv = d.data, xd = x.data, dd = denoised.data;
    for (let j = 0; j < n; j++) dv[j] = (xd[j]! - dd[j]!) / sigma;
    ds.push(d);
    run.callback(i, sigma, sigma, x, denoised);
    if (landOnPrediction(x, denoised, sigmas[i + 1]!)) continue;
    const cur = Math.min(i + 1, order);
    // one fused pass: x += sum_j c_j d_{i-j}
    const cs = [0, 0, 0, 0];
    const hs: TensorData[] = [dv, dv, dv, dv];
    for (let j = 0; j < cur; j++) {
      cs[j] = lmsCoefficient(cur, sigmas, i, j);
      hs[j] = ds[ds.length - 1 - j]!.data;
    }
    const [c0, c1, c2, c3] = cs as [number, number, number, number];
    const [d0, d1, d2, d3] = hs as [TensorData, TensorData, TensorData, TensorData];
    for (let k = 0; k < n; k++) xd[k] = xd[k]! + c0 * d0[k]! + c1 * d1[k]! + c2 * d2[k]! + c3 * d3[k]!;
  }
  return x;
});
