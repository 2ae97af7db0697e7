// First- and second-order samplers in the Karras et al. (2022) ODE form dx/dsigma = (x - D(x; sigma)) / sigma,
// after k-diffusion (MIT), plus ComfyUI's cfg_pp variants (CFG++, Chung et al. 2024), DDPM, LCM and Heun++.
import type { Tensor } from '../tensor/tensor.js';
import { copyInto, scale, zerosLike } from '../tensor/ops.js';
import { addNoise, ancestralStep, defineSampler, landOnPrediction, type Run } from './common.js';
import * as S from './specs.js';
import { ancestralStepPy, flowStep, halfLogSnr, isFlow, modelSamplingOf, rescaleAddNoise, rfAncestralStep } from './flow.js';

/**
 * Karras "churn" (Algorithm 2, lines 4-6) at step i: when s_churn > 0 and sigma_i lies in [s_tmin, s_tmax], raise x
 * from sigma_i to sigma_hat = sigma_i (1 + gamma) with fresh noise (`eps`, else a randn_like draw). Returns sigma_hat
 * (sigma_i itself without churn).
 */
function churn(run: Run<S.ChurnParams>, x: Tensor, sigmas: Float64Array, i: number, eps: Tensor | null = null): number {
  const sChurn = run.num('s_churn'), sTmin = run.num('s_tmin'), sTmax = run.num('s_tmax');
  const sigma = sigmas[i]!;
  const gamma = sTmin <= sigma && sigma <= sTmax ? Math.min(sChurn / (sigmas.length - 1), Math.SQRT2 - 1) : 0;
  const sigmaHat = sigma * (gamma + 1);
  if (gamma > 0) addNoise(x, run.num('s_noise') * Math.sqrt(sigmaHat ** 2 - sigma ** 2), eps ?? run.randnLike(x));
  return sigmaHat;
}

/** x <- x + (x - denoised) / sigma * dt  (one Euler step along the probability-flow ODE). */
function eulerStep(x: Tensor, denoised: Tensor, sigma: number, dt: number): void {
  // as (1 + k) x - k denoised: one multiply fewer per element than x + (x - denoised) k
  const xd = x.data, dd = denoised.data, n = xd.length, k = dt / sigma, a = 1 + k;
  for (let i = 0; i < n; i++) xd[i] = a * xd[i]! - k * dd[i]!;
}

/** d <- (x - denoised) / sigma */
function derivative(d: Tensor, x: Tensor, denoised: Tensor, sigma: number): void {
  const o = d.data, xd = x.data, dd = denoised.data, n = o.length, inv = 1 / sigma;
  for (let i = 0; i < n; i++) o[i] = (xd[i]! - dd[i]!) * inv;
}

async function euler(run: Run<S.ChurnParams>, x: Tensor, sigmas: Float64Array): Promise<Tensor> {
  for (let i = 0; i < sigmas.length - 1; i++) {
    const sigmaHat = churn(run, x, sigmas, i);
    const denoised = await run.denoiseStep(i, x, sigmas[i]!, sigmaHat);
    eulerStep(x, denoised, sigmaHat, sigmas[i + 1]! - sigmaHat);
  }
  return x;
}

export const sampleEuler = defineSampler(S.euler, euler);
/** ComfyUI's "ddim" runs the Euler sampler. */
export const sampleDdim = defineSampler(S.ddim, euler);

export const sampleEulerAncestral = defineSampler(S.eulerAncestral, async (run, x, sigmas) => {
  const eta = run.num('eta'), sNoise = run.num('s_noise');
  if (isFlow(modelSamplingOf(run))) return eulerAncestralRF(run, sigmas, x, eta, sNoise);
  return run.eachStep(x, sigmas, ({ sigma, sigmaNext, denoised }) => {
    const [down, up] = ancestralStep(sigma, sigmaNext, eta);
    if (sigmaNext === 0) {
      copyInto(x, denoised);
    } else {
      eulerStep(x, denoised, sigma, down - sigma);
      addNoise(x, sNoise * up, run.draw(x, sigma, sigmaNext));
    }
  });
});

