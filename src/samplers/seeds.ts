// SEEDS-2/3 (Gonzalez et al. 2023, "SEEDS: Exponential SDE Solvers for Fast High-Quality Sampling from
// Diffusion Models", arXiv:2305.14267) in the data-prediction form over the half-log-SNR lambda = log(alpha / sigma)
// (-log(sigma) with alpha = 1 in the VE convention; -logit(sigma) with alpha = 1 - sigma on flow samplings, see
// flow.ts), and the ER-SDE solver (Cui et al. 2023, arXiv:2309.06169). exp_heun_2_x0 is SEEDS-2 with r = 1 and
// the phi_2 combination (deterministic without noise).
import type { Tensor } from '../tensor/tensor.js';
import { copyInto, zerosLike } from '../tensor/ops.js';
import { addNoise, defineSampler, eiPhi1, eiPhi2, landOnPrediction, type Run } from './common.js';
import * as S from './specs.js';
import { halfLogSnr, halfLogSnrOf, isFlow, modelSamplingOf, offsetFirstSigma, type HalfLogSnr } from './flow.js';

const PHI = ['phi_1', 'phi_2'] as const;

/** A step sigma -> sigmaNext in half-log-SNR: its ends ls and lt, its length h, and h (eta + 1). */
function halfLogSnrStep(hl: HalfLogSnr, sigma: number, sigmaNext: number, eta: number): { ls: number; lt: number; h: number; hEta: number } {
  const ls = hl.lambda(sigma), lt = hl.lambda(sigmaNext);
  const h = lt - ls;
  return { ls, lt, h, hEta: h * (eta + 1) };
}

/** A stage point of a step ls -> lt: the half-log-SNR a fraction r of the way, with its sigma and alpha. */
interface StagePoint {
  sigma: number;
  alpha: number;
}

function stagePoint(hl: HalfLogSnr, ls: number, lt: number, r: number): StagePoint {
  const lambda = ls + r * (lt - ls);
  const sigma = hl.sigma(lambda);
  return { sigma, alpha: hl.alpha(sigma, lambda) };
}

/**
 * The first stage of SEEDS-2 and SEEDS-3, without its noise: the first-order exponential step of x (at sigma,
 * prediction `denoised`) to the stage point s1 at fraction r of a step of length h (hEta = h (eta + 1)), written to out.
 */
function firstStage(out: Tensor, x: Tensor, denoised: Tensor, sigma: number, s1: StagePoint, r: number, h: number, hEta: number, eta: number): void {
  const a = (s1.sigma / sigma) * Math.exp(-r * h * eta), b = s1.alpha * eiPhi1(-r * hEta);
  const xd = x.data, dd = denoised.data, od = out.data, n = xd.length;
  for (let j = 0; j < n; j++) od[j] = a * xd[j]! - b * dd[j]!;
}

async function seeds2(run: Run, x: Tensor, sigmas: Float64Array, eta: number, sNoise: number, r: number, solver: (typeof PHI)[number]): Promise<Tensor> {
  const hl = halfLogSnrOf(run, sigmas);
  const x2 = zerosLike(x);
  const n = x.data.length;
  const noisy = eta > 0 && sNoise > 0;
  return run.eachStep(x, sigmas, async ({ sigma, sigmaNext, denoised }) => {
    if (landOnPrediction(x, denoised, sigmaNext)) return;
    const { ls, lt, h, hEta } = halfLogSnrStep(hl, sigma, sigmaNext, eta);
    const s1 = stagePoint(hl, ls, lt, r), sigmaS1 = s1.sigma;
    const alphaT = hl.alpha(sigmaNext, lt);
    firstStage(x2, x, denoised, sigma, s1, r, h, hEta, eta);
    // The two draws are the Brownian increments over [sigma, s1] and [s1, sigma_next]; the final noise is
    // the exact combination of both, so the stage-1 noise is reused with its decayed weight.
    const n1 = noisy ? run.draw(x, sigma, sigmaS1) : null;
    if (n1) addNoise(x2, sigmaS1 * Math.sqrt(-Math.expm1(-2 * r * h * eta)) * sNoise, n1);
    const denoised2 = await run.denoise(x2, sigmaS1);
    const a = (sigmaNext / sigma) * Math.exp(-h * eta);
    let c1: number, c2: number;
    if (solver === 'phi_1') {
      const fac = 1 / (2 * r), e1 = alphaT * eiPhi1(-hEta);
      c1 = e1 * (1 - fac);
      c2 = e1 * fac;
    } else {
      const b2 = eiPhi2(-hEta) / r;
      c1 = alphaT * (eiPhi1(-hEta) - b2);
      c2 = alphaT * b2;
    }
    const xd = x.data, dd = denoised.data, d2 = denoised2.data;
    for (let j = 0; j < n; j++) xd[j] = a * xd[j]! - (c1 * dd[j]! + c2 * d2[j]!);
    if (n1) {
      const n2 = run.draw(x, sigmaS1, sigmaNext);
      addNoise(x, sigmaNext * Math.exp(-eta * (1 - r) * h) * Math.sqrt(-Math.expm1(-2 * eta * r * h)) * sNoise, n1);
      addNoise(x, sigmaNext * Math.sqrt(-Math.expm1(-2 * eta * (1 - r) * h)) * sNoise, n2);
    }
  });
}

