// Float32 exp as PyTorch's CPU kernels compute it, for ComfyUI's float32 sampler scalars (dpm_fast).
// torch maps exp over a buffer with SLEEF's vectorised expf (1-ulp accuracy, fused multiply-adds), even for
// a single element, so Math.fround(Math.exp(x)) can be one ulp off; sleefExpf redoes that algorithm.
const f32 = Math.fround;

/** Exact a*b + c for doubles (one rounding), via Dekker splitting. */
function fmaD(a: number, b: number, c: number): number {
  const p = a * b;
  // error of the product
  const SPLIT = 134217729; // 2^27 + 1
  const ta = SPLIT * a, ah = ta - (ta - a), al = a - ah;
  const tb = SPLIT * b, bh = tb - (tb - b), bl = b - bh;
  const pe = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
  // p + pe + c with one final rounding (two-sum of p and c, then add the small parts)
  const s = p + c;
  const bb = s - p;
  const se = (p - (s - bb)) + (c - bb);
  return s + (se + pe);
}

/** float32 fused multiply-add: one rounding of the exact a*b + c. */
function fmaF(a: number, b: number, c: number): number {
  return f32(fmaD(a, b, c));
}

const R_LN2F = f32(1.442695040888963407359924681001892137426645954152985934135449406931);
const L2UF = f32(0.693145751953125);
const L2LF = f32(1.428606765330187045e-6);
const SLEEF_P = [0.000198527617612853646278381, 0.00139304355252534151077271, 0.00833336077630519866943359, 0.0416664853692054748535156, 0.166666671633720397949219, 0.5].map(f32);

/** SLEEF xexpf (u10) in float32 with FMA, as in PyTorch's AVX2 build. */
export function sleefExpf(dIn: number): number {
  const d = f32(dIn);
  if (d < -104) return 0;
  if (d > 100) return Infinity;
  const qf = f32(d * R_LN2F);
  // round to nearest, ties to even
  let q = Math.round(qf);
  if (Math.abs(qf - Math.trunc(qf)) === 0.5 && q % 2 !== 0) q -= 1;
  let s = fmaF(q, -L2UF, d);
  s = fmaF(q, -L2LF, s);
  let u = SLEEF_P[0]!;
  for (let k = 1; k < 6; k++) u = fmaF(u, s, SLEEF_P[k]!);
  u = f32(1 + fmaF(f32(s * s), u, s));
  return f32(u * 2 ** q);
}
