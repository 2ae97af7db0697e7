import type { Tensor } from '../tensor/tensor.js';
import { validateSigmas } from '../core/validate.js';
import { allFinite, cloneTensor, copyInto, sameShape, zerosLike } from '../tensor/ops.js';
import type { Denoiser, GuidedDenoiser, NoiseSource, Sampler, SamplerOptions } from './types.js';
import type { SamplerSpecInfo } from './specs.js';

/** Rejection reason for an aborted run (a DOMException named AbortError, like fetch's). */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('sampling was aborted', 'AbortError');
}

/** A sampler's sigma check: validateSigmas with the sampler's name in front. Returns a float64 copy. */
function checkSigmas(name: string, sigmas: ArrayLike<number>): Float64Array {
  try {
    return Float64Array.from(validateSigmas(sigmas));
  } catch (err) {
    throw err instanceof RangeError ? new RangeError(`${name}: ${err.message}`) : err;
  }
}

/** Keys of P whose values can be T (all string keys for an untyped run). */
type KeysWhere<P, T> = 0 extends 1 & P ? string : { [K in keyof P]-?: P[K] extends T ? K : never }[keyof P] & string;

/** One step of Run.eachStep: its index, its sigma and the next, and the model's prediction at sigma. */
export interface SamplingStep {
  readonly i: number;
  readonly sigma: number;
  readonly sigmaNext: number;
  readonly denoised: Tensor;
}

/**
 * Per-run state shared by a sampler's helpers: the spec (name, hyperparameter defaults), the denoiser call
 * counter, options and abort handling.
 *
 * Hyperparameters: `run.num('eta')`, `run.choice('solver_type', ['midpoint', 'heun'])`, `run.flag('cfg_pp')`,
 * `run.fn('tau_func')` return the caller's option when given, else the spec's default (specs.ts). A default of
 * null means "computed at run time": pass it as the second argument, `run.num('start_sigma', fromModel)`.
 * The key names are checked by the compiler against the spec's params interface.
 */
export class Run<P extends object = any> {
  nfe = 0;
  /** The step index the sampler is working on (for error messages). */
  step = 0;
  readonly noise: NoiseSource | undefined;
  readonly name: string;

  constructor(
    readonly spec: SamplerSpecInfo<P>,
    readonly denoiser: Denoiser,
    readonly options: SamplerOptions,
    readonly shape: readonly number[],
  ) {
    this.name = spec.name;
    this.noise = options.noise;
    this.checkAbort();
  }

  checkAbort(): void {
    const signal = this.options.signal;
    if (signal?.aborted) throw abortError(signal);
  }

  /** Call the denoiser, then check the abort signal, the output shape and that every value is finite. */
  async denoise(x: Tensor, sigma: number): Promise<Tensor> {
    this.checkAbort();
    const out = await this.denoiser(x, sigma);
    this.nfe++;
    this.checkAbort();
    if (!out || !out.data || !Array.isArray(out.shape)) {
      throw new TypeError(`${this.name}: the denoiser did not return a tensor at step ${this.step} (sigma ${sigma})`);
    }
    if (!sameShape(out.shape, this.shape) || out.data.length !== x.data.length) {
      throw new RangeError(
        `${this.name}: the denoiser returned shape [${out.shape.join(', ')}] but x has shape [${this.shape.join(', ')}] (step ${this.step}, sigma ${sigma})`,
      );
    }
    if (!allFinite(out)) {
      throw new RangeError(`${this.name}: the denoiser returned NaN or Infinity at step ${this.step} (sigma ${sigma})`);
    }
    return out;
  }

  /**
   * Step i's first model call: sets `step`, denoises x at sigmaHat (the step's sigma unless churn raised it) and
   * reports the step to onStep with `shown` (x before the update, unless the sampler reports another tensor).
   */
  async denoiseStep(i: number, x: Tensor, sigma: number, sigmaHat = sigma, shown: Tensor = x): Promise<Tensor> {
    this.step = i;
    const denoised = await this.denoise(x, sigmaHat);
    this.callback(i, sigma, sigmaHat, shown, denoised);
    return denoised;
  }

