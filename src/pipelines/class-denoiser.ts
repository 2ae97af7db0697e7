/**
 * The class-conditional model as the samplers' guided denoiser: ONE session call per evaluation, the conditional
 * and unconditional ("no class" label) halves as a batch of 2B (B when cfg is 1 and no cfg_pp sampler needs the
 * uncond prediction). The arithmetic around the network is the model sampling's (ComfyUI's EPS model) in float32
 * per operation: input x / sqrt(sigma^2 + 1), denoised x - eps * sigma, then uncond + (cond - uncond) * cfg.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { GuidedDenoiser } from '../samplers/types.js';
import type { ModelSampling } from '../model-sampling/types.js';
import { ModelError, ort, readFloat, type ModelSession } from '../runtime/session.js';
import { guidedModelDenoiser, type PairedRawModel } from '../denoisers/model.js';
import { UNET_FILE, type ModelCard } from './class-model-folder.js';

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

/**
 * The network as the denoiser layer's paired raw model: the (already c_in-scaled) input copied for the uncond
 * half, the timestep per row, the labels then the "no class" label; ONE session call for the 2B (or B) rows.
 */
function classPairModel(m: ClassModel, labels: readonly number[], guided: boolean): PairedRawModel {
  const { card } = m;
  const b = labels.length;
  const { channels, resolution: size } = card;
  const plane = channels * size * size;
  const rows = guided ? 2 * b : b;
  const yTensor = labelTensor(m, labels, guided);
  return async (xIn, t, rowTimesteps) => {
    const input = new Float32Array(rows * plane);
    input.set(xIn.data);
    if (guided) input.copyWithin(b * plane, 0, b * plane);
    const tData = m.timestepType === 'int64' ? new BigInt64Array(rows) : new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const tr = rowTimesteps ? rowTimesteps[r % b]! : t;
      if (tData instanceof BigInt64Array) tData[r] = BigInt(tr);
      else tData[r] = tr;
    }
    const feeds = {
      [card.inputs.sample]: new ort.Tensor('float32', input, [rows, channels, size, size]),
      [card.inputs.timestep]: new ort.Tensor(m.timestepType === 'int64' ? 'int64' : 'float32', tData, [rows]),
      [card.inputs.classLabel]: yTensor,
    };
    const eps = readFloat((await m.session.run(feeds, [card.output]))[card.output]!);
    if (eps.length !== rows * plane) throw new ModelError(`${UNET_FILE}: output has ${eps.length} values, expected ${rows * plane}`);
    for (let i = 0; i < eps.length; i++) {
      if (eps[i] !== eps[i]) throw new ModelError(`${UNET_FILE}: the model produced NaN at timestep ${rowTimesteps ? rowTimesteps[(i / plane | 0) % b] : t}`);
    }
    const shape = [b, channels, size, size];
    return { cond: { data: eps.subarray(0, b * plane), shape }, uncond: guided ? { data: eps.subarray(b * plane), shape } : null };
  };
}

/**
 * The guided denoiser for fixed labels: one session call per evaluation; the library's guidedModelDenoiser in
 * float32 per op (ComfyUI's EPS maths in torch float32), with `rows` for one sigma per batch row.
 */
export function classDenoiser(m: ClassModel, labels: readonly number[], cfg: number, opts: { alwaysUncond?: boolean } = {}): ClassDenoiser {
  if (!Number.isFinite(cfg)) throw new ModelError(`cfg must be a finite number, got ${cfg}`);
  const b = labels.length;
  const { channels, resolution: size } = m.card;
  const guided = cfg !== 1 || opts.alwaysUncond === true;
  const den = guidedModelDenoiser(m.ms, classPairModel(m, labels, guided), cfg, { precision: 'float32' });
  const checkShape = (x: Tensor) => {
    if (x.shape.length !== 4 || x.shape[0] !== b || x.data.length !== b * channels * size * size) {
      throw new ModelError(`denoiser: expected x of shape [${b}, ${channels}, ${size}, ${size}], got [${x.shape.join(', ')}]`);
    }
  };
  const after = (r: Tensor): Tensor => {
    self.lastUncond = den.lastUncond;
    self.sessionCalls = den.calls;
    return r;
  };
  const self: MutableClassDenoiser = Object.assign(
    async (x: Tensor, sigma: number): Promise<Tensor> => {
      checkShape(x);
      return after(await den(x, sigma));
    },
    {
      rows: async (x: Tensor, sigmas: ArrayLike<number>): Promise<Tensor> => {
        checkShape(x);
        if (sigmas.length !== b) throw new ModelError(`denoiser: ${sigmas.length} sigmas for ${b} rows`);
        return after(await den.rows(x, sigmas));
      },
      lastUncond: null as Tensor | null,
      sessionCalls: 0,
    },
  );
  return self;
}
