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

/** torch.arange(n, dtype=float32) / d, elementwise in float32. */
export function torchArangeDivF32(n: number, d: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(f32(f32(i) / f32(d)));
  return out;
}

/** float32 fused multiply-add: the float32 product is exact in float64, so one rounding to float32. */
const fmaf = (a: number, b: number, c: number): number => f32(a * b + c);

const R_LN2F = f32(1.442695040888963407359924681001892137426645954152985934135449406931);
const L2UF = f32(0.693145751953125);
const L2LF = f32(1.428606765330187045e-6);
const EXP_POLY = [
  0.000198527617612853646278381, 0.00139304355252534151077271, 0.00833336077630519866943359, 0.0416664853692054748535156,
  0.166666671633720397949219, 0.5,
].map(f32);

/**
 * float32 exp as torch's CPU kernels compute it (SLEEF's 1-ulp expf with FMA, which torch uses for whole
 * tensors, even single elements): range reduction by ln 2 in two parts, a degree-7 polynomial, scaling by
 * 2^q. This is within 1 ulp of the true exp but not always the correctly rounded value, and the
 * conformance data follows it.
 */
export function expf32(x: number): number {
  const d = f32(x);
  if (Number.isNaN(d)) return NaN;
  if (d < -104) return 0;
  if (d > 100) return Infinity;
  const q = roundHalfEvenInt(f32(d * R_LN2F));
  let s = fmaf(q, -L2UF, d);
  s = fmaf(q, -L2LF, s);
  let u = EXP_POLY[0]!;
  for (let i = 1; i < EXP_POLY.length; i++) u = fmaf(u, s, EXP_POLY[i]!);
  u = f32(1 + fmaf(f32(s * s), u, s));
  return f32(u * 2 ** q);
}

function roundHalfEvenInt(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
