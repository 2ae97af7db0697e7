/**
 * The samplers by name: each spec (specs.ts) with the function its body file made with defineSampler(spec, body).
 * Adding a sampler: a spec in specs.ts and a defineSampler call in a body file (a new body file: one import here).
 */
import type { Sampler, SamplerParamValue } from './types.js';
import { definedSampler } from './common.js';
import { SAMPLER_SPECS } from './specs.js';
import type { SamplerSpecInfo } from './specs.js';
import type * as Specs from './specs.js';
// the body files define their samplers with defineSampler(spec, body) when they load
import './euler.js';
import './dpmpp.js';
import './multistep.js';
import './seeds.js';
import './dpm-solver.js';
import './uni-pc.js';
import './sa-solver.js';

/** A sampler: its spec (name, typed defaults, noise, ...) and the function that runs it. */
export interface SamplerSpec<P extends object = Record<string, SamplerParamValue>> extends SamplerSpecInfo<P> {
  readonly sampler: Sampler;
}

type SpecValue = (typeof Specs)[keyof typeof Specs];
/** Each sampler name with its params interface, read off the specs (e.g. SamplerParamsByName['lms'] = LmsParams). */
export type SamplerParamsByName = {
  [S in SpecValue as S extends SamplerSpecInfo<object, infer N> ? (string extends N ? never : N) : never]: S extends SamplerSpecInfo<infer P, string> ? P : never;
};
/** ComfyUI's sampler names, as a type. */
export type SamplerName = keyof SamplerParamsByName;
/** The params of a sampler name (any param for a name only known at run time). */
export type SamplerParamsOf<N extends string> = N extends SamplerName ? SamplerParamsByName[N] : Record<string, SamplerParamValue>;

/** Every sampler, in ComfyUI's order. */
export const SAMPLERS: readonly SamplerSpec[] = SAMPLER_SPECS.map((spec) => {
  const sampler = definedSampler(spec.name);
  if (!sampler) throw new Error(`internal error: sampler "${spec.name}" has a spec but no function`);
  return Object.freeze({ ...(spec as SamplerSpecInfo), sampler });
});

const byName = new Map(SAMPLERS.map((s) => [s.name, s]));

/**
 * The spec of a sampler by ComfyUI's name: its function, typed defaults, the noise it draws, whether the
 * KSampler drops the penultimate sigma for it, order and model calls per step.
 * @example samplerSpec('dpmpp_2m_sde').defaults.eta // 1
 */
export function samplerSpec<N extends string>(name: N): SamplerSpec<SamplerParamsOf<N>> {
  const spec = typeof name === 'string' ? byName.get(name) : undefined;
  if (!spec) throw new RangeError(`unknown sampler "${String(name)}"; known samplers: ${samplerNames.join(', ')}`);
  return spec as unknown as SamplerSpec<SamplerParamsOf<N>>;
}


/** ComfyUI's sampler names, in ComfyUI's order. */
export const samplerNames: readonly string[] = SAMPLERS.map((s) => s.name);
