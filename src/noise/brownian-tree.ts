import type { NoiseSource } from '../core/types.js';
import type { Tensor } from '../tensor/tensor.js';
import { bridgeFill, keyedState } from './ziggurat.js';
import { validateSeed } from './seed.js';

export interface BrownianNoiseOptions {
  /** A non-negative integer below 2^64 (a bigint above 2^53 - 1); all 64 bits count. */
  seed: number | bigint;
  /** Interval of noise levels the tree covers (sigma_min >= 0 of the schedule ... sigma_max). */
  sigmaMin: number;
  sigmaMax: number;
  /** Depth of the tree (default 16: leaves are 2^-16 of the range in log(sigma + c), see brownianTreeNoise). */
  depth?: number;
}

// key domains, so that tree nodes and leaf bridges never share a stream
const NODE = 1, LEAF = 2;
/** How many recent W(sigma) values are kept: a step's start is the previous step's end, stage points repeat. */
const RECENT = 4;

/**
 * A seeded Brownian motion W(sigma) on [sigmaMin, sigmaMax], one independent motion per element, with
 * W(sigmaMin) = 0, evaluated through a fixed binary tree of Brownian-bridge points (in the spirit of torchsde's
 * BrownianTree; not bit-identical to it). The tree splits each interval at the midpoint of u = log(sigma + c)
 * (c = 0 unless sigmaMin is below 1e-4 sigmaMax), so that it resolves the small sigmas of a schedule as finely as
 * the large ones; the bridge variances are those of W in sigma itself. Every node draws its whole tensor of
 * normals from a generator keyed by (seed, level, index), so W(sigma) is a fixed function of (seed, sigma).
 *
 * The noise for a step sigma -> next is (W(next) - W(sigma)) / sqrt(|next - sigma|), a standard normal per
 * element (k-diffusion's BrownianTreeNoiseSampler); increments over any subdivision of an interval add up to
 * the increment over the whole, whatever the step count. A zero-length step (sigma = next, as SEEDS with r = 1
 * asks for) has a zero increment: its noise is all zeros (any weight a sampler gives it is zero too).
 * Below the leaf width, W is filled with a bridge sample keyed by the query point.
 *
 * The law is exact as long as no two points asked for share a leaf: leaves are 2^-depth of the range in u
 * (about 1e-4 in log sigma for SDXL's range at the default depth 16); raise depth for finer steps.
 *
 * Speed: the tree keeps the path to the last point it evaluated, and consecutive steps are close, so a new point
 * costs one tensor of normals per tree level below the two points' common ancestor, plus the leaf bridge
 * (about 13 to 15 tensors for a 10-step schedule). (Walking blocks of elements through all levels at once, and
 * a counter-based generator instead of one stream per node, both measured slower.)
 */
