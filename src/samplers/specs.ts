/**
 * One spec per sampler, in ComfyUI's order: the name (written here once), the typed hyperparameters with
 * ComfyUI's defaults (the sampler bodies read these through `run.num(...)`; `ays samplers --json` prints them),
 * the noise it draws, whether ComfyUI's KSampler drops the penultimate sigma for it, its order and cost.
 * A body file makes the sampler with `defineSampler(spec, body)` (common.ts); registry.ts pairs every spec with it.
 */
import type { NoiseKind, SamplerParamValue } from './types.js';

/** What a sampler is, without its function (the body file supplies that). */
export interface SamplerSpecInfo<P extends object = Record<string, SamplerParamValue>, N extends string = string> {
  /** ComfyUI's name. */
  readonly name: N;
  /** Order of accuracy of the deterministic part. */
  readonly order: number;
  /** Whether the result depends on the noise drawn (ancestral / SDE samplers) with the default parameters. */
  readonly stochastic: boolean;
  /**
   * The noise it draws with its default parameters: none, fresh normal draws (ComfyUI's default is a CPU
   * generator seeded seed + 1; heunpp2 draws randn_like every step even though it only uses it with churn),
   * or increments of a Brownian tree (the DPM++ SDE family: torchsde's BrownianTree in ComfyUI).
   */
  readonly noise: NoiseKind;
  /** Denoiser calls per step, as text (e.g. "1", "2 (1 on the last step)", "adaptive"). */
  readonly nfePerStep: string;
  /** ComfyUI's default hyperparameters. `null` means "computed at run time" (the doc of the params says how). */
  readonly defaults: Readonly<P>;
  /** Needs a guided denoiser (cfg / guidedModelDenoiser) because it reads the unconditional prediction. */
  readonly needsUncond: boolean;
  /** ComfyUI's KSampler computes steps+1 sigmas and drops the penultimate one for this sampler. */
  readonly discardsPenultimateSigma: boolean;
}

type SpecInput<P extends object, N extends string> = Omit<SamplerSpecInfo<P, N>, 'needsUncond' | 'discardsPenultimateSigma'> & {
  needsUncond?: boolean;
  discardsPenultimateSigma?: boolean;
};

const specs: SamplerSpecInfo<object>[] = [];

/** `spec<Params>()({ name: 'x', ... })`: the params type given, the name kept as its literal type. */
function spec<P extends object>() {
  return <N extends string>(s: SpecInput<P, N>): SamplerSpecInfo<P, N> => {
    const full: SamplerSpecInfo<P, N> = Object.freeze({
      ...s,
      defaults: Object.freeze({ ...s.defaults }),
      needsUncond: s.needsUncond ?? false,
      discardsPenultimateSigma: s.discardsPenultimateSigma ?? false,
    });
    specs.push(full);
    return full;
  };
}

// ---- parameter interfaces (k-diffusion / ComfyUI argument names) ----

/** Karras "churn" (Algorithm 2): raise sigma by gamma = min(s_churn / steps, sqrt 2 - 1) within [s_tmin, s_tmax]. */
export interface ChurnParams { s_churn: number; s_tmin: number; s_tmax: number; s_noise: number }
/** Ancestral / SDE noise amount: eta scales the noise level added back, s_noise the noise itself. */
export interface AncestralParams { eta: number; s_noise: number }
/** No hyperparameters. */
export type NoParams = Record<never, never>;
export interface ExpHeunParams { solver_type: 'phi_1' | 'phi_2' }
export interface ExpHeunSdeParams extends AncestralParams { solver_type: 'phi_1' | 'phi_2' }
export interface LmsParams { order: number }
export interface DpmAdaptiveParams extends AncestralParams {
  order: number; rtol: number; atol: number; h_init: number; pcoeff: number; icoeff: number; dcoeff: number; accept_safety: number;
}
export interface DpmppSdeParams extends AncestralParams { r: number }
export interface Dpmpp2mSdeParams extends AncestralParams { solver_type: 'midpoint' | 'heun' }
/** s_noise_end null = s_noise (no ramp); noise_clip_std > 0 clips the noise to that many standard deviations. */
export interface LcmParams { s_noise: number; s_noise_end: number | null; noise_clip_std: number }
export interface IpndmParams { max_order: number }
export interface DeisParams { max_order: number; deis_mode: 'tab' }
export interface ResMultistepParams { s_noise: number }
export interface GradientEstimationParams { ge_gamma: number; cfg_pp: boolean }
export interface GradientEstimationCfgPpParams { ge_gamma: number }
/** noise_scaler null = ER-SDE's default lambda -> lambda * (exp(lambda^0.3) + 10). */
export interface ErSdeParams { s_noise: number; noise_scaler: ((lambda: number) => number) | null; max_stage: number }
export interface Seeds2Params extends AncestralParams { r: number; solver_type: 'phi_1' | 'phi_2' }
export interface Seeds3Params extends AncestralParams { r_1: number; r_2: number }
/**
 * tau_func null = eta inside [end_sigma, start_sigma], else 0; start_sigma / end_sigma null = the model
 * sampling's percentToSigma(0.2) / (0.8) (options.modelSampling), or SD1.5's values without one.
 */
