/**
 * The samplers by name: each spec (specs.ts) with its function. Bodies made with defineSampler register
 * themselves; the rest are bound below until they are converted.
 */
import type { Sampler, SamplerParamValue } from './types.js';
import { definedSampler } from './common.js';
import * as S from './specs.js';
import type { SamplerSpecInfo } from './specs.js';
import * as euler from './euler.js';
import * as dpmpp from './dpmpp.js';
import * as multistep from './multistep.js';
import * as seeds from './seeds.js';
import * as dpmSolver from './dpm-solver.js';
import * as uniPc from './uni-pc.js';
import * as saSolver from './sa-solver.js';

/** A sampler: its spec (name, typed defaults, noise, ...) and the function that runs it. */
export interface SamplerSpec<P extends object = Record<string, SamplerParamValue>> extends SamplerSpecInfo<P> {
  readonly sampler: Sampler;
}
/** @deprecated the old name of SamplerSpec. */
export type SamplerInfo = SamplerSpec;

/** Bodies still in the old form (they call begin(name, ...) themselves); entries leave as bodies move to defineSampler. */
const oldForm = new Map<SamplerSpecInfo<object>, Sampler>([
  [S.euler, euler.sampleEuler],
  [S.eulerCfgPp, euler.sampleEulerCfgPp],
  [S.eulerAncestral, euler.sampleEulerAncestral],
  [S.eulerAncestralCfgPp, euler.sampleEulerAncestralCfgPp],
  [S.heun, euler.sampleHeun],
  [S.heunpp2, euler.sampleHeunpp2],
  [S.expHeun2X0, seeds.sampleExpHeun2X0],
  [S.expHeun2X0Sde, seeds.sampleExpHeun2X0Sde],
  [S.dpm2, euler.sampleDpm2],
  [S.dpm2Ancestral, euler.sampleDpm2Ancestral],
  [S.lms, dpmpp.sampleLms],
  [S.dpmFast, dpmSolver.sampleDpmFast],
  [S.dpmAdaptive, dpmSolver.sampleDpmAdaptive],
  [S.dpmpp2sAncestral, dpmpp.sampleDpmpp2sAncestral],
  [S.dpmpp2sAncestralCfgPp, dpmpp.sampleDpmpp2sAncestralCfgPp],
  [S.dpmppSde, dpmpp.sampleDpmppSde],
  [S.dpmppSdeGpu, dpmpp.sampleDpmppSdeGpu],
  [S.dpmpp2m, dpmpp.sampleDpmpp2m],
  [S.dpmpp2mCfgPp, dpmpp.sampleDpmpp2mCfgPp],
  [S.dpmpp2mSde, dpmpp.sampleDpmpp2mSde],
  [S.dpmpp2mSdeGpu, dpmpp.sampleDpmpp2mSdeGpu],
  [S.dpmpp2mSdeHeun, dpmpp.sampleDpmpp2mSdeHeun],
  [S.dpmpp2mSdeHeunGpu, dpmpp.sampleDpmpp2mSdeHeunGpu],
  [S.dpmpp3mSde, dpmpp.sampleDpmpp3mSde],
  [S.dpmpp3mSdeGpu, dpmpp.sampleDpmpp3mSdeGpu],
  [S.ddpm, euler.sampleDdpm],
  [S.lcm, euler.sampleLcm],
  [S.ipndm, multistep.sampleIpndm],
  [S.ipndmV, multistep.sampleIpndmV],
  [S.deis, multistep.sampleDeis],
  [S.resMultistep, multistep.sampleResMultistep],
  [S.resMultistepCfgPp, multistep.sampleResMultistepCfgPp],
  [S.resMultistepAncestral, multistep.sampleResMultistepAncestral],
  [S.resMultistepAncestralCfgPp, multistep.sampleResMultistepAncestralCfgPp],
  [S.gradientEstimation, multistep.sampleGradientEstimation],
  [S.gradientEstimationCfgPp, multistep.sampleGradientEstimationCfgPp],
  [S.erSde, seeds.sampleErSde],
  [S.seeds2, seeds.sampleSeeds2],
  [S.seeds3, seeds.sampleSeeds3],
  [S.saSolverSpec, saSolver.sampleSaSolver],
  [S.saSolverPece, saSolver.sampleSaSolverPece],
  [S.ddim, euler.sampleDdim],
  [S.uniPc, uniPc.sampleUniPc],
  [S.uniPcBh2, uniPc.sampleUniPcBh2],
]);

/** Every sampler, in ComfyUI's order. */
export const SAMPLERS: readonly SamplerSpec[] = S.SAMPLER_SPECS.map((spec) => {
  const sampler = definedSampler(spec.name) ?? oldForm.get(spec);
  if (!sampler) throw new Error(`internal error: sampler "${spec.name}" has a spec but no function`);
  return Object.freeze({ ...(spec as SamplerSpecInfo), sampler });
});

const byName = new Map(SAMPLERS.map((s) => [s.name, s]));

/**
 * The spec of a sampler by ComfyUI's name: its function, typed defaults, the noise it draws, whether the
 * KSampler drops the penultimate sigma for it, order and model calls per step.
 * @example samplerSpec('dpmpp_2m_sde').defaults.eta // 1
 */
export function samplerSpec(name: string): SamplerSpec {
  const spec = typeof name === 'string' ? byName.get(name) : undefined;
  if (!spec) throw new RangeError(`unknown sampler "${String(name)}"; known samplers: ${samplerNames.join(', ')}`);
  return spec;
}

/** @deprecated the old name of samplerSpec. */
export const samplerInfo = samplerSpec;

/** ComfyUI's sampler names, in ComfyUI's order. */
export const samplerNames: readonly string[] = SAMPLERS.map((s) => s.name);