export function brownianTreeNoise(options: BrownianNoiseOptions): NoiseSource {
  const { seed, sigmaMin, sigmaMax } = options;
  const depth = options.depth ?? 16;
  if (!(Number.isFinite(sigmaMin) && Number.isFinite(sigmaMax) && sigmaMin >= 0 && sigmaMax > sigmaMin)) {
    throw new RangeError(`brownianTreeNoise: need finite 0 <= sigmaMin < sigmaMax, got [${sigmaMin}, ${sigmaMax}]`);
  }
  if (!Number.isInteger(depth) || depth < 1 || depth > 30) throw new RangeError(`brownianTreeNoise: depth must be an integer in 1..30, got ${depth}`);
  let seed64: bigint;
  try {
    seed64 = validateSeed(seed);
  } catch (err) {
    throw new RangeError(`brownianTreeNoise: ${(err as Error).message}`);
  }
  // the two 32-bit halves of the 64-bit seed key every node's stream
  const seedLo = Number(seed64 & 0xffffffffn);
  const seedHi = Number(seed64 >> 32n);
  const c = Math.max(0, 1e-4 * sigmaMax - sigmaMin);
  const uMin = Math.log(sigmaMin + c), uMax = Math.log(sigmaMax + c);
  const key = new Uint32Array(4), spare = new Uint32Array(4);
  const tolerance = 1e-6 * sigmaMax;

  // Per element count n (reset when it changes): W at the tree's ends, and the cached path. Level L of the path
  // is the interval [pathA[L], pathB[L]] (node index pathIndex[L]) whose split point pathMid[L] holds
  // W(pathSplit[L]); levels below validLevels are valid.
  let n = -1;
  let zeros = new Float64Array(0), root = new Float64Array(0);
  let pathMid: Float64Array[] = [];
  const pathIndex = new Float64Array(depth), pathSplit = new Float64Array(depth);
  let validLevels = 0;
  let recentT: number[] = [];
  let recentW: Float64Array[] = [];
  let recentNext = 0;

  const reset = (size: number): void => {
    n = size;
    zeros = new Float64Array(n);
    root = new Float64Array(n);
    keyedState(key, seedLo, seedHi, NODE, 0, 0);
    bridgeFill(root, zeros, 0, zeros, 0, Math.sqrt(sigmaMax - sigmaMin), n, key, spare);
    pathMid = Array.from({ length: depth }, () => new Float64Array(n));
    validLevels = 0;
    recentT = [];
    recentW = Array.from({ length: RECENT }, () => new Float64Array(n));
    recentNext = 0;
  };

  /** W(t) into out, for sigmaMin <= t <= sigmaMax. */
  const evaluate = (t: number, out: Float64Array): void => {
    if (t <= sigmaMin) return out.set(zeros);
    if (t >= sigmaMax) return out.set(root);
    let a = sigmaMin, b = sigmaMax, ua = uMin, ub = uMax, index = 0;
    let wa: Float64Array = zeros, wb: Float64Array = root;
    for (let level = 0; level < depth; level++) {
      const mid = pathMid[level]!;
      if (!(level < validLevels && pathIndex[level] === index)) {
        // the split point in sigma, kept strictly inside (a, b)
        let m = Math.exp(0.5 * (ua + ub)) - c;
        if (!(m > a && m < b)) m = 0.5 * (a + b);
        const width = b - a;
        keyedState(key, seedLo, seedHi, NODE, level + 1, index);
        bridgeFill(mid, wa, (b - m) / width, wb, (m - a) / width, Math.sqrt(((m - a) * (b - m)) / width), n, key, spare);
        pathIndex[level] = index;
        pathSplit[level] = m;
        validLevels = level + 1;
      }
      const m = pathSplit[level]!;
      const um = 0.5 * (ua + ub);
      if (t === m) return out.set(mid);
      if (t < m) {
        b = m;
        ub = um;
        wb = mid;
        index = index * 2;
      } else {
        a = m;
        ua = um;
        wa = mid;
        index = index * 2 + 1;
      }
    }
    // Brownian bridge between the leaf ends, keyed by the query point
    const width = b - a;
    const bits = new Uint32Array(new Float64Array([t]).buffer);
    keyedState(key, seedLo, seedHi, LEAF, bits[0]!, bits[1]!);
    bridgeFill(out, wa, (b - t) / width, wb, (t - a) / width, Math.sqrt(((t - a) * (b - t)) / width), n, key, spare);
  };

  /** W(t), from the recent values when t was asked for lately. */
  const valueAt = (t: number, keep: Float64Array | null): Float64Array => {
    const k = recentT.indexOf(t);
    if (k >= 0) return recentW[k]!;
    // take the oldest slot, but never the one holding the other end of the current step
    let slot = recentNext;
    if (recentW[slot] === keep) slot = (slot + 1) % RECENT;
    recentNext = (slot + 1) % RECENT;
    const w = recentW[slot]!;
    recentT[slot] = NaN;
    evaluate(t, w);
    recentT[slot] = t;
    return w;
  };

  const next = (like: Tensor, sigma: number, sigmaNext: number): Tensor => {
    if (!(Number.isFinite(sigma) && Number.isFinite(sigmaNext))) {
      throw new RangeError(`brownianTreeNoise: noise asked for sigma ${sigma} -> ${sigmaNext}; both ends must be finite noise levels`);
    }
    const lo = Math.min(sigma, sigmaNext), hi = Math.max(sigma, sigmaNext);
    if (lo < sigmaMin - tolerance || hi > sigmaMax + tolerance) {
      throw new RangeError(
        `brownianTreeNoise: noise asked for sigma ${sigma} -> ${sigmaNext}, outside the tree's range [${sigmaMin}, ${sigmaMax}]`,
      );
    }
    const size = like.data.length;
    const out = like.data instanceof Float32Array ? new Float32Array(size) : new Float64Array(size);
    const t0 = Math.max(sigmaMin, Math.min(sigmaMax, sigma)), t1 = Math.max(sigmaMin, Math.min(sigmaMax, sigmaNext));
    if (t0 === t1) return { data: out, shape: [...like.shape] };
    if (size !== n) reset(size);
    const w0 = valueAt(t0, null);
    const w1 = valueAt(t1, w0);
    const inv = 1 / Math.sqrt(Math.abs(sigmaNext - sigma));
    for (let i = 0; i < size; i++) out[i] = (w1[i]! - w0[i]!) * inv;
    return { data: out, shape: [...like.shape] };
  };
  return { next };
}

