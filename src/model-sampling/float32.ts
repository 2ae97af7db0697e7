/**
 * Float32 arithmetic the way PyTorch's CPU kernels do it, so schedules can match ComfyUI bit for bit.
 *
 * ComfyUI keeps sigma tables and most schedules in float32 tensors. Each float32 tensor op rounds its
 * result to float32; `f32` after every elementary op reproduces that. Transcendentals (exp, log, pow)
 * are evaluated in float64 and rounded once, which is the correctly rounded float32 result; torch's
 * SIMD versions are within 1 ulp of it, and the conformance tests check that.
 */
export const f32 = Math.fround;

/** Vector width (in float32 lanes) of the torch build that produced the conformance data (AVX2 = 8). */
export const TORCH_VEC_F32 = 8;
/** Vector width in float64 lanes for the same build. */
export const TORCH_VEC_F64 = 4;

/**
 * torch.linspace(start, end, steps) in float32 (the default dtype), element for element.
 *
 * Torch computes the step in float32, fills the first half forward from `start` and the second half
 * backward from `end`. Its vectorised CPU loop fills blocks of two vectors at a time, where each vector
 * starts from a base computed as above and adds i*step lane by lane; the tail that does not fill two
 * vectors is done one element at a time. The lane-wise adds round differently from the scalar formula,
 * so we follow the same blocking. The torch build fuses the scalar `start + step*i` into one FMA (one
 * rounding), which the conformance data shows (linspace(0, 1, 15)[7] is 0.49999997, not 0.5), while the
 * lanes of a vector block round the product and the sum separately.
 */
export function torchLinspaceF32(start: number, end: number, steps: number, vec = TORCH_VEC_F32): number[] {
  // float32 operands: the product is exact in float64, so rounding the float64 sum to float32 is the FMA
  return torchLinspace(start, end, steps, vec, f32, (a, b, c) => f32(a * b + c));
}

/** torch.linspace(..., dtype=torch.float64): same algorithm with float64 rounding. */
export function torchLinspaceF64(start: number, end: number, steps: number, vec = TORCH_VEC_F64): number[] {
  return torchLinspace(start, end, steps, vec, (x) => x, fma64);
}

/** a*b + c with one rounding (double-double evaluation; exact except in rare double-rounding ties). */
export function fma64(a: number, b: number, c: number): number {
  const p = a * b;
  const split = (x: number): [number, number] => {
    const t = 134217729 * x;
    const hi = t - (t - x);
    return [hi, x - hi];
  };
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  const pErr = ah * bh - p + ah * bl + al * bh + al * bl;
  const s = p + c;
  const bb = s - p;
  const sErr = p - (s - bb) + (c - bb);
  return s + (pErr + sErr);
}

function torchLinspace(
  start: number,
  end: number,
  steps: number,
  vec: number,
  r: (x: number) => number,
  fma: (a: number, b: number, c: number) => number,
): number[] {
  if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`linspace: steps must be a non-negative integer, got ${steps}`);
  if (steps === 0) return [];
  const s = r(start);
  const e = r(end);
  if (steps === 1) return [s];
  const step = r(r(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  const out = new Array<number>(steps);
  const scalarAt = (idx: number): number => (idx < halfway ? fma(step, idx, s) : fma(-step, steps - idx - 1, e));
  let i = 0;
  for (; i <= steps - 2 * vec; i += 2 * vec) {
    for (const block of [i, i + vec]) {
      const base = scalarAt(block);
      for (let lane = 0; lane < vec; lane++) out[block + lane] = lane === 0 ? base : r(base + r(lane * step));
    }
  }
  for (; i < steps; i++) out[i] = scalarAt(i);
  return out;
}

import { powf32 } from './sleef-f32.js';
export { expf32, sinf32, cosf32, tanf32, powf32 } from './sleef-f32.js';

/**
 * torch.pow(tensor, exponent) for a float32 tensor and a scalar exponent, element for element: 2, 3, -2,
 * 0.5, -0.5 and -1 are special-cased (products, sqrt, reciprocal); otherwise blocks of two vectors go
 * through SLEEF's powf and the tail through libm powf (taken as correctly rounded).
 */
export function torchPowScalarF32(values: readonly number[], exponent: number, vec = TORCH_VEC_F32): number[] {
  const e = exponent;
  const special: Record<string, (x: number) => number> = {
    '2': (x) => f32(x * x),
    '3': (x) => f32(f32(x * x) * x),
    '-2': (x) => f32(1 / f32(x * x)),
    '0.5': (x) => f32(Math.sqrt(x)),
    '-0.5': (x) => f32(1 / f32(Math.sqrt(x))),
    '-1': (x) => f32(1 / x),
  };
  const sp = special[String(e)];
  if (sp) return values.map((v) => sp(f32(v)));
  const blocked = Math.floor(values.length / (2 * vec)) * 2 * vec;
  return values.map((v, i) => (i < blocked ? powf32(v, e) : f32(f32(v) ** f32(e))));
}