export const sampleSeeds2 = defineSampler(S.seeds2, (run, x, sigmas) =>
  seeds2(run, x, sigmas, run.num('eta'), run.num('s_noise'), run.num('r'), run.choice('solver_type', PHI)),
);
/** ComfyUI's exp_heun_2_x0(_sde): seeds_2 with r = 1 (and without noise: eta = s_noise = 0). */
export const sampleExpHeun2X0 = defineSampler(S.expHeun2X0, (run, x, sigmas) => seeds2(run, x, sigmas, 0, 0, 1, run.choice('solver_type', PHI)));
export const sampleExpHeun2X0Sde = defineSampler(S.expHeun2X0Sde, (run, x, sigmas) =>
  seeds2(run, x, sigmas, run.num('eta'), run.num('s_noise'), 1, run.choice('solver_type', PHI)),
);

export const sampleSeeds3 = defineSampler(S.seeds3, async (run, x, sigmas) => {
  const eta = run.num('eta'), sNoise = run.num('s_noise');
  const r1 = run.num('r_1'), r2 = run.num('r_2');
  const hl = halfLogSnrOf(run, sigmas);
  const x2 = zerosLike(x), x3 = zerosLike(x);
  const n = x.data.length;
  const noisy = eta > 0 && sNoise > 0;
  return run.eachStep(x, sigmas, async ({ sigma, sigmaNext, denoised }) => {
    if (landOnPrediction(x, denoised, sigmaNext)) return;
    const { ls, lt, h, hEta } = halfLogSnrStep(hl, sigma, sigmaNext, eta);
    const stage1 = stagePoint(hl, ls, lt, r1), stage2 = stagePoint(hl, ls, lt, r2);
    const s1 = stage1.sigma, s2 = stage2.sigma, alphaS2 = stage2.alpha, alphaT = hl.alpha(sigmaNext, lt);
    const xd = x.data, dd = denoised.data, x3d = x3.data;
    firstStage(x2, x, denoised, sigma, stage1, r1, h, hEta, eta);
    // Brownian increments over [sigma, s1], [s1, s2], [s2, sigma_next], combined exactly at each stage
    const w1 = Math.sqrt(-Math.expm1(-2 * eta * r1 * h)), w2 = Math.sqrt(-Math.expm1(-2 * eta * (r2 - r1) * h));
    const n1 = noisy ? run.draw(x, sigma, s1) : null;
    if (n1) addNoise(x2, s1 * w1 * sNoise, n1);
    const den2 = (await run.denoise(x2, s1)).data;
    {
      const a32 = (r2 / r1) * eiPhi2(-r2 * hEta), a31 = eiPhi1(-r2 * hEta) - a32;
      const a = (s2 / sigma) * Math.exp(-r2 * h * eta);
      for (let j = 0; j < n; j++) x3d[j] = a * xd[j]! - alphaS2 * (a31 * dd[j]! + a32 * den2[j]!);
    }
    const n2 = noisy ? run.draw(x, s1, s2) : null;
    if (n1 && n2) {
      addNoise(x3, s2 * Math.exp(-eta * (r2 - r1) * h) * w1 * sNoise, n1);
      addNoise(x3, s2 * w2 * sNoise, n2);
    }
    const den3 = (await run.denoise(x3, s2)).data;
    const b3 = eiPhi2(-hEta) / r2, b1 = eiPhi1(-hEta) - b3;
    const a = (sigmaNext / sigma) * Math.exp(-h * eta);
    for (let j = 0; j < n; j++) xd[j] = a * xd[j]! - alphaT * (b1 * dd[j]! + b3 * den3[j]!);
    if (n1 && n2) {
      const n3 = run.draw(x, s2, sigmaNext);
      addNoise(x, sigmaNext * Math.exp(-eta * (1 - r1) * h) * w1 * sNoise, n1);
      addNoise(x, sigmaNext * Math.exp(-eta * (1 - r2) * h) * w2 * sNoise, n2);
      addNoise(x, sigmaNext * Math.sqrt(-Math.expm1(-2 * eta * (1 - r2) * h)) * sNoise, n3);
    }
  });
});

