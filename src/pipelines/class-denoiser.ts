/**
 * The class-conditional model as the samplers' guided denoiser: ONE session call per evaluation, the conditional
 * and unconditional ("no class" label) halves as a batch of 2B (B when cfg is 1 and no cfg_pp sampler needs the
 * uncond prediction). The arithmetic around the network follows ComfyUI's EPS model in float32 per operation:
 * input x / sqrt(sigma^2 + 1), denoised x - eps * sigma, then uncond + (cond - uncond) * cfg.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { GuidedDenoiser } from '../samplers/types.js';
import type { ModelSampling } from '../model-sampling/types.js';
import { ModelError, ort, readFloat, type ModelSession } from '../runtime/session.js';
import { UNET_FILE, type ModelCard } from './class-model-folder.js';

const f32 = Math.fround;

/** The guided denoiser for fixed labels; `rows` takes one sigma per row (same single session call). */
export interface ClassDenoiser extends GuidedDenoiser {
  readonly sessionCalls: number;
  readonly rows: (x: Tensor, sigmas: ArrayLike<number>) => Promise<Tensor>;
}

interface MutableClassDenoiser extends ClassDenoiser {
  sessionCalls: number;
  lastUncond: Tensor | null;
}

export interface ClassModel {
  session: ModelSession;
  card: ModelCard;
  ms: ModelSampling;
  timestepType: string;
  labelType: string;
}

function labelTensor(m: ClassModel, labels: readonly number[], guided: boolean): ort.Tensor {
  const b = labels.length;
  const rows = guided ? 2 * b : b;
  const yData = m.labelType === 'int64' ? new BigInt64Array(rows) : new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const y = i < b ? labels[i]! : m.card.nullClass;
    if (yData instanceof BigInt64Array) yData[i] = BigInt(y);
    else yData[i] = y;
  }
  return new ort.Tensor(m.labelType === 'int64' ? 'int64' : 'int32', yData, [rows]);
}

/** Model inputs x / sqrt(sigma^2 + 1) per row (copied for the uncond half) and their timesteps; float32 per op. */
function modelInputs(m: ClassModel, x: Tensor, sigmas: ArrayLike<number>, b: number, guided: boolean) {
  const { channels, resolution: size } = m.card;
  const plane = channels * size * size;
  const rows = guided ? 2 * b : b;
  const s = new Float32Array(b);
  const tData = m.timestepType === 'int64' ? new BigInt64Array(rows) : new Float32Array(rows);
  const input = new Float32Array(rows * plane);
  for (let r = 0; r < b; r++) {
    const sigma = sigmas[r]!;
    if (!Number.isFinite(sigma) || sigma < 0) throw new ModelError(`denoiser: sigma must be a finite non-negative number, got ${sigma}`);
    const sr = f32(sigma);
    s[r] = sr;
    const cIn = f32(Math.sqrt(f32(f32(sr * sr) + 1)));
    for (let i = r * plane, e = i + plane; i < e; i++) input[i] = f32(f32(x.data[i]!) / cIn);
    const t = m.ms.timestep(sr);
    for (const rr of guided ? [r, b + r] : [r]) {
      if (tData instanceof BigInt64Array) tData[rr] = BigInt(t);
      else tData[rr] = t;
    }
  }
  if (guided) input.copyWithin(b * plane, 0, b * plane);
  return { s, tData, input, rows, plane };
}

/** The guided denoiser for fixed labels: one session call per evaluation. */
export function classDenoiser(m: ClassModel, labels: readonly number[], cfg: number, opts: { alwaysUncond?: boolean } = {}): ClassDenoiser {
  if (!Number.isFinite(cfg)) throw new ModelError(`cfg must be a finite number, got ${cfg}`);
  const { card } = m;
  const b = labels.length;
  const guided = cfg !== 1 || opts.alwaysUncond === true;
  const yTensor = labelTensor(m, labels, guided);
  const { channels, resolution: size } = card;

  // One noise level per batch row (the AYS optimizer evaluates Monte Carlo rows at their own sigma).
  const rowFn = async (x: Tensor, sigmas: ArrayLike<number>): Promise<Tensor> => {
    if (x.shape.length !== 4 || x.shape[0] !== b || x.data.length !== b * channels * size * size) {
      throw new ModelError(`denoiser: expected x of shape [${b}, ${channels}, ${size}, ${size}], got [${x.shape.join(', ')}]`);
    }
    if (sigmas.length !== b) throw new ModelError(`denoiser: ${sigmas.length} sigmas for ${b} rows`);
    const { s, tData, input, rows, plane } = modelInputs(m, x, sigmas, b, guided);
    const feeds = {
      [card.inputs.sample]: new ort.Tensor('float32', input, [rows, channels, size, size]),
      [card.inputs.timestep]: new ort.Tensor(m.timestepType === 'int64' ? 'int64' : 'float32', tData, [rows]),
      [card.inputs.classLabel]: yTensor,
    };
    const out = await m.session.run(feeds, [card.output]);
    fn.sessionCalls++;
    const eps = readFloat(out[card.output]!);
    if (eps.length !== rows * plane) throw new ModelError(`${UNET_FILE}: output has ${eps.length} values, expected ${rows * plane}`);
    const result = x.data instanceof Float64Array ? new Float64Array(b * plane) : new Float32Array(b * plane);
    const uncond = guided ? new Float32Array(b * plane) : null;
    for (let i = 0; i < b * plane; i++) {
      const sr = s[Math.floor(i / plane)]!;
      const xi = f32(x.data[i]!);
      const cond = f32(xi - f32(eps[i]! * sr));
      if (uncond) {
        const u = f32(xi - f32(eps[b * plane + i]! * sr));
        uncond[i] = u;
        result[i] = f32(u + f32(f32(cond - u) * cfg));
      } else {
        result[i] = cond;
      }
      if (Number.isNaN(result[i]!)) throw new ModelError(`${UNET_FILE}: the model produced NaN at sigma ${sr}`);
    }
    fn.lastUncond = uncond ? { data: uncond, shape: [...x.shape] } : null;
    return { data: result, shape: [...x.shape] };
  };
  const fn: MutableClassDenoiser = Object.assign((x: Tensor, sigma: number): Promise<Tensor> => rowFn(x, new Float64Array(b).fill(sigma)), {
    rows: rowFn,
    lastUncond: null as Tensor | null,
    sessionCalls: 0,
  });
  return fn;
}
