import type { Tensor } from '../tensor/tensor.js';
import type { NoiseSource } from '../samplers/types.js';
import { createRng } from '../core/rng.js';

/**
 * Fast seeded Gaussian noise for lab runs: every schedule compared at one seed gets the same stream of draws
 * (common random numbers), which keeps schedule differences visible above Monte Carlo noise.
 */
export function labNoise(seed: number): NoiseSource {
  const rng = createRng(seed);
  const draw = (like: Tensor): Tensor => {
    const n = like.data.length;
    const data = like.data instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
    for (let i = 0; i < n; i++) data[i] = rng.normal();
    return { data, shape: [...like.shape] };
  };
  return { next: (like) => draw(like), randnLike: (like) => draw(like) };
}
