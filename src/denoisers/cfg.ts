import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser, GuidedDenoiser } from '../core/types.js';
import { sameShape } from '../tensor/ops.js';

/**
 * Classifier-free guidance as a denoiser: uncond + (cond - uncond) * scale. Both predictions are always
 * computed (no cfg = 1 shortcut), and after each call `lastUncond` holds that call's unconditional
 * prediction, which the *_cfg_pp samplers read.
 */
export function cfg(cond: Denoiser, uncond: Denoiser, scale: number): GuidedDenoiser {
  if (typeof cond !== 'function' || typeof uncond !== 'function') throw new TypeError('cfg: cond and uncond must be denoisers');
  if (!Number.isFinite(scale)) throw new RangeError(`cfg: scale must be a finite number, got ${scale}`);
  let last: Tensor | null = null;
  const guided = async (x: Tensor, sigma: number): Promise<Tensor> => {
    const [c, u] = await Promise.all([cond(x, sigma), uncond(x, sigma)]);
    if (!sameShape(c.shape, u.shape) || c.data.length !== u.data.length) {
      throw new RangeError(`cfg: cond returned shape [${c.shape.join(', ')}] but uncond returned [${u.shape.join(', ')}]`);
    }
    const n = c.data.length;
    const out = x.data instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
    const cd = c.data, ud = u.data;
    for (let i = 0; i < n; i++) out[i] = ud[i]! + (cd[i]! - ud[i]!) * scale;
    last = u;
    return { data: out, shape: [...c.shape] };
  };
  Object.defineProperty(guided, 'lastUncond', { get: () => last, enumerable: true });
  return guided as GuidedDenoiser;
}