/** ER-SDE's default noise scaler (the paper's "ER-SDE 5" choice): lambda * (exp(lambda^0.3) + 10). */
const erNoiseScaler = (l: number): number => l * (Math.exp(l ** 0.3) + 10);

/**
 * ER-SDE-Solver-3 (VP form) over the ER lambda sigma / alpha (sigma itself in the VE convention, where alpha = 1;
 * sigma / (1 - sigma) on flow samplings). The stage-2/3 integrals are
 * 200-point Riemann sums as in the reference (ComfyUI does them in float32; we use float64).
 */
export const sampleErSde = defineSampler(S.erSde, async (run, x, sigmas) => {
  const sNoise = run.num('s_noise');
  const maxStage = run.num('max_stage');
  if (![1, 2, 3].includes(maxStage)) throw new RangeError(`er_sde: max_stage must be 1, 2 or 3, got ${maxStage}`);
  const scaler = run.fn<(lambda: number) => number>('noise_scaler') ?? erNoiseScaler;
  const points = 200;
  const ms = modelSamplingOf(run), hl = halfLogSnr(ms);
  offsetFirstSigma(run, sigmas, ms);
  // the ER lambda is sigma / alpha = e^-lambda (sigma itself in the VE convention)
  const lambdas = isFlow(ms) ? sigmas.map((s) => Math.exp(-hl.lambda(s))) : sigmas;
  const old = zerosLike(x), oldD = zerosLike(x), dCur = zerosLike(x);
  const n = x.data.length;
  return run.eachStep(x, sigmas, ({ i, sigma, sigmaNext, denoised }) => {
    const stage = Math.min(maxStage, i + 1);
    if (sigmaNext === 0) {
      copyInto(x, denoised);
    } else {
      const ls = lambdas[i]!, lt = lambdas[i + 1]!;
      const alphaS = sigma / ls, alphaT = sigmaNext / lt, rAlpha = alphaT / alphaS;
      const r = scaler(lt) / scaler(ls);
      const xd = x.data, dd = denoised.data, od = old.data, odd = oldD.data, dc = dCur.data;
      for (let j = 0; j < n; j++) xd[j] = rAlpha * r * xd[j]! + alphaT * (1 - r) * dd[j]!;
      if (stage >= 2) {
        const dt = lt - ls;
        const stepSize = -dt / points;
        let s = 0, su = 0;
        for (let k = 0; k < points; k++) {
          const pos = lt + k * stepSize;
          const sc = scaler(pos);
          s += 1 / sc;
          su += (pos - ls) / sc;
        }
        s *= stepSize;
        su *= stepSize;
        const c2 = alphaT * (dt + s * scaler(lt));
        const inv2 = 1 / (ls - lambdas[i - 1]!);
        if (stage >= 3) {
          const c3 = alphaT * ((dt * dt) / 2 + su * scaler(lt));
          const inv3 = 2 / (ls - lambdas[i - 2]!);
          for (let j = 0; j < n; j++) {
            const d = (dd[j]! - od[j]!) * inv2;
            xd[j] = xd[j]! + c2 * d + c3 * (d - odd[j]!) * inv3;
            dc[j] = d;
          }
        } else {
          for (let j = 0; j < n; j++) {
            const d = (dd[j]! - od[j]!) * inv2;
            xd[j] = xd[j]! + c2 * d;
            dc[j] = d;
          }
        }
        copyInto(oldD, dCur);
      }
      if (sNoise > 0) {
        let amp = Math.sqrt(lt * lt - ls * ls * r * r);
        if (Number.isNaN(amp)) amp = 0;
        addNoise(x, alphaT * amp * sNoise, run.draw(x, sigma, sigmaNext));
      }
    }
    copyInto(old, denoised);
  });
});
