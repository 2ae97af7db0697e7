// SA-Solver (Xue et al. 2023, "SA-Solver: Stochastic Adams Solver for Fast Sampling of Diffusion Models",
// arXiv:2309.05019): stochastic Adams-Bashforth predictor and Adams-Moulton corrector in the data-prediction
// form over lambda = -log(sigma), with noise amount tau(sigma). The default tau is 1 inside ComfyUI's
// interval [percent_to_sigma(0.8), percent_to_sigma(0.2)] of the `modelSampling` option and 0 outside; pass
// `start_sigma`/`end_sigma` or a `tau_func` to change it. Without a model sampling the SD1.x/SDXL interval is used.
// On flow samplings lambda = -logit(sigma) and the coefficients carry alpha_t = 1 - sigma_t (see flow.ts).
import type { Tensor, TensorData } from '../tensor/tensor.js';
import { combineInto, zerosLike } from '../tensor/ops.js';
import { defineSampler, type Run } from './common.js';
import * as S from './specs.js';
import { halfLogSnr, modelSamplingOf, offsetFirstSigma } from './flow.js';

/** ComfyUI's default tau interval for SD1.x/SDXL (percent_to_sigma(0.2) and (0.8) of the discrete schedule). */
export const SD_TAU_INTERVAL = { startSigma: 5.092408180236816, endSigma: 0.5711888670921326 };

// 16-point Gauss-Legendre nodes and weights on [-1, 1]
const GL_X = [0.0950125098376374, 0.2816035507792589, 0.4580167776572274, 0.6178762444026438, 0.755404408355003, 0.8656312023878318, 0.9445750230732326, 0.9894009349916499];
const GL_W = [0.1894506104550685, 0.1826034150449236, 0.1691565193950025, 0.1495959888165767, 0.1246289712555339, 0.0951585116824928, 0.0622535239386479, 0.0271524594117541];

/**
 * b_j = alpha_t * integral over [lambdaS, lambdaT] of (1 + tau^2) e^{-(1 + tau^2)(lambdaT - l)} L_j(l) dl, with L_j
 * the Lagrange basis through `nodes` (alpha_t = 1 in the VE convention, 1 - sigma_t on flow samplings).
 */
export function stochasticAdamsCoefficients(nodes: readonly number[], lambdaS: number, lambdaT: number, tau: number, alphaT = 1): number[] {
  const k = 1 + tau * tau;
  const half = 0.5 * (lambdaT - lambdaS), mid = 0.5 * (lambdaT + lambdaS);
  const out = new Array<number>(nodes.length).fill(0);
  for (let q = 0; q < 16; q++) {
    const xq = q < 8 ? -GL_X[7 - q]! : GL_X[q - 8]!;
    const wq = q < 8 ? GL_W[7 - q]! : GL_W[q - 8]!;
    const l = mid + half * xq;
    const w = wq * half * k * Math.exp(-k * (lambdaT - l));
    for (let j = 0; j < nodes.length; j++) {
      let basis = 1;
      for (let m = 0; m < nodes.length; m++) if (m !== j) basis *= (l - nodes[m]!) / (nodes[j]! - nodes[m]!);
      out[j] = out[j]! + w * basis;
    }
  }
  if (alphaT !== 1) for (let j = 0; j < out.length; j++) out[j] = alphaT * out[j]!;
  return out;
}

/**
 * The paper's simplified order-2 coefficients (appendix D; ComfyUI's simple_order_2), [older, newer]. They integrate
 * a constant exactly, like the Lagrange ones: b_older + b_newer = alpha_t (1 - e^{-(1 + tau^2) h}). The predictor
 * weights the older prediction by (1 + tau^2) h^2 / 2 over lambdaOlder - lambdaS, the corrector the newer one by
 * (1 + tau^2) h / 2.
 */
export function simpleOrder2Coefficients(lambdaOlder: number, lambdaS: number, lambdaT: number, tau: number, alphaT: number, corrector: boolean): number[] {
  const k = 1 + tau * tau, h = lambdaT - lambdaS;
  const total = -alphaT * Math.expm1(-h * k);
  if (corrector) {
    const newer = alphaT * (0.5 * k * h);
    return [total - newer, newer];
  }
  const older = (alphaT * (0.5 * k * h * h)) / (lambdaOlder - lambdaS);
  return [older, total - older];
}

/** x += n (kept out of the async sampler so V8 optimises it on its own). */
function addInto(x: TensorData, n: TensorData): void {
  for (let j = 0; j < x.length; j++) x[j] = x[j]! + n[j]!;
}

/** noise = c * z; xPred += noise. */
function scaledNoiseInto(noise: TensorData, c: number, z: TensorData, xPred: TensorData): void {
  for (let j = 0; j < noise.length; j++) {
    const v = c * z[j]!;
    noise[j] = v;
    xPred[j] = xPred[j]! + v;
  }
}