/** Rectified-flow euler_ancestral (ComfyUI's sample_euler_ancestral_RF): flow step to sigma_down, then renoise. */
async function eulerAncestralRF(run: Run, sigmas: Float64Array, x: Tensor, eta: number, sNoise: number): Promise<Tensor> {
  return run.eachStep(x, sigmas, ({ sigma, sigmaNext, denoised }) => {
    if (landOnPrediction(x, denoised, sigmaNext)) return;
    const st = rfAncestralStep(sigma, sigmaNext, eta);
    flowStep(x, denoised, sigma, st.down);
    if (eta > 0) rescaleAddNoise(x, st.rescale, sNoise * st.renoise, run.draw(x, sigma, sigmaNext));
  });
}

/** euler_cfg_pp is euler_ancestral_cfg_pp without noise (eta = 0, s_noise = 0), as in ComfyUI. */
export const sampleEulerCfgPp = defineSampler(S.eulerCfgPp, (run, x, sigmas) => eulerAncestralCfgPp(run, x, sigmas, 0, 0));
export const sampleEulerAncestralCfgPp = defineSampler(S.eulerAncestralCfgPp, (run, x, sigmas) =>
  eulerAncestralCfgPp(run, x, sigmas, run.num('eta'), run.num('s_noise')),
);

/**
 * CFG++ ancestral Euler (DDIM-style): x_next = alpha_t D + sigma_down (x - alpha_s U) / sigma, plus alpha_t sigma_up
 * noise, with the ancestral step taken on sigma / alpha. alpha = 1 in the VE convention, 1 - sigma on flow
 * samplings (where alpha = 0 at sigma = 1 makes the step a pure jump to alpha_t D plus noise).
 */
async function eulerAncestralCfgPp(run: Run, x: Tensor, sigmas: Float64Array, eta: number, sNoise: number): Promise<Tensor> {
  const hl = halfLogSnr(modelSamplingOf(run));
  return run.eachStep(x, sigmas, ({ sigma, sigmaNext, denoised }) => {
    const uncond = run.uncond();
    if (landOnPrediction(x, denoised, sigmaNext)) return;
    const alphaS = hl.alpha(sigma, hl.lambda(sigma)), alphaT = hl.alpha(sigmaNext, hl.lambda(sigmaNext));
    const [down, up] = ancestralStepPy(sigma / alphaS, sigmaNext / alphaT, eta);
    // renoise the guided x0 with the unconditional noise estimate
    const xd = x.data, dd = denoised.data, ud = uncond.data, k = (alphaT * down) / sigma;
    for (let j = 0; j < xd.length; j++) xd[j] = alphaT * dd[j]! + (xd[j]! - alphaS * ud[j]!) * k;
    if (eta > 0 && sNoise > 0) addNoise(x, alphaT * sNoise * up, run.draw(x, sigma, sigmaNext));
  });
}

export const sampleHeun = defineSampler(S.heun, async (run, x, sigmas) => {
  const d = zerosLike(x), x2 = zerosLike(x);
  for (let i = 0; i < sigmas.length - 1; i++) {
    const sigmaHat = churn(run, x, sigmas, i), sigmaNext = sigmas[i + 1]!;
    const denoised = await run.denoiseStep(i, x, sigmas[i]!, sigmaHat);
    const dt = sigmaNext - sigmaHat;
    if (sigmaNext === 0) {
      eulerStep(x, denoised, sigmaHat, dt);
      continue;
    }
    const xd = x.data, dd = denoised.data, dv = d.data, x2d = x2.data, n = xd.length, inv = 1 / sigmaHat;
    for (let j = 0; j < n; j++) {
      const g = (xd[j]! - dd[j]!) * inv;
      dv[j] = g;
      x2d[j] = xd[j]! + g * dt;
    }
    const denoised2 = await run.denoise(x2, sigmaNext);
    const d2 = denoised2.data, inv2 = 1 / sigmaNext;
    for (let j = 0; j < n; j++) xd[j] = xd[j]! + (dv[j]! + (x2d[j]! - d2[j]!) * inv2) * 0.5 * dt;
  }
  return x;
});

