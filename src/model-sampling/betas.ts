/**
 * Beta schedules of discrete (DDPM-style) models and the sigma table they imply, in float64.
 *
 * Names follow diffusers' `beta_schedule` (what a scheduler_config.json says):
 * - `scaled_linear`: betas = linspace(sqrt(start), sqrt(end), T)^2. SD1.x/SDXL. ComfyUI calls this "linear".
 * - `linear`: betas = linspace(start, end, T). Original DDPM. ComfyUI calls this "sqrt_linear".
 * - `squaredcos_cap_v2`: the cosine schedule of Nichol & Dhariwal (s = 0.008), betas capped at 0.999. DeepFloyd-IF.
 */
import { torchLinspaceF64 } from './float32.js';

export type BetaSchedule = 'scaled_linear' | 'linear' | 'squaredcos_cap_v2';
export const betaScheduleNames: readonly BetaSchedule[] = ['scaled_linear', 'linear', 'squaredcos_cap_v2'];

export function makeBetas(schedule: BetaSchedule, timesteps: number, linearStart: number, linearEnd: number): Float64Array {
  if (!Number.isInteger(timesteps) || timesteps < 2) throw new RangeError(`timesteps must be an integer >= 2, got ${timesteps}`);
  switch (schedule) {
    case 'scaled_linear': {
      const roots = torchLinspaceF64(Math.sqrt(linearStart), Math.sqrt(linearEnd), timesteps);
      return Float64Array.from(roots, (r) => r * r);
    }
    case 'linear':
      return Float64Array.from(torchLinspaceF64(linearStart, linearEnd, timesteps));
    case 'squaredcos_cap_v2': {
      const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      const betas = new Float64Array(timesteps);
      for (let i = 0; i < timesteps; i++) {
        betas[i] = Math.min(1 - alphaBar((i + 1) / timesteps) / alphaBar(i / timesteps), 0.999);
      }
      return betas;
    }
    default:
      throw new RangeError(`unknown beta schedule "${String(schedule)}"; valid: ${betaScheduleNames.join(', ')}`);
  }
}

/** Cumulative product of (1 - beta), accumulated left to right as torch.cumprod does. */
export function alphasCumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= 1 - betas[i]!;
    out[i] = acc;
  }
  return out;
}

/** sigma_t = sqrt((1 - abar_t) / abar_t), the VE noise level equivalent to VP timestep t. */
export function sigmasFromAlphasCumprod(abar: Float64Array): Float64Array {
  return Float64Array.from(abar, (a) => Math.sqrt((1 - a) / a));
}

/**
 * Zero-terminal-SNR rescale (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are Flawed",
 * Algorithm 1), applied to a sigma table: shift sqrt(abar) so the last one is 0, rescale so the first is
 * unchanged. A terminal abar of exactly 0 would make sigma infinite, so like ComfyUI we put the last abar at
 * 4.8973451890853435e-08 (sigma_max ~ 4518.9), which keeps the table finite and log-interpolable.
 */
export function rescaleZeroTerminalSnrSigmas(sigmas: Float64Array): Float64Array {
  const sqrtAbar = Float64Array.from(sigmas, (s) => Math.sqrt(1 / (s * s + 1)));
  const first = sqrtAbar[0]!;
  const last = sqrtAbar[sqrtAbar.length - 1]!;
  const scale = first / (first - last);
  const abar = Float64Array.from(sqrtAbar, (v) => ((v - last) * scale) ** 2);
  abar[abar.length - 1] = 4.8973451890853435e-8;
  return Float64Array.from(abar, (a) => Math.sqrt((1 - a) / a));
}