async function saSolver(run: Run<S.SaSolverPeceParams>, x: Tensor, sigmas: Float64Array, usePece: boolean): Promise<Tensor> {
  const sNoise = run.num('s_noise');
  const predictorOrder = run.num('predictor_order'), correctorOrder = run.num('corrector_order');
  for (const [k, v] of [['predictor_order', predictorOrder], ['corrector_order', correctorOrder]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 6) throw new RangeError(`${run.name}: ${k} must be an integer from 1 to 6, got ${v}`);
  }
  const simple = run.flag('simple_order_2');
  const ms = modelSamplingOf(run), hl = halfLogSnr(ms);
  offsetFirstSigma(run, sigmas, ms);
  let tauFunc = run.fn<(sigma: number) => number>('tau_func');
  if (!tauFunc) {
    // null defaults: the model sampling's percent_to_sigma(0.2) and (0.8), or SD1.x's without one
    const start = run.num('start_sigma', ms ? ms.percentToSigma(0.2) : SD_TAU_INTERVAL.startSigma);
    const end = run.num('end_sigma', ms ? ms.percentToSigma(0.8) : SD_TAU_INTERVAL.endSigma);
    const eta = run.num('eta');
    tauFunc = (s: number) => (eta > 0 && start >= s && s >= end ? eta : 0);
  }
  const lambdas = Array.from(sigmas, (s) => hl.lambda(s));
  // alpha_t = sigma_t e^lambda_t scales the coefficients (1 in the VE convention)
  const alphas = Array.from(sigmas, (s, i) => hl.alpha(s, lambdas[i]!));
  const maxOrder = Math.max(predictorOrder, correctorOrder);
  const xPred = zerosLike(x);
  xPred.data.set(x.data);
  let noise: Tensor | null = null;
  let h = 0, tau = 0;
  const preds: Tensor[] = []; // newest last, copies
  const spare: Tensor[] = [];
  const lowerOrderToEnd = sigmas[sigmas.length - 1] === 0;
  const N = sigmas.length;
  const combine = (coeffs: number[], count: number, out: Tensor, scale: number, base: Tensor): void => {
    const ps = preds.slice(preds.length - count).map((p) => p.data);
    combineInto(out.data, [scale, ...coeffs.slice(0, count)], [base.data, ...ps]);
  };
  for (let i = 0; i < N - 1; i++) {
    run.step = i;
    let denoised = await run.denoise(xPred, sigmas[i]!);
    run.callback(i, sigmas[i]!, sigmas[i]!, xPred, denoised);
    const keep = spare.pop() ?? zerosLike(x);
    keep.data.set(denoised.data);
    preds.push(keep);
    while (preds.length > maxOrder) spare.push(preds.shift()!);
    let pOrder = Math.min(predictorOrder, preds.length);
    let cOrder = i === 0 || (sigmas[i + 1] === 0 && !usePece) ? 0 : Math.min(correctorOrder, preds.length);
    if (lowerOrderToEnd) {
      pOrder = Math.min(pOrder, N - 2 - i);
      cOrder = Math.min(cOrder, N - 1 - i);
    }
    // corrector (Adams-Moulton through the new prediction)
    if (cOrder === 0) {
      x.data.set(xPred.data);
    } else {
      const nodes = lambdas.slice(i - cOrder + 1, i + 1);
      const b = simple && cOrder === 2
        ? simpleOrder2Coefficients(nodes[0]!, lambdas[i - 1]!, lambdas[i]!, tau, alphas[i]!, true)
        : stochasticAdamsCoefficients(nodes, lambdas[i - 1]!, lambdas[i]!, tau, alphas[i]!);
      combine(b, cOrder, x, (sigmas[i]! / sigmas[i - 1]!) * Math.exp(-(tau * tau) * h), x);
      if (tau > 0 && sNoise > 0 && noise) addInto(x.data, noise.data);
      if (usePece) {
        denoised = await run.denoise(x, sigmas[i]!);
        preds[preds.length - 1]!.data.set(denoised.data);
      }
    }
    // predictor (Adams-Bashforth)
    if (sigmas[i + 1] === 0) {
      x.data.set(denoised.data);
    } else {
      tau = tauFunc(sigmas[i + 1]!);
      const nodes = lambdas.slice(i - pOrder + 1, i + 1);
      const b = simple && pOrder === 2
        ? simpleOrder2Coefficients(nodes[0]!, lambdas[i]!, lambdas[i + 1]!, tau, alphas[i + 1]!, false)
        : stochasticAdamsCoefficients(nodes, lambdas[i]!, lambdas[i + 1]!, tau, alphas[i + 1]!);
      h = lambdas[i + 1]! - lambdas[i]!;
      combine(b, pOrder, xPred, (sigmas[i + 1]! / sigmas[i]!) * Math.exp(-(tau * tau) * h), x);
      if (tau > 0 && sNoise > 0) {
        const z = run.draw(x, sigmas[i]!, sigmas[i + 1]!);
        const c = sigmas[i + 1]! * Math.sqrt(-Math.expm1(-2 * tau * tau * h)) * sNoise;
        const nz: Tensor = noise ?? zerosLike(x);
        scaledNoiseInto(nz.data, c, z.data, xPred.data);
        noise = nz;
      }
    }
  }
  return x;
}

export const sampleSaSolver = defineSampler(S.saSolverSpec, (run, x, sigmas) => saSolver(run, x, sigmas, run.flag('use_pece')));
export const sampleSaSolverPece = defineSampler(S.saSolverPece, (run, x, sigmas) => saSolver(run, x, sigmas, true));
