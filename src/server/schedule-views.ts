/**
 * Views of a sigma schedule for people: log-SNR per step and the three export formats (a JSON list,
 * a comma list for ComfyUI's manual-sigmas node, a `timesteps=` list for diffusers).
 */
import type { ModelSampling } from '../model-sampling/types.js';

/**
 * log-SNR of a noise level. In the k-diffusion (VE) convention x = x0 + sigma n, so SNR = 1/sigma^2.
 * Rectified flow has x = (1 - s) x0 + s n, so SNR = ((1 - s) / s)^2. sigma = 0 is noise-free: +Infinity,
 * sent as null in JSON.
 */
export function logSnr(model: ModelSampling, sigma: number): number | null {
  if (sigma <= 0) return null;
  if (model.kind === 'flow') {
    if (sigma >= 1) return null; // pure noise: -Infinity
    return 2 * Math.log((1 - sigma) / sigma);
  }
  return 0 - 2 * Math.log(sigma); // (0 - x, not -x: no -0 at sigma 1)
}

export interface ScheduleExports {
  /** JSON list of every sigma, final 0 included. */
  json: string;
  /** Comma-separated sigmas, the format of ComfyUI's manual sigmas text input. */
  comfyui: string;
  /** A diffusers keyword argument: `timesteps=[...]` (discrete and flow models) or `sigmas=[...]` (EDM models). */
  diffusers: string;
}

function trim(x: number): string {
  // Keep float32-exact values readable: 8 significant digits is enough to round-trip a float32.
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(8)));
}

/**
 * Model time for diffusers. Discrete models take integer timesteps (0..999); diffusers' flow-matching
 * schedulers take sigma * 1000; EDM models (SVD) have no integer timesteps, so they get `sigmas=`.
 * The final 0 (the clean image) is not a timestep and is left out, as diffusers appends it itself.
 */
export function diffusersExport(model: ModelSampling, sigmas: readonly number[]): string {
  const positive = sigmas.filter((s) => s > 0);
  if (model.kind === 'discrete') return `timesteps=[${positive.map((s) => model.timestep(s)).join(', ')}]`;
  if (model.kind === 'flow') return `timesteps=[${positive.map((s) => trim(s * 1000)).join(', ')}]`;
  return `sigmas=[${sigmas.map(trim).join(', ')}]`;
}

export function scheduleExports(model: ModelSampling, sigmas: readonly number[]): ScheduleExports {
  return {
    json: JSON.stringify(sigmas),
    comfyui: sigmas.map(trim).join(', '),
    diffusers: diffusersExport(model, sigmas),
  };
}

/**
 * Resample a schedule to another step count by linear interpolation of log-sigma over the step index,
 * the rule AYS uses to stretch its 10-step tables. A final 0 is kept as the final 0.
 */
export function loglinearResample(sigmas: readonly number[], steps: number): number[] {
  const endsAtZero = sigmas[sigmas.length - 1] === 0;
  const body = endsAtZero ? sigmas.slice(0, -1) : sigmas.slice();
  const want = endsAtZero ? steps : steps + 1;
  if (body.length === want) return sigmas.slice();
  if (body.some((s) => !(s > 0))) throw new RangeError('a schedule to resample must be positive before its final 0');
  const logs = body.map(Math.log);
  const out: number[] = [];
  for (let i = 0; i < want; i++) {
    const x = want === 1 ? 0 : (i * (logs.length - 1)) / (want - 1);
    const lo = Math.floor(x);
    const hi = Math.min(lo + 1, logs.length - 1);
    const w = x - lo;
    // Knots are copied, not round-tripped through exp(log(x)), so the ends stay exact.
    out.push(w === 0 ? body[lo]! : Math.exp((1 - w) * logs[lo]! + w * logs[hi]!));
  }
  if (endsAtZero) out.push(0);
  return out;
}
