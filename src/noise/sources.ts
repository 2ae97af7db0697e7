import type { NoiseSource } from '../core/types.js';
import { numel, type Tensor } from '../tensor/tensor.js';
import { sameShape } from '../tensor/ops.js';
import { TorchGenerator } from './torch-randn.js';
import { validateSeed } from './seed.js';

/**
 * Hands out recorded noise tensors in order (for replaying a ComfyUI run or injecting chosen noise).
 * Both `next` and `randnLike` take from the same queue. Each draw is copied into the dtype of the tensor it
 * is drawn for; its element count must match.
 */
export function replayNoise(draws: readonly Tensor[]): NoiseSource & { readonly used: number } {
  let index = 0;
  const take = (like: Tensor, what: string): Tensor => {
    if (index >= draws.length) {
      throw new RangeError(
        `replayNoise: all ${draws.length} recorded noise draws are used up; the sampler asked for draw #${index + 1} (${what})`,
      );
    }
    const draw = draws[index]!;
    if (draw.data.length !== like.data.length) {
      throw new RangeError(
        `replayNoise: draw #${index + 1} has ${draw.data.length} elements (shape [${draw.shape.join(', ')}]) but the sampler needs shape [${like.shape.join(', ')}]`,
      );
    }
    index++;
    const data = like.data instanceof Float32Array ? Float32Array.from(draw.data) : Float64Array.from(draw.data);
    return { data, shape: [...like.shape] };
  };
  return {
    next: (like, sigma, sigmaNext) => take(like, `noise for sigma ${sigma} -> ${sigmaNext}`),
    randnLike: (like) => take(like, 'randn_like'),
    get used() {
      return index;
    },
  };
}

/**
 * Fresh standard normal noise from a torch-compatible CPU generator, randn of x's shape and dtype per draw.
 * This is ComfyUI's default ancestral noise when seeded with seed + 1 (see `comfyDefaultNoise`).
 */
export function torchGeneratorNoise(generatorSeed: number | bigint): NoiseSource {
  const gen = new TorchGenerator(generatorSeed);
  const draw = (like: Tensor): Tensor => {
    const n = numel(like.shape);
    const data = like.data instanceof Float32Array ? gen.randnFloat32(n) : gen.randnFloat64(n);
    return { data, shape: [...like.shape] };
  };
  return { next: (like) => draw(like), randnLike: (like) => draw(like) };
}

/**
 * ComfyUI's noise stream for ancestral/SDE samplers when none is given: a CPU generator seeded with seed + 1
 * (wrapping at 2^64, so the largest seed 2^64 - 1 works too).
 */
export function comfyDefaultNoise(seed: number | bigint): NoiseSource {
  if (typeof seed === 'number' && seed < Number.MAX_SAFE_INTEGER) return torchGeneratorNoise(seed + 1);
  const s = typeof seed === 'bigint' ? seed : validateSeed(seed);
  return torchGeneratorNoise(s < 0n ? s + 1n : (s + 1n) & 0xffffffffffffffffn);
}

/**
 * ComfyUI's initial noise for a latent batch (comfy prepare_noise): torch.randn(shape) from
 * manual_seed(seed); with `batchIndex`, one [1, ...] draw per index 0..max(batchIndex), rows picked by index.
 */
export function prepareNoise(seed: number | bigint, shape: readonly number[], batchIndex?: readonly number[]): Tensor {
  if (!batchIndex) {
    const gen = new TorchGenerator(seed);
    return { data: gen.randnFloat32(numel(shape)), shape: [...shape] };
  }
  if (shape.length < 1 || shape[0] !== batchIndex.length) {
    throw new RangeError(`prepareNoise: batchIndex has ${batchIndex.length} entries but the batch size is ${shape[0]}`);
  }
  const gen = new TorchGenerator(seed);
  const rowShape = shape.slice(1);
  const rowSize = numel(rowShape);
  const maxIndex = Math.max(...batchIndex);
  const rows: Float32Array[] = [];
  for (let i = 0; i <= maxIndex; i++) rows.push(gen.randnFloat32(rowSize));
  const data = new Float32Array(rowSize * batchIndex.length);
  batchIndex.forEach((b, k) => data.set(rows[b]!, k * rowSize));
  return { data, shape: [...shape] };
}

// Brownian-tree noise lives in its own file; re-exported here with the other noise sources.
export { brownianTreeNoise, extendedBrownianTreeNoise } from './brownian-tree.js';
export type { BrownianNoiseOptions } from './brownian-tree.js';

/** Whether a shape matches (re-exported for noise users). */
export { sameShape };
