import type { Sampler } from './types.js';
import * as euler from './euler.js';
import * as dpmpp from './dpmpp.js';
import * as multistep from './multistep.js';
import * as seeds from './seeds.js';
import * as dpmSolver from './dpm-solver.js';
import * as uniPc from './uni-pc.js';
import * as saSolver from './sa-solver.js';

export interface SamplerInfo {
  /** ComfyUI's name. */
  name: string;
  sampler: Sampler;
  /** Order of accuracy of the deterministic part. */
  order: number;
  /** Whether the sampler adds noise (needs options.noise). */
  stochastic: boolean;
  /** Denoiser calls per step, as text (e.g. "1", "2 (1 on the last step)", "adaptive"). */
  nfePerStep: string;
  /** ComfyUI's default hyperparameters. */
  defaults: Readonly<Record<string, number | string | boolean | null>>;
  /** Needs a cfg() guided denoiser (reads the unconditional prediction). */
  needsUncond?: boolean;
  /** ComfyUI computes steps+1 sigmas and drops the penultimate one for this sampler (KSampler). */
  discardsPenultimateSigma?: boolean;
  /** ComfyUI's default noise for this sampler is a Brownian tree (torchsde) rather than fresh randn. */
  brownian?: boolean;
}

const churnDefaults = { s_churn: 0, s_tmin: 0, s_tmax: Infinity, s_noise: 1 } as const;