  /**
   * The loop most samplers share: for each step i, denoise x at sigmas[i] (denoiseStep) and let `step` move x
   * (in place) to sigmas[i + 1]. Returns x.
   */
  async eachStep(x: Tensor, sigmas: Float64Array, step: (s: SamplingStep) => void | Promise<void>): Promise<Tensor> {
    for (let i = 0; i < sigmas.length - 1; i++) {
      const sigma = sigmas[i]!, sigmaNext = sigmas[i + 1]!;
      const denoised = await this.denoiseStep(i, x, sigma);
      await step({ i, sigma, sigmaNext, denoised });
    }
    return x;
  }

  /** The unconditional prediction of the last denoiser call (cfg_pp samplers). */
  uncond(): Tensor {
    const u = (this.denoiser as Partial<GuidedDenoiser>).lastUncond;
    if (!u) {
      throw new TypeError(
        `${this.name} needs a guided denoiser that exposes the unconditional prediction: build it with cfg(cond, uncond, scale) or guidedModelDenoiser(ms, model, scale)`,
      );
    }
    return u;
  }

  /** Noise for the step sigma -> sigmaNext, checked against x's shape. */
  draw(like: Tensor, sigma: number, sigmaNext: number): Tensor {
    if (!this.noise) {
      throw new TypeError(`${this.name} is stochastic and needs options.noise (e.g. comfyDefaultNoise(seed) or brownianTreeNoise(...)) or, through sample(), options.seed`);
    }
    return this.checkNoise(this.noise.next(like, sigma, sigmaNext), like);
  }

  /** torch.randn_like inside a sampler (heunpp2 and the churn samplers). */
  randnLike(like: Tensor): Tensor {
    if (!this.noise) {
      throw new TypeError(`${this.name} needs options.noise for its randn_like draws (or, through sample(), options.seed)`);
    }
    const n = this.noise.randnLike ? this.noise.randnLike(like) : this.noise.next(like, NaN, NaN);
    return this.checkNoise(n, like);
  }

  private checkNoise(n: Tensor, like: Tensor): Tensor {
    if (n.data.length !== like.data.length) {
      throw new RangeError(`${this.name}: the noise source returned ${n.data.length} values for a tensor of shape [${like.shape.join(', ')}]`);
    }
    return n;
  }

  callback(i: number, sigma: number, sigmaHat: number, x: Tensor, denoised: Tensor): void {
    this.options.onStep?.({ i, sigma, sigmaHat, x, denoised });
  }

  /** The caller's option, else the spec's default (undefined when neither is set or the default is null). */
  private lookup(key: string): unknown {
    const v = this.options[key];
    if (v !== undefined && v !== null) return v;
    const d: unknown = (this.spec.defaults as Record<string, unknown>)[key];
    return d === null ? undefined : d;
  }

  /** A fallback passed by a body must agree with the spec's default where the spec has one (a guard against two defaults). */
  private agree(key: string, fallback: unknown): void {
    if (fallback === undefined || this.options[key] !== undefined && this.options[key] !== null) return;
    const d: unknown = (this.spec.defaults as Record<string, unknown>)[key];
    if (d !== undefined && d !== null && !Object.is(d, fallback)) {
      throw new Error(`${this.name}: internal error: the body's default ${key} = ${String(fallback)} differs from the spec's ${String(d)}`);
    }
  }

  private missing(key: string): never {
    throw new Error(`${this.name}: internal error: no value and no default for option ${key}`);
  }

