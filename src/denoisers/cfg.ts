import type { Tensor, TensorData } from '../tensor/tensor.js';
import type { Denoiser, GuidedDenoiser } from '../core/types.js';
import type { Precision } from '../model-sampling/types.js';
import { sameShape } from '../tensor/ops.js';

const f32 = Math.fround;

/**
 * out = uncond + (cond - uncond) * scale per element (ComfyUI's cfg_function), and uncondOut = uncond, both
 * stored in their arrays' dtype. 'float32' rounds each op like torch's float32 tensors.
 */
export function combineGuidance(cond: TensorData, uncond: TensorData, scale: number, precision: Precision, out: TensorData, uncondOut?: TensorData): void {
  const n = out.length;
  if (precision === 'float32') {
    // the scale stays a double, as the bundled pipeline's float32 reference multiplies by it
    for (let i = 0; i < n; i++) {
      const u = f32(uncond[i]!);
      out[i] = f32(u + f32(f32(f32(cond[i]!) - u) * scale));
    }
  } else {
    for (let i = 0; i < n; i++) {
      const u = uncond[i]!;
      out[i] = u + (cond[i]! - u) * scale;
    }
  }
  if (uncondOut) uncondOut.set(uncond);
}

/**
 * Classifier-free guidance as a denoiser: uncond + (cond - uncond) * scale. Both predictions are always
 * computed (no cfg = 1 shortcut), and after each call `lastUncond` holds that call's unconditional
 * prediction, which the *_cfg_pp samplers read. For a network that runs cond and uncond in one call, use
 * guidedModelDenoiser (denoisers/model.ts).
 */
export function cfg(cond: Denoiser, uncond: Denoiser, scale: number): GuidedDenoiser {
  if (typeof cond !== 'function' || typeof uncond !== 'function') throw new TypeError('cfg: cond and uncond must be denoisers');
  if (!Number.isFinite(scale)) throw new RangeError(`cfg: scale must be a finite number, got ${scale}`);
  const guided = async (x: Tensor, sigma: number): Promise<Tensor> => {
    const [c, u] = await Promise.all([cond(x, sigma), uncond(x, sigma)]);
    if (!sameShape(c.shape, u.shape) || c.data.length !== u.data.length) {
      throw new RangeError(`cfg: cond returned shape [${c.shape.join(', ')}] but uncond returned [${u.shape.join(', ')}]`);
    }
    const out = x.data instanceof Float32Array ? new Float32Array(c.data.length) : new Float64Array(c.data.length);
    combineGuidance(c.data, u.data, scale, 'float64', out);
    self.lastUncond = u;
    return { data: out, shape: [...c.shape] };
  };
  const self: Denoiser & { lastUncond: Tensor | null } = Object.assign(guided, { lastUncond: null });
  return self;
}