/**
 * A Brownian path that goes on above `sigmaMax`: up to it (and within its tree's tolerance of 1e-6 sigmaMax),
 * exactly `brownianTreeNoise(options)` (the same draws, so every result on a schedule inside the range is
 * unchanged); above it, an independent tree over [sigmaMax, headroom * sigmaMax] keyed by the seed mixed with a
 * fixed odd constant. Paired comparisons over a model's range need it because some shipped schedules start above
 * the model's own sigma_max: a little (AYS's A1111 SD1.5 table starts at 14.615, the model at 14.6146) or far (vp).
 *
 * @example
 * const noise = extendedBrownianTreeNoise({ seed: 5, sigmaMin: 0, sigmaMax: 14.6146 });
 * noise.next(x, 14.615, 2.39); // the step's increment: the part above 14.6146 plus the part below
 */
export function extendedBrownianTreeNoise(options: BrownianNoiseOptions & { headroom?: number }): NoiseSource {
  const inner = brownianTreeNoise(options);
  const T = options.sigmaMax;
  const headroom = options.headroom ?? 1000;
  if (!(headroom > 1)) throw new RangeError(`extendedBrownianTreeNoise: headroom must be > 1, got ${headroom}`);
  const mixed = validateSeed(options.seed) ^ 0x9e3779b97f4a7c15n;
  let above: NoiseSource | null = null;
  const aboveTree = (): NoiseSource =>
    (above ??= brownianTreeNoise({ seed: mixed, sigmaMin: T, sigmaMax: headroom * T, ...(options.depth ? { depth: options.depth } : {}) }));
  const tolerance = 1e-6 * T;
  const next = (like: Tensor, sigma: number, sigmaNext: number): Tensor => {
    const hi = Math.max(sigma, sigmaNext), lo = Math.min(sigma, sigmaNext);
    if (!(hi > T + tolerance)) return inner.next(like, sigma, sigmaNext);
    if (lo >= T) return aboveTree().next(like, sigma, sigmaNext);
    // the step crosses sigmaMax: W(lo) - W(hi) is the sum of the increments on either side of it, in the caller's order
    const a = aboveTree().next(like, hi, T), b = inner.next(like, T, lo);
    const wa = Math.sqrt(hi - T), wb = Math.sqrt(T - lo), norm = 1 / Math.sqrt(hi - lo), sign = sigma >= sigmaNext ? 1 : -1;
    const out = like.data instanceof Float32Array ? new Float32Array(like.data.length) : new Float64Array(like.data.length);
    for (let i = 0; i < out.length; i++) out[i] = sign * (a.data[i]! * wa + b.data[i]! * wb) * norm;
    return { data: out, shape: [...like.shape] };
  };
  return { next };
}