export interface SaSolverParams {
  tau_func: ((sigma: number) => number) | null; eta: number; start_sigma: number | null; end_sigma: number | null;
  s_noise: number; predictor_order: number; corrector_order: number; use_pece: boolean; simple_order_2: boolean;
}
export type SaSolverPeceParams = Omit<SaSolverParams, 'use_pece'>;
export interface UniPcParams { variant: 'bh1' | 'bh2' }

const churn: ChurnParams = { s_churn: 0, s_tmin: 0, s_tmax: Infinity, s_noise: 1 };
const ancestral: AncestralParams = { eta: 1, s_noise: 1 };
const none: NoParams = {};
const saSolver: SaSolverPeceParams = {
  tau_func: null, eta: 1, start_sigma: null, end_sigma: null, s_noise: 1, predictor_order: 3, corrector_order: 4, simple_order_2: false,
};

// ---- the samplers, in ComfyUI's order ----

const TWO = '2 (1 on the last step)';

export const euler = spec<ChurnParams>()({ name: 'euler', order: 1, stochastic: false, noise: 'none', nfePerStep: '1', defaults: churn });
export const eulerCfgPp = spec<NoParams>()({ name: 'euler_cfg_pp', order: 1, stochastic: false, noise: 'none', nfePerStep: '1', defaults: none, needsUncond: true });
export const eulerAncestral = spec<AncestralParams>()({ name: 'euler_ancestral', order: 1, stochastic: true, noise: 'normal', nfePerStep: '1', defaults: ancestral });
export const eulerAncestralCfgPp = spec<AncestralParams>()({ name: 'euler_ancestral_cfg_pp', order: 1, stochastic: true, noise: 'normal', nfePerStep: '1', defaults: ancestral, needsUncond: true });
export const heun = spec<ChurnParams>()({ name: 'heun', order: 2, stochastic: false, noise: 'none', nfePerStep: TWO, defaults: churn });
export const heunpp2 = spec<ChurnParams>()({ name: 'heunpp2', order: 2, stochastic: false, noise: 'normal', nfePerStep: '3 (2, then 1 on the last two steps)', defaults: churn });
export const expHeun2X0 = spec<ExpHeunParams>()({ name: 'exp_heun_2_x0', order: 2, stochastic: false, noise: 'none', nfePerStep: TWO, defaults: { solver_type: 'phi_2' } });
export const expHeun2X0Sde = spec<ExpHeunSdeParams>()({ name: 'exp_heun_2_x0_sde', order: 2, stochastic: true, noise: 'normal', nfePerStep: TWO, defaults: { ...ancestral, solver_type: 'phi_2' } });
export const dpm2 = spec<ChurnParams>()({ name: 'dpm_2', order: 2, stochastic: false, noise: 'none', nfePerStep: TWO, defaults: churn, discardsPenultimateSigma: true });
export const dpm2Ancestral = spec<AncestralParams>()({ name: 'dpm_2_ancestral', order: 2, stochastic: true, noise: 'normal', nfePerStep: TWO, defaults: ancestral, discardsPenultimateSigma: true });
export const lms = spec<LmsParams>()({ name: 'lms', order: 4, stochastic: false, noise: 'none', nfePerStep: '1', defaults: { order: 4 } });
export const dpmFast = spec<AncestralParams>()({ name: 'dpm_fast', order: 3, stochastic: false, noise: 'none', nfePerStep: '1 per sigma (total = len(sigmas) - 1, in order-3 groups)', defaults: { eta: 0, s_noise: 1 } });
export const dpmAdaptive = spec<DpmAdaptiveParams>()({
  name: 'dpm_adaptive', order: 3, stochastic: false, noise: 'none', nfePerStep: 'adaptive (3 per attempt)',
  defaults: { order: 3, rtol: 0.05, atol: 0.0078, h_init: 0.05, pcoeff: 0, icoeff: 1, dcoeff: 0, accept_safety: 0.81, eta: 0, s_noise: 1 },
});
export const dpmpp2sAncestral = spec<AncestralParams>()({ name: 'dpmpp_2s_ancestral', order: 2, stochastic: true, noise: 'normal', nfePerStep: TWO, defaults: ancestral });
export const dpmpp2sAncestralCfgPp = spec<AncestralParams>()({ name: 'dpmpp_2s_ancestral_cfg_pp', order: 2, stochastic: true, noise: 'normal', nfePerStep: TWO, defaults: ancestral, needsUncond: true });
export const dpmppSde = spec<DpmppSdeParams>()({ name: 'dpmpp_sde', order: 2, stochastic: true, noise: 'brownian', nfePerStep: TWO, defaults: { ...ancestral, r: 0.5 } });
export const dpmppSdeGpu = spec<DpmppSdeParams>()({ name: 'dpmpp_sde_gpu', order: 2, stochastic: true, noise: 'brownian', nfePerStep: TWO, defaults: { ...ancestral, r: 0.5 } });
export const dpmpp2m = spec<NoParams>()({ name: 'dpmpp_2m', order: 2, stochastic: false, noise: 'none', nfePerStep: '1', defaults: none });
export const dpmpp2mCfgPp = spec<NoParams>()({ name: 'dpmpp_2m_cfg_pp', order: 2, stochastic: false, noise: 'none', nfePerStep: '1', defaults: none, needsUncond: true });
export const dpmpp2mSde = spec<Dpmpp2mSdeParams>()({ name: 'dpmpp_2m_sde', order: 2, stochastic: true, noise: 'brownian', nfePerStep: '1', defaults: { ...ancestral, solver_type: 'midpoint' } });
export const dpmpp2mSdeGpu = spec<Dpmpp2mSdeParams>()({ name: 'dpmpp_2m_sde_gpu', order: 2, stochastic: true, noise: 'brownian', nfePerStep: '1', defaults: { ...ancestral, solver_type: 'midpoint' } });
export const dpmpp2mSdeHeun = spec<Dpmpp2mSdeParams>()({ name: 'dpmpp_2m_sde_heun', order: 2, stochastic: true, noise: 'brownian', nfePerStep: '1', defaults: { ...ancestral, solver_type: 'heun' } });
export const dpmpp2mSdeHeunGpu = spec<Dpmpp2mSdeParams>()({ name: 'dpmpp_2m_sde_heun_gpu', order: 2, stochastic: true, noise: 'brownian', nfePerStep: '1', defaults: { ...ancestral, solver_type: 'heun' } });
export const dpmpp3mSde = spec<AncestralParams>()({ name: 'dpmpp_3m_sde', order: 3, stochastic: true, noise: 'brownian', nfePerStep: '1', defaults: ancestral });
export const dpmpp3mSdeGpu = spec<AncestralParams>()({ name: 'dpmpp_3m_sde_gpu', order: 3, stochastic: true, noise: 'brownian', nfePerStep: '1', defaults: ancestral });
export const ddpm = spec<NoParams>()({ name: 'ddpm', order: 1, stochastic: true, noise: 'normal', nfePerStep: '1', defaults: none });
export const lcm = spec<LcmParams>()({ name: 'lcm', order: 1, stochastic: true, noise: 'normal', nfePerStep: '1', defaults: { s_noise: 1, s_noise_end: null, noise_clip_std: 0 } });
export const ipndm = spec<IpndmParams>()({ name: 'ipndm', order: 4, stochastic: false, noise: 'none', nfePerStep: '1', defaults: { max_order: 4 } });
export const ipndmV = spec<IpndmParams>()({ name: 'ipndm_v', order: 4, stochastic: false, noise: 'none', nfePerStep: '1', defaults: { max_order: 4 } });
export const deis = spec<DeisParams>()({ name: 'deis', order: 3, stochastic: false, noise: 'none', nfePerStep: '1', defaults: { max_order: 3, deis_mode: 'tab' } });
export const resMultistep = spec<ResMultistepParams>()({ name: 'res_multistep', order: 2, stochastic: false, noise: 'none', nfePerStep: '1', defaults: { s_noise: 1 } });
export const resMultistepCfgPp = spec<ResMultistepParams>()({ name: 'res_multistep_cfg_pp', order: 2, stochastic: false, noise: 'none', nfePerStep: '1', defaults: { s_noise: 1 }, needsUncond: true });
export const resMultistepAncestral = spec<AncestralParams>()({ name: 'res_multistep_ancestral', order: 2, stochastic: true, noise: 'normal', nfePerStep: '1', defaults: ancestral });
export const resMultistepAncestralCfgPp = spec<AncestralParams>()({ name: 'res_multistep_ancestral_cfg_pp', order: 2, stochastic: true, noise: 'normal', nfePerStep: '1', defaults: ancestral, needsUncond: true });
export const gradientEstimation = spec<GradientEstimationParams>()({ name: 'gradient_estimation', order: 2, stochastic: false, noise: 'none', nfePerStep: '1', defaults: { ge_gamma: 2, cfg_pp: false } });
export const gradientEstimationCfgPp = spec<GradientEstimationCfgPpParams>()({ name: 'gradient_estimation_cfg_pp', order: 2, stochastic: false, noise: 'none', nfePerStep: '1', defaults: { ge_gamma: 2 }, needsUncond: true });
export const erSde = spec<ErSdeParams>()({ name: 'er_sde', order: 3, stochastic: true, noise: 'normal', nfePerStep: '1', defaults: { s_noise: 1, noise_scaler: null, max_stage: 3 } });
export const seeds2 = spec<Seeds2Params>()({ name: 'seeds_2', order: 2, stochastic: true, noise: 'normal', nfePerStep: TWO, defaults: { ...ancestral, r: 0.5, solver_type: 'phi_1' } });
export const seeds3 = spec<Seeds3Params>()({ name: 'seeds_3', order: 3, stochastic: true, noise: 'normal', nfePerStep: '3 (1 on the last step)', defaults: { ...ancestral, r_1: 1 / 3, r_2: 2 / 3 } });
export const saSolverSpec = spec<SaSolverParams>()({ name: 'sa_solver', order: 3, stochastic: true, noise: 'normal', nfePerStep: '1', defaults: { ...saSolver, use_pece: false } });
export const saSolverPece = spec<SaSolverPeceParams>()({ name: 'sa_solver_pece', order: 3, stochastic: true, noise: 'normal', nfePerStep: '2 (1 on the first step)', defaults: saSolver });
export const ddim = spec<ChurnParams>()({ name: 'ddim', order: 1, stochastic: false, noise: 'none', nfePerStep: '1', defaults: churn });
export const uniPc = spec<UniPcParams>()({ name: 'uni_pc', order: 3, stochastic: false, noise: 'none', nfePerStep: '1 (none at the final point)', defaults: { variant: 'bh1' }, discardsPenultimateSigma: true });
export const uniPcBh2 = spec<NoParams>()({ name: 'uni_pc_bh2', order: 3, stochastic: false, noise: 'none', nfePerStep: '1 (none at the final point)', defaults: none, discardsPenultimateSigma: true });

/** Every spec, in ComfyUI's order. */
export const SAMPLER_SPECS: readonly SamplerSpecInfo<object>[] = Object.freeze([...specs]);

const byName = new Map(SAMPLER_SPECS.map((s) => [s.name, s]));

/** The spec for a sampler name, or undefined. */
export function findSamplerSpec(name: string): SamplerSpecInfo<object> | undefined {
  return byName.get(name);
}