/** Heun++ (ComfyUI's heunpp2): a three-point weighted Heun step, weights proportional to sigma / (3 sigma_0). */
export const sampleHeunpp2 = defineSampler(S.heunpp2, async (run, x, sigmas) => {
  const d = zerosLike(x), d2 = zerosLike(x), x2 = zerosLike(x), x3 = zerosLike(x);
  const sEnd = sigmas[sigmas.length - 1]!;
  const n = x.data.length;
  for (let i = 0; i < sigmas.length - 1; i++) {
    // heunpp2 always draws its churn noise, and uses it only when gamma > 0
    const sigmaHat = churn(run, x, sigmas, i, run.randnLike(x)), sigmaNext = sigmas[i + 1]!;
    const denoised = await run.denoiseStep(i, x, sigmas[i]!, sigmaHat);
    const dt = sigmaNext - sigmaHat;
    if (sigmaNext === sEnd) {
      eulerStep(x, denoised, sigmaHat, dt);
      continue;
    }
    derivative(d, x, denoised, sigmaHat);
    const xd = x.data, dv = d.data, x2d = x2.data;
    for (let j = 0; j < n; j++) x2d[j] = xd[j]! + dv[j]! * dt;
    const den2 = await run.denoise(x2, sigmaNext);
    derivative(d2, x2, den2, sigmaNext);
    const d2v = d2.data;
    if (sigmas[i + 2] === sEnd) {
      const w2 = sigmaNext / (2 * sigmas[0]!), w1 = 1 - w2;
      for (let j = 0; j < n; j++) xd[j] = xd[j]! + (w1 * dv[j]! + w2 * d2v[j]!) * dt;
      continue;
    }
    const sigma3 = sigmas[i + 2]!, dt2 = sigma3 - sigmaNext;
    const x3d = x3.data;
    for (let j = 0; j < n; j++) x3d[j] = x2d[j]! + d2v[j]! * dt2;
    const den3 = await run.denoise(x3, sigma3);
    const w = 3 * sigmas[0]!, w2 = sigmaNext / w, w3 = sigma3 / w, w1 = 1 - w2 - w3;
    const d3 = den3.data, inv3 = 1 / sigma3;
    for (let j = 0; j < n; j++) xd[j] = xd[j]! + (w1 * dv[j]! + w2 * d2v[j]! + w3 * (x3d[j]! - d3[j]!) * inv3) * dt;
  }
  return x;
});

/** DPM-Solver-2 style midpoint step (k-diffusion sample_dpm_2); the midpoint is the geometric mean of sigmas. */
export const sampleDpm2 = defineSampler(S.dpm2, async (run, x, sigmas) => {
  const x2 = zerosLike(x);
  for (let i = 0; i < sigmas.length - 1; i++) {
    const sigmaHat = churn(run, x, sigmas, i), sigmaNext = sigmas[i + 1]!;
    const denoised = await run.denoiseStep(i, x, sigmas[i]!, sigmaHat);
    if (sigmaNext === 0) {
      eulerStep(x, denoised, sigmaHat, sigmaNext - sigmaHat);
      continue;
    }
    await midpointStep(run, x, x2, denoised, sigmaHat, sigmaNext);
  }
  return x;
});

/** x <- x + d(x2, mid) * (to - from), x2 = x + d(x, from) * (mid - from), mid = sqrt(from * to). */
async function midpointStep(run: Run, x: Tensor, x2: Tensor, denoised: Tensor, from: number, to: number): Promise<void> {
  const mid = Math.exp(Math.log(from) + 0.5 * (Math.log(to) - Math.log(from)));
  const xd = x.data, dd = denoised.data, x2d = x2.data, n = xd.length;
  const k1 = (mid - from) / from;
  for (let j = 0; j < n; j++) x2d[j] = xd[j]! + (xd[j]! - dd[j]!) * k1;
  const den2 = await run.denoise(x2, mid);
  const d2 = den2.data, k2 = (to - from) / mid;
  for (let j = 0; j < n; j++) xd[j] = xd[j]! + (x2d[j]! - d2[j]!) * k2;
}