export const SAMPLERS: readonly SamplerInfo[] = [
  { name: 'euler', sampler: euler.sampleEuler, order: 1, stochastic: false, nfePerStep: '1', defaults: churnDefaults },
  { name: 'euler_cfg_pp', sampler: euler.sampleEulerCfgPp, order: 1, stochastic: false, nfePerStep: '1', defaults: {}, needsUncond: true },
  { name: 'euler_ancestral', sampler: euler.sampleEulerAncestral, order: 1, stochastic: true, nfePerStep: '1', defaults: { eta: 1, s_noise: 1 } },
  { name: 'euler_ancestral_cfg_pp', sampler: euler.sampleEulerAncestralCfgPp, order: 1, stochastic: true, nfePerStep: '1', defaults: { eta: 1, s_noise: 1 }, needsUncond: true },
  { name: 'heun', sampler: euler.sampleHeun, order: 2, stochastic: false, nfePerStep: '2 (1 on the last step)', defaults: churnDefaults },
  { name: 'heunpp2', sampler: euler.sampleHeunpp2, order: 2, stochastic: false, nfePerStep: '3 (2, then 1 on the last two steps)', defaults: churnDefaults },
  { name: 'exp_heun_2_x0', sampler: seeds.sampleExpHeun2X0, order: 2, stochastic: false, nfePerStep: '2 (1 on the last step)', defaults: { solver_type: 'phi_2' } },
  { name: 'exp_heun_2_x0_sde', sampler: seeds.sampleExpHeun2X0Sde, order: 2, stochastic: true, nfePerStep: '2 (1 on the last step)', defaults: { eta: 1, s_noise: 1, solver_type: 'phi_2' } },
  { name: 'dpm_2', sampler: euler.sampleDpm2, order: 2, stochastic: false, nfePerStep: '2 (1 on the last step)', defaults: churnDefaults, discardsPenultimateSigma: true },
  { name: 'dpm_2_ancestral', sampler: euler.sampleDpm2Ancestral, order: 2, stochastic: true, nfePerStep: '2 (1 on the last step)', defaults: { eta: 1, s_noise: 1 }, discardsPenultimateSigma: true },
  { name: 'lms', sampler: dpmpp.sampleLms, order: 4, stochastic: false, nfePerStep: '1', defaults: { order: 4 } },
  { name: 'dpm_fast', sampler: dpmSolver.sampleDpmFast, order: 3, stochastic: false, nfePerStep: '1 per sigma (total = len(sigmas) - 1, in order-3 groups)', defaults: { eta: 0, s_noise: 1 } },
  { name: 'dpm_adaptive', sampler: dpmSolver.sampleDpmAdaptive, order: 3, stochastic: false, nfePerStep: 'adaptive (3 per attempt)', defaults: { order: 3, rtol: 0.05, atol: 0.0078, h_init: 0.05, pcoeff: 0, icoeff: 1, dcoeff: 0, accept_safety: 0.81, eta: 0, s_noise: 1 } },
  { name: 'dpmpp_2s_ancestral', sampler: dpmpp.sampleDpmpp2sAncestral, order: 2, stochastic: true, nfePerStep: '2 (1 on the last step)', defaults: { eta: 1, s_noise: 1 } },
  { name: 'dpmpp_2s_ancestral_cfg_pp', sampler: dpmpp.sampleDpmpp2sAncestralCfgPp, order: 2, stochastic: true, nfePerStep: '2 (1 on the last step)', defaults: { eta: 1, s_noise: 1 }, needsUncond: true },
  { name: 'dpmpp_sde', sampler: dpmpp.sampleDpmppSde, order: 2, stochastic: true, nfePerStep: '2 (1 on the last step)', defaults: { eta: 1, s_noise: 1, r: 0.5 }, brownian: true },
  { name: 'dpmpp_sde_gpu', sampler: dpmpp.sampleDpmppSdeGpu, order: 2, stochastic: true, nfePerStep: '2 (1 on the last step)', defaults: { eta: 1, s_noise: 1, r: 0.5 }, brownian: true },
  { name: 'dpmpp_2m', sampler: dpmpp.sampleDpmpp2m, order: 2, stochastic: false, nfePerStep: '1', defaults: {} },
  { name: 'dpmpp_2m_cfg_pp', sampler: dpmpp.sampleDpmpp2mCfgPp, order: 2, stochastic: false, nfePerStep: '1', defaults: {}, needsUncond: true },
  { name: 'dpmpp_2m_sde', sampler: dpmpp.sampleDpmpp2mSde, order: 2, stochastic: true, nfePerStep: '1', defaults: { eta: 1, s_noise: 1, solver_type: 'midpoint' }, brownian: true },
  { name: 'dpmpp_2m_sde_gpu', sampler: dpmpp.sampleDpmpp2mSdeGpu, order: 2, stochastic: true, nfePerStep: '1', defaults: { eta: 1, s_noise: 1, solver_type: 'midpoint' }, brownian: true },
  { name: 'dpmpp_2m_sde_heun', sampler: dpmpp.sampleDpmpp2mSdeHeun, order: 2, stochastic: true, nfePerStep: '1', defaults: { eta: 1, s_noise: 1, solver_type: 'heun' }, brownian: true },
  { name: 'dpmpp_2m_sde_heun_gpu', sampler: dpmpp.sampleDpmpp2mSdeHeunGpu, order: 2, stochastic: true, nfePerStep: '1', defaults: { eta: 1, s_noise: 1, solver_type: 'heun' }, brownian: true },
  { name: 'dpmpp_3m_sde', sampler: dpmpp.sampleDpmpp3mSde, order: 3, stochastic: true, nfePerStep: '1', defaults: { eta: 1, s_noise: 1 }, brownian: true },
  { name: 'dpmpp_3m_sde_gpu', sampler: dpmpp.sampleDpmpp3mSdeGpu, order: 3, stochastic: true, nfePerStep: '1', defaults: { eta: 1, s_noise: 1 }, brownian: true },
  { name: 'ddpm', sampler: euler.sampleDdpm, order: 1, stochastic: true, nfePerStep: '1', defaults: {} },
  { name: 'lcm', sampler: euler.sampleLcm, order: 1, stochastic: true, nfePerStep: '1', defaults: { s_noise: 1, s_noise_end: null, noise_clip_std: 0 } },
  { name: 'ipndm', sampler: multistep.sampleIpndm, order: 4, stochastic: false, nfePerStep: '1', defaults: { max_order: 4 } },
  { name: 'ipndm_v', sampler: multistep.sampleIpndmV, order: 4, stochastic: false, nfePerStep: '1', defaults: { max_order: 4 } },
  { name: 'deis', sampler: multistep.sampleDeis, order: 3, stochastic: false, nfePerStep: '1', defaults: { max_order: 3, deis_mode: 'tab' } },
  { name: 'res_multistep', sampler: multistep.sampleResMultistep, order: 2, stochastic: false, nfePerStep: '1', defaults: { s_noise: 1 } },
  { name: 'res_multistep_cfg_pp', sampler: multistep.sampleResMultistepCfgPp, order: 2, stochastic: false, nfePerStep: '1', defaults: { s_noise: 1 }, needsUncond: true },
  { name: 'res_multistep_ancestral', sampler: multistep.sampleResMultistepAncestral, order: 2, stochastic: true, nfePerStep: '1', defaults: { eta: 1, s_noise: 1 } },
  { name: 'res_multistep_ancestral_cfg_pp', sampler: multistep.sampleResMultistepAncestralCfgPp, order: 2, stochastic: true, nfePerStep: '1', defaults: { eta: 1, s_noise: 1 }, needsUncond: true },
  { name: 'gradient_estimation', sampler: multistep.sampleGradientEstimation, order: 2, stochastic: false, nfePerStep: '1', defaults: { ge_gamma: 2, cfg_pp: false } },
  { name: 'gradient_estimation_cfg_pp', sampler: multistep.sampleGradientEstimationCfgPp, order: 2, stochastic: false, nfePerStep: '1', defaults: { ge_gamma: 2 }, needsUncond: true },
  { name: 'er_sde', sampler: seeds.sampleErSde, order: 3, stochastic: true, nfePerStep: '1', defaults: { s_noise: 1, noise_scaler: null, max_stage: 3 } },
  { name: 'seeds_2', sampler: seeds.sampleSeeds2, order: 2, stochastic: true, nfePerStep: '2 (1 on the last step)', defaults: { eta: 1, s_noise: 1, r: 0.5, solver_type: 'phi_1' } },
  { name: 'seeds_3', sampler: seeds.sampleSeeds3, order: 3, stochastic: true, nfePerStep: '3 (1 on the last step)', defaults: { eta: 1, s_noise: 1, r_1: 1 / 3, r_2: 2 / 3 } },
  { name: 'sa_solver', sampler: saSolver.sampleSaSolver, order: 3, stochastic: true, nfePerStep: '1', defaults: { tau_func: null, s_noise: 1, predictor_order: 3, corrector_order: 4, use_pece: false, simple_order_2: false } },
  { name: 'sa_solver_pece', sampler: saSolver.sampleSaSolverPece, order: 3, stochastic: true, nfePerStep: '2 (1 on the first step)', defaults: { tau_func: null, s_noise: 1, predictor_order: 3, corrector_order: 4, simple_order_2: false } },
  { name: 'ddim', sampler: euler.sampleDdim, order: 1, stochastic: false, nfePerStep: '1', defaults: churnDefaults },
  { name: 'uni_pc', sampler: uniPc.sampleUniPc, order: 3, stochastic: false, nfePerStep: '1 (none at the final point)', defaults: { variant: 'bh1' }, discardsPenultimateSigma: true },
  { name: 'uni_pc_bh2', sampler: uniPc.sampleUniPcBh2, order: 3, stochastic: false, nfePerStep: '1 (none at the final point)', defaults: {}, discardsPenultimateSigma: true },
];

const byName = new Map(SAMPLERS.map((s) => [s.name, s]));

export function samplerInfo(name: string): SamplerInfo {
  const info = byName.get(name);
  if (!info) throw new RangeError(`unknown sampler "${name}"; known samplers: ${SAMPLERS.map((s) => s.name).join(', ')}`);
  return info;
}

/** ComfyUI's sampler names, in ComfyUI's order. */
export const samplerNames: readonly string[] = SAMPLERS.map((s) => s.name);
