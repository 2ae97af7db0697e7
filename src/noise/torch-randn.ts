import { Mt19937 } from './mt19937.js';
import { numel, type Tensor } from '../tensor/tensor.js';
import { cosCorrect, logCorrect, sinCorrect } from './dd-trig.js';

const f32 = Math.fround;
const TWO_POW_M24 = 2 ** -24;
const TWO_POW_M53 = 2 ** -53;

/** Seed value as PyTorch stores it: an unsigned 64-bit integer. Only its low 32 bits reach mt19937. */
function seedLow32(seed: number | bigint): number {
  if (typeof seed === 'bigint') {
    if (seed < 0n || seed > 0xffffffffffffffffn) throw new RangeError(`seed must be in [0, 2^64-1], got ${seed}`);
    return Number(seed & 0xffffffffn);
  }
  if (!Number.isInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
  if (seed > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`seed ${seed} is above 2^53 and cannot be represented exactly as a number: pass a bigint`);
  }
  return seed % 0x100000000;
}

/**
 * A CPU generator that behaves like `torch.Generator().manual_seed(seed)` (PyTorch 1.13 CPU kernels):
 * mt19937 underneath, a cached second Box-Muller value for the double-precision scalar path, and the
 * 16-wide float path that torch.randn uses for contiguous tensors of 16 or more elements.
 */
export class TorchGenerator {
  private mt: Mt19937;
  private cachedNormal: number | null = null;

  constructor(seed: number | bigint) {
    this.mt = new Mt19937(seedLow32(seed));
  }

  private random64(): number {
    // Two 32-bit draws, the first being the high word; only the low 53 bits are used by uniform doubles.
    const hi = this.mt.nextUint32();
    const lo = this.mt.nextUint32();
    return (hi & 0x1fffff) * 4294967296 + lo;
  }

  /** uniform_real_distribution<float>(0, 1): 24 random bits. */
  uniformFloat(): number {
    return (this.mt.nextUint32() & 0xffffff) * TWO_POW_M24;
  }

  /** uniform_real_distribution<double>(0, 1): 53 random bits. */
  uniformDouble(): number {
    return this.random64() * TWO_POW_M53;
  }

  /** normal_distribution<double>(0, 1), with torch's cache of the sine branch. */
  normalDouble(): number {
    if (this.cachedNormal !== null) {
      const v = this.cachedNormal;
      this.cachedNormal = null;
      return v;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    // 1 - u2 is exact for a 53-bit uniform; libm-exact log, sin and cos as glibc computes them
    const r = Math.sqrt(-2 * logCorrect(1 - u2));
    const theta = 2 * Math.PI * u1;
    this.cachedNormal = r * sinCorrect(theta);
    return r * cosCorrect(theta);
  }

  /** torch.rand(n) in float32 (24-bit uniforms). */
  randFloat32(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniformFloat();
    return out;
  }

  /** torch.randn(n, dtype=float32) on the CPU. */
  randnFloat32(n: number): Float32Array {
    return this.randnInto(new Float32Array(n), () => this.uniformFloat(), boxMuller16Float);
  }

  /** torch.randn(n, dtype=float64) on the CPU. */
  randnFloat64(n: number): Float64Array {
    return this.randnInto(new Float64Array(n), () => this.uniformDouble(), boxMuller16Double);
  }

  /**
   * torch's CPU normal_ for a contiguous tensor: below 16 values the scalar double path; otherwise uniforms for
   * every value, the 16-wide Box-Muller transform over each block of 16, and for a ragged end fresh uniforms for
   * the last 16 values, transformed again.
   */
  private randnInto<T extends Float32Array | Float64Array>(out: T, uniform: () => number, boxMuller16: (d: T, o: number) => void): T {
    const n = out.length;
    if (n < 16) {
      for (let i = 0; i < n; i++) out[i] = this.normalDouble();
      return out;
    }
    for (let i = 0; i < n; i++) out[i] = uniform();
    for (let i = 0; i + 16 <= n; i += 16) boxMuller16(out, i);
    if (n % 16 !== 0) {
      const start = n - 16;
      for (let i = 0; i < 16; i++) out[start + i] = uniform();
      boxMuller16(out, start);
    }
    return out;
  }
}

/**
 * The float32 16-wide Box-Muller transform of torch.randn on x86-64 CPUs with AVX2 (how ComfyUI's seeds
 * are made on almost every PC). PyTorch evaluates it with Cephes-style polynomial log and sincos
 * (avx_mathfun), compiled by GCC with fused multiply-adds. We redo every float32 operation, rounding with
 * Math.fround; `fma` below is a float32 fused multiply-add (the product of two float32 values is exact in
 * a double, so one rounding to float32 remains, up to rare double-rounding ties).
 */
function boxMuller16Float(d: Float32Array, o: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f32(1 - d[o + j]!);
    const u2 = d[o + j + 8]!;
    const radius = f32(Math.sqrt(f32(-2 * logF32(u1))));
    const theta = f32(TWO_PI_F32 * u2);
    sincosF32(theta);
    d[o + j] = f32(radius * sincosOut[1]!);
    d[o + j + 8] = f32(radius * sincosOut[0]!);
  }
}

