/**
 * Closed-form schedules from k-diffusion (Karras et al. 2022 and relatives), as float32 tensor arithmetic
 * the way ComfyUI evaluates them. Each returns a descending list; all but Laplace end with an appended 0.
 */
import { validateSteps } from '../core/validate.js';
import { expf32, f32, tanf32, torchLinspaceF32, torchPowScalarF32 } from '../model-sampling/float32.js';

function checkRange(sigmaMin: number, sigmaMax: number): void {
  if (!(Number.isFinite(sigmaMin) && Number.isFinite(sigmaMax) && sigmaMin > 0 && sigmaMax > sigmaMin)) {
    throw new RangeError(`need 0 < sigma_min < sigma_max, got sigma_min=${sigmaMin}, sigma_max=${sigmaMax}`);
  }
}

/**
 * Arithmetic of a closed-form schedule. `float32` (the default) is ComfyUI's tensor arithmetic, exact to its
 * outputs; `float64` is the same formula in double precision with both ends exactly sigma_max and sigma_min,
 * which is what the optimizer searches over (its fine grids and DP paths must contain the exact ends).
 */
export interface ClosedFormOptions {
  precision?: 'float32' | 'float64';
}

/**
 * n values of a schedule, descending, in float64 with exact ends: `at(i, m)` is the value at position i of m
 * intervals counted from the sigma_min end (the order the optimizer's ascending grids have always used).
 */
function float64Ramp(n: number, at: (i: number, m: number) => number, sigmaMin: number, sigmaMax: number): number[] {
  const out = Array.from({ length: n }, (_, k) => (n === 1 ? sigmaMax : at(n - 1 - k, n - 1)));
  out[0] = sigmaMax;
  if (n > 1) out[n - 1] = sigmaMin;
  return out;
}

/**
 * Karras et al. (2022) eq. 5: sigma_i^(1/rho) linear in i.
 *
 * @example
 * karrasSigmas(4, 0.0292, 14.6146); // [14.6146, 4.0842, 0.7678, 0.0292, 0] (float32 values)
 */
export function karrasSigmas(n: number, sigmaMin: number, sigmaMax: number, rho = 7, options: ClosedFormOptions = {}): number[] {
  validateSteps(n);
  checkRange(sigmaMin, sigmaMax);
  if (!(rho > 0)) throw new RangeError(`rho must be positive, got ${rho}`);
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  if (options.precision === 'float64') {
    return [...float64Ramp(n, (i, m) => Math.pow(minInv + (i / m) * (maxInv - minInv), rho), sigmaMin, sigmaMax), 0];
  }
  const span = f32(minInv - maxInv);
  const base = f32(maxInv);
  const out = torchPowScalarF32(torchLinspaceF32(0, 1, n).map((r) => f32(base + f32(r * span))), rho);
  out.push(0);
  return out;
}

/** Log-sigma uniform between sigma_max and sigma_min. */
export function exponentialSigmas(n: number, sigmaMin: number, sigmaMax: number, options: ClosedFormOptions = {}): number[] {
  validateSteps(n);
  checkRange(sigmaMin, sigmaMax);
  if (options.precision === 'float64') {
    const a = Math.log(sigmaMin);
    const b = Math.log(sigmaMax);
    return [...float64Ramp(n, (i, m) => Math.exp(a + ((b - a) * i) / m), sigmaMin, sigmaMax), 0];
  }
  const out = torchLinspaceF32(Math.log(sigmaMax), Math.log(sigmaMin), n).map((l) => expf32(l));
  out.push(0);
  return out;
}

/** Polynomial in log sigma: log sigma = ramp^rho * (log max - log min) + log min, ramp from 1 to 0. */
export function polyexponentialSigmas(n: number, sigmaMin: number, sigmaMax: number, rho = 1): number[] {
  validateSteps(n);
  checkRange(sigmaMin, sigmaMax);
  if (!(rho > 0)) throw new RangeError(`rho must be positive, got ${rho}`);
  const logMin = Math.log(sigmaMin);
  const span = f32(Math.log(sigmaMax) - logMin);
  const ramps = torchPowScalarF32(torchLinspaceF32(1, 0, n), rho);
  const out = ramps.map((ramp) => expf32(f32(f32(ramp * span) + f32(logMin))));
  out.push(0);
  return out;
}

/** Continuous VP-SDE (Song et al. 2021): sigma(t) = sqrt(exp(beta_d t^2/2 + beta_min t) - 1), t from 1 to eps_s. */
export function vpSigmas(n: number, betaD = 19.9, betaMin = 0.1, epsS = 1e-3): number[] {
  validateSteps(n);
  if (!(betaD > 0 && betaMin >= 0 && epsS > 0 && epsS < 1)) {
    throw new RangeError(`VP schedule needs beta_d > 0, beta_min >= 0, 0 < eps_s < 1; got ${betaD}, ${betaMin}, ${epsS}`);
  }
  const bd = f32(betaD);
  const bm = f32(betaMin);
  const out = torchLinspaceF32(1, epsS, n).map((t) => {
    const t2 = f32(t * t);
    const inner = f32(f32(f32(bd * t2) / 2) + f32(bm * t));
    // exp(x) - 1 in one step (expm1): the conformance data keeps the precision a separate '- 1' would lose
    return f32(Math.sqrt(f32(Math.expm1(inner))));
  });
  out.push(0);
  return out;
}

/**
 * Laplace schedule (Tiankai et al. 2024): log sigma follows a Laplace(mu, beta) quantile over a uniform grid,
 * clamped to [sigma_min, sigma_max]. No final 0 is appended (like ComfyUI's node).
 */
export function laplaceSigmas(n: number, sigmaMin: number, sigmaMax: number, mu = 0, beta = 0.5): number[] {
  validateSteps(n);
  checkRange(sigmaMin, sigmaMax);
  if (!(beta > 0)) throw new RangeError(`beta must be positive, got ${beta}`);
  const eps = 1e-5; // keeps log away from 0 at the grid's centre
  return torchLinspaceF32(0, 1, n).map((x) => {
    const c = f32(0.5 - x);
    const sign = c > 0 ? 1 : c < 0 ? -1 : 0;
    const inner = f32(f32(1 - f32(2 * Math.abs(c))) + f32(eps));
    const lmb = f32(f32(mu) - f32(f32(f32(beta) * sign) * f32(Math.log(inner))));
    const s = expf32(lmb);
    return Math.min(Math.max(s, f32(sigmaMin)), f32(sigmaMax));
  });
}

/** KL-optimal schedule (AYS Theorem 3.1 with c = 1): atan(sigma) linear in i; final 0 appended. */
export function klOptimalSigmas(n: number, sigmaMin: number, sigmaMax: number): number[] {
  validateSteps(n);
  checkRange(sigmaMin, sigmaMax);
  const aMin = f32(Math.atan(sigmaMin));
  const aMax = f32(Math.atan(sigmaMax));
  const out: number[] = [];
  // ComfyUI divides by n-1, which is 0/0 = NaN at n = 1. ays returns [sigma_max, 0] there: the single
  // step the formula's i = 0 end describes, and what every other scheduler gives at 1 step.
  if (n === 1) return [f32(sigmaMax), 0];
  for (let i = 0; i < n; i++) {
    const w = f32(f32(i) / f32(n - 1));
    out.push(tanf32(f32(f32(w * aMin) + f32(f32(1 - w) * aMax))));
  }
  out.push(0);
  return out;
}
