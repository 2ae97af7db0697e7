import type { NoiseSource } from '../samplers/types.js';
import { numel, type Tensor } from '../tensor/tensor.js';
import { sameShape } from '../tensor/ops.js';
import { TorchGenerator } from './torch-randn.js';

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

/** ComfyUI's noise stream for ancestral/SDE samplers when none is given: a CPU generator seeded with seed + 1. */
export function comfyDefaultNoise(seed: number | bigint): NoiseSource {
  return torchGeneratorNoise(typeof seed === 'bigint' ? seed + 1n : seed + 1);
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

// ---------------- Brownian-tree noise ----------------

/** 32-bit mixing (murmur3 finaliser). */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Fill `out` with standard normals from a xoshiro128** stream keyed by (k0, k1, k2, k3): Box-Muller on a
 * 53-bit uniform in (0, 1] for the radius and a 32-bit uniform for the angle.
 */
function fillNormals(out: Float64Array, k0: number, k1: number, k2: number, k3: number): void {
  let s0 = fmix32(k0 ^ 0x9e3779b9), s1 = fmix32(k1 ^ 0x7f4a7c15), s2 = fmix32(k2 ^ 0x94d049bb), s3 = fmix32(k3 ^ 0xbf58476d);
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
  const n = out.length;
  const r = [0, 0, 0];
  for (let i = 0; i < n; i += 2) {
    for (let k = 0; k < 3; k++) {
      const x = Math.imul(s1, 5);
      const rot = (x << 7) | (x >>> 25);
      r[k] = Math.imul(rot, 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
    }
    const u1 = ((r[0]! >>> 5) * 67108864 + (r[1]! >>> 6) + 1) / 9007199254740992;
    const angle = 2 * Math.PI * (r[2]! / 4294967296);
    const rad = Math.sqrt(-2 * Math.log(u1));
    out[i] = rad * Math.cos(angle);
    if (i + 1 < n) out[i + 1] = rad * Math.sin(angle);
  }
}

export interface BrownianNoiseOptions {
  seed: number;
  /** Interval of noise levels the tree covers (sigma_min > 0 of the schedule ... sigma_max). */
  sigmaMin: number;
  sigmaMax: number;
  /** Depth of the dyadic tree (default 16: leaves are (sigmaMax - sigmaMin) / 2^16 wide). */
  depth?: number;
}

/**
 * A seeded Brownian motion W(sigma) on [sigmaMin, sigmaMax], one independent motion per element, evaluated
 * through a fixed dyadic tree of Brownian-bridge midpoints (in the spirit of torchsde's BrownianTree; not
 * bit-identical to it). Every tree node draws its midpoint noise from a generator keyed by (seed, depth,
 * node index), so W(sigma) is a fixed function of (seed, sigma): the noise handed out for a step sigma -> next
 * is (W(next) - W(sigma)) / sqrt(|next - sigma|), a standard normal, and increments over any subdivision of an
 * interval add up exactly to the increment over the whole interval, whatever the step count. Below the leaf
 * width, W is filled with a bridge sample keyed by the query point.
 */
export function brownianTreeNoise(options: BrownianNoiseOptions): NoiseSource {
  const { seed, sigmaMin, sigmaMax } = options;
  const depth = options.depth ?? 16;
  if (!(sigmaMin >= 0 && sigmaMax > sigmaMin)) {
    throw new RangeError(`brownianTreeNoise: need 0 <= sigmaMin < sigmaMax, got [${sigmaMin}, ${sigmaMax}]`);
  }
  const seedLo = seed >>> 0;
  const seedHi = Math.floor(seed / 4294967296) >>> 0;
  let cacheT = NaN;
  let cacheW: Float64Array | null = null;

  const evaluate = (t: number, n: number): Float64Array => {
    if (t === cacheT && cacheW && cacheW.length === n) return cacheW;
    const w = new Float64Array(n); // W(sigmaMin) = 0
    if (t > sigmaMin) {
      const z = new Float64Array(n);
      const wa = new Float64Array(n); // W at the left end of the current interval
      const wb = new Float64Array(n); // W at the right end
      fillNormals(z, seedLo, seedHi, 0xffffffff, 0);
      const rootStd = Math.sqrt(sigmaMax - sigmaMin);
      for (let i = 0; i < n; i++) wb[i] = rootStd * z[i]!;
      let a = sigmaMin, b = sigmaMax, index = 0;
      let level = 0;
      if (t >= sigmaMax) {
        w.set(wb);
      } else {
        for (; level < depth; level++) {
          const m = 0.5 * (a + b);
          fillNormals(z, seedLo, seedHi, level + 1, index);
          const std = 0.5 * Math.sqrt(b - a);
          if (t < m) {
            for (let i = 0; i < n; i++) wb[i] = 0.5 * (wa[i]! + wb[i]!) + std * z[i]!;
            b = m;
            index = index * 2;
          } else {
            for (let i = 0; i < n; i++) wa[i] = 0.5 * (wa[i]! + wb[i]!) + std * z[i]!;
            a = m;
            index = index * 2 + 1;
          }
          if (t === a) break;
        }
        if (t === a) {
          w.set(wa);
        } else {
          // Brownian bridge between the leaf ends, keyed by the query point
          const f = (t - a) / (b - a);
          const std = Math.sqrt(((t - a) * (b - t)) / (b - a));
          const tb = new Float64Array([t]);
          const tw = new Uint32Array(tb.buffer);
          fillNormals(z, seedLo ^ tw[0]!, seedHi ^ tw[1]!, 0xfffffffe, index);
          for (let i = 0; i < n; i++) w[i] = wa[i]! + f * (wb[i]! - wa[i]!) + std * z[i]!;
        }
      }
    }
    cacheT = t;
    cacheW = w;
    return w;
  };

  const next = (like: Tensor, sigma: number, sigmaNext: number): Tensor => {
    const lo = Math.min(sigma, sigmaNext), hi = Math.max(sigma, sigmaNext);
    const tol = 1e-6 * sigmaMax;
    if (lo < sigmaMin - tol || hi > sigmaMax + tol) {
      throw new RangeError(
        `brownianTreeNoise: noise asked for sigma ${sigma} -> ${sigmaNext}, outside the tree's range [${sigmaMin}, ${sigmaMax}]`,
      );
    }
    const n = like.data.length;
    const w0 = evaluate(Math.max(sigmaMin, Math.min(sigmaMax, sigma)), n).slice();
    const w1 = evaluate(Math.max(sigmaMin, Math.min(sigmaMax, sigmaNext)), n);
    const out = like.data instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
    const inv = 1 / Math.sqrt(Math.abs(sigmaNext - sigma));
    for (let i = 0; i < n; i++) out[i] = (w1[i]! - w0[i]!) * inv;
    return { data: out, shape: [...like.shape] };
  };
  return { next };
}

/** Whether a shape matches (re-exported for noise users). */
export { sameShape };