  /**
   * A numeric hyperparameter: the option, else the spec's default, else `fallback` (for defaults computed at
   * run time, which the spec lists as null).
   */
  num(key: KeysWhere<P, number | null>, fallback?: number): number {
    this.agree(key, fallback);
    const v = this.lookup(key) ?? fallback;
    if (v === undefined) this.missing(key);
    if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${this.name}: option ${key} must be a number, got ${String(v)}`);
    return v;
  }

  /** A choice among strings: the option, else the spec's default. */
  choice<T extends string>(key: KeysWhere<P, string>, allowed: readonly T[]): T {
    const v = this.lookup(key);
    if (v === undefined) this.missing(key);
    if (typeof v !== 'string' || !allowed.includes(v as T)) {
      throw new TypeError(`${this.name}: option ${key} must be one of ${allowed.join(', ')}, got ${String(v)}`);
    }
    return v as T;
  }

  /** A yes/no hyperparameter: the option (any truthy value), else the spec's default. */
  flag(key: KeysWhere<P, boolean>): boolean {
    return !!this.lookup(key);
  }

  /** A callback hyperparameter (tau_func, noise_scaler): the option, else the spec's default, else null. */
  fn<F extends (...args: never[]) => unknown>(key: KeysWhere<P, F | null>): F | null {
    const v = this.lookup(key);
    if (v === undefined) return null;
    if (typeof v !== 'function') throw new TypeError(`${this.name}: option ${key} must be a function`);
    return v as F;
  }
}

/** Start a run for a sampler's spec: validate, and make a working copy of x that the sampler may overwrite. */
export function begin<P extends object>(
  spec: SamplerSpecInfo<P>,
  denoiser: Denoiser,
  x: Tensor,
  sigmas: ArrayLike<number>,
  options: SamplerOptions | undefined,
): { run: Run<P>; sigmas: Float64Array; x: Tensor } {
  const name = spec.name;
  if (typeof denoiser !== 'function') throw new TypeError(`${name}: denoiser must be a function (x, sigma) => Promise<Tensor>`);
  if (!x || !(x.data instanceof Float32Array || x.data instanceof Float64Array)) {
    throw new TypeError(`${name}: x must be a tensor with Float32Array or Float64Array data`);
  }
  const s = checkSigmas(name, sigmas);
  const run = new Run<P>(spec, denoiser, options ?? {}, x.shape);
  return { run, sigmas: s, x: cloneTensor(x) };
}

/** A sampler body: works on the run's copy of x along the validated sigmas and returns the result. */
export type SamplerBody<P extends object> = (run: Run<P>, x: Tensor, sigmas: Float64Array) => Promise<Tensor>;

const defined = new Map<string, Sampler>();

/**
 * Makes the public sampler function for a spec from its body and registers it, so that the registry finds it:
 * `export const sampleEuler = defineSampler(specs.euler, async (run, x, sigmas) => { ... })`.
 */
export function defineSampler<P extends object>(spec: SamplerSpecInfo<P>, body: SamplerBody<P>): Sampler {
  const sampler: Sampler = (denoiser, x0, sigmasIn, options) => {
    const { run, sigmas, x } = begin(spec, denoiser, x0, sigmasIn, options);
    return body(run, x, sigmas);
  };
  defined.set(spec.name, sampler);
  return sampler;
}

/** The function defineSampler registered for a name (registry.ts). */
export function definedSampler(name: string): Sampler | undefined {
  return defined.get(name);
}

export { zerosLike };

/** Noise levels of an ancestral step: where the deterministic step lands (down) and the noise added (up). */
export function ancestralStep(sigmaFrom: number, sigmaTo: number, eta: number): [number, number] {
  if (!eta) return [sigmaTo, 0];
  const up = Math.min(sigmaTo, eta * Math.sqrt((sigmaTo ** 2 * (sigmaFrom ** 2 - sigmaTo ** 2)) / sigmaFrom ** 2));
  const down = Math.sqrt(sigmaTo ** 2 - up ** 2);
  return [down, up];
}

/** At a final sigma of 0 the step lands on the prediction: copies denoised into x and says so. */
export function landOnPrediction(x: Tensor, denoised: Tensor, sigmaNext: number): boolean {
  if (sigmaNext !== 0) return false;
  copyInto(x, denoised);
  return true;
}

/** x += c * n */
export function addNoise(x: Tensor, c: number, n: Tensor): void {
  const xd = x.data, nd = n.data, len = xd.length;
  for (let i = 0; i < len; i++) xd[i] = xd[i]! + c * nd[i]!;
}

/** h * phi_1(h) = expm1(h) (exponential-integrator coefficient). */
export function eiPhi1(h: number): number {
  return Math.expm1(h);
}

/** h * phi_2(h) = (expm1(h) - h) / h. */
export function eiPhi2(h: number): number {
  return (Math.expm1(h) - h) / h;
}

/** lambda = -log(sigma) and its inverse, from the low layer (core/numerics.ts). */
export { lambdaOf, sigmaOfLambda } from '../core/numerics.js';