export const sampleDpm2Ancestral = defineSampler(S.dpm2Ancestral, async (run, x, sigmas) => {
  const eta = run.num('eta'), sNoise = run.num('s_noise');
  const x2 = zerosLike(x);
  const flow = isFlow(modelSamplingOf(run));
  for (let i = 0; i < sigmas.length - 1; i++) {
    run.step = i;
    const sigma = sigmas[i]!, sigmaNext = sigmas[i + 1]!;
    const denoised = await run.denoise(x, sigma);
    // on flow samplings ComfyUI's sample_dpm_2_ancestral_RF: the same midpoint step to the RF sigma_down,
    // then the signal rescaled by alpha_next / alpha_down and renoised
    const rf = flow ? rfAncestralStep(sigma, sigmaNext, eta) : null;
    const [down, up] = rf ? [rf.down, rf.renoise] : ancestralStep(sigma, sigmaNext, eta);
    run.callback(i, sigma, sigma, x, denoised);
    if (down === 0) {
      eulerStep(x, denoised, sigma, down - sigma);
      continue;
    }
    await midpointStep(run, x, x2, denoised, sigma, down);
    if (rf) rescaleAddNoise(x, rf.rescale, sNoise * up, run.draw(x, sigma, sigmaNext));
    else addNoise(x, sNoise * up, run.draw(x, sigma, sigmaNext));
  }
  return x;
});

/** DDPM ancestral step (Ho et al. 2020) done in the VP space x / sqrt(1 + sigma^2). */
export const sampleDdpm = defineSampler(S.ddpm, async (run, x, sigmas) => {
  const n = x.data.length;
  return run.eachStep(x, sigmas, ({ sigma, sigmaNext, denoised }) => {
    const acBar = 1 / (sigma * sigma + 1), acBarPrev = 1 / (sigmaNext * sigmaNext + 1);
    const alpha = acBar / acBarPrev;
    const vpScale = 1 / Math.sqrt(1 + sigma * sigma);
    const a = Math.sqrt(1 / alpha), b = (1 - alpha) / Math.sqrt(1 - acBar);
    const out = sigmaNext !== 0 ? Math.sqrt(1 + sigmaNext * sigmaNext) : 1;
    const xd = x.data, dd = denoised.data;
    for (let j = 0; j < n; j++) {
      const eps = (xd[j]! - dd[j]!) / sigma;
      xd[j] = a * (xd[j]! * vpScale - b * eps);
    }
    if (sigmaNext > 0) {
      addNoise(x, Math.sqrt(((1 - alpha) * (1 - acBarPrev)) / (1 - acBar)), run.draw(x, sigma, sigmaNext));
    }
    if (out !== 1) for (let j = 0; j < n; j++) xd[j] = xd[j]! * out;
  });
});

/**
 * LCM (Luo et al. 2023): jump to the prediction, then renoise to the next level. `s_noise_end` (when set)
 * ramps the noise scale linearly from s_noise at the first step to s_noise_end at the last; `noise_clip_std`
 * (> 0) clips the noise to that many standard deviations.
 */
export const sampleLcm = defineSampler(S.lcm, async (run, x, sigmas) => {
  const sNoise = run.num('s_noise');
  const sNoiseEnd = run.num('s_noise_end', sNoise); // null default: no ramp
  const clip = run.num('noise_clip_std');
  const steps = sigmas.length - 1;
  const ms = modelSamplingOf(run);
  for (let i = 0; i < steps; i++) {
    const sigma = sigmas[i]!, sigmaNext = sigmas[i + 1]!;
    const denoised = await run.denoiseStep(i, x, sigma);
    if (sigmaNext > 0) {
      const noise = run.draw(x, sigma, sigmaNext);
      if (clip > 0) clipToStd(noise, clip);
      const s = steps > 1 ? sNoise + ((sNoiseEnd - sNoise) * i) / (steps - 1) : sNoise;
      if (ms) {
        // ComfyUI renoises with the model sampling's noise_scaling: sigma n + (1 - sigma) x0 on flow samplings
        copyInto(x, ms.noiseScaling(sigmaNext, s === 1 ? noise : scale(zerosLike(noise), s, noise), denoised, false));
      } else {
        copyInto(x, denoised);
        addNoise(x, sigmaNext * s, noise);
      }
    } else {
      copyInto(x, denoised);
    }
  }
  return x;
});

function clipToStd(t: Tensor, k: number): void {
  const d = t.data, n = d.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += d[i]!;
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (d[i]! - mean) ** 2;
  const lim = k * Math.sqrt(v / Math.max(1, n - 1));
  for (let i = 0; i < n; i++) d[i] = Math.max(-lim, Math.min(lim, d[i]!));
}