function fma(a: number, b: number, c: number): number {
  return f32(a * b + c);
}

const TWO_PI_F32 = f32(2 * Math.PI);
const fbits = new Float32Array(1);
const ibits = new Int32Array(fbits.buffer);
const LOG_P = [7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1].map(f32);
const LOG_Q1 = f32(-2.12194440e-4);
const LOG_Q2 = f32(0.693359375);
const SQRT_HALF = f32(0.707106781186547524);

/** Natural log of a float32 in (0, 1], Cephes polynomial with the exponent split off. */
function logF32(v: number): number {
  fbits[0] = v;
  const bits = ibits[0]!;
  let e = ((bits >>> 23) & 0xff) - 0x7f + 1;
  ibits[0] = (bits & ~0x7f800000) | 0x3f000000; // mantissa in [0.5, 1)
  let x = fbits[0]!;
  let lowMantissa = 0;
  if (x < SQRT_HALF) {
    lowMantissa = x;
    e -= 1;
  }
  x = f32(f32(x - 1) + lowMantissa);
  const z = f32(x * x);
  let y = LOG_P[0]!;
  for (let k = 1; k < 9; k++) y = fma(y, x, LOG_P[k]!);
  y = f32(y * x);
  y = fma(y, z, f32(e * LOG_Q1));
  y = fma(-z, 0.5, y);
  return fma(e, LOG_Q2, f32(x + y));
}

const FOUR_OVER_PI = f32(1.27323954473516);
const DP1 = f32(-0.78515625);
const DP2 = f32(-2.4187564849853515625e-4);
const DP3 = f32(-3.77489497744594108e-8);
const COS_P = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f32);
const SIN_P = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f32);
const sincosOut = new Float64Array(2);

/** sin and cos of a float32 (octant reduction with a three-part pi/4), into sincosOut = [sin, cos]. */
function sincosF32(v: number): void {
  let x = Math.abs(v);
  let j = Math.trunc(f32(x * FOUR_OVER_PI));
  j = (j + 1) & ~1;
  const y = j;
  x = fma(y, DP1, x);
  x = fma(y, DP2, x);
  x = fma(y, DP3, x);
  const z = f32(x * x);
  let yc = fma(COS_P[0]!, z, COS_P[1]!);
  yc = fma(yc, z, COS_P[2]!);
  yc = f32(yc * z);
  yc = f32(f32(yc * z - f32(z * 0.5)) + 1);
  let ys = fma(SIN_P[0]!, z, SIN_P[1]!);
  ys = fma(ys, z, SIN_P[2]!);
  ys = f32(ys * z);
  ys = fma(ys, x, x);
  const sinPoly = (j & 2) === 0;
  let s = sinPoly ? ys : yc;
  let c = sinPoly ? yc : ys;
  if ((v < 0) !== ((j & 4) !== 0)) s = -s;
  if (((~(j - 2)) & 4) !== 0) c = -c;
  sincosOut[0] = s;
  sincosOut[1] = c;
}

function boxMuller16Double(d: Float64Array, o: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = 1 - d[o + j]!;
    const u2 = d[o + j + 8]!;
    const radius = Math.sqrt(-2 * logCorrect(u1));
    const theta = 2 * Math.PI * u2;
    // glibc's log, cos and sin round correctly; V8's can be an ulp off
    d[o + j] = radius * cosCorrect(theta);
    d[o + j + 8] = radius * sinCorrect(theta);
  }
}

/** `torch.manual_seed(seed); torch.randn(shape)` on the CPU, float32, bit for bit. */
export function torchRandn(seed: number | bigint, shape: readonly number[]): Tensor {
  const n = numel(shape);
  return { data: new TorchGenerator(seed).randnFloat32(n), shape: [...shape] };
}
