import type { Tensor, TensorData } from './tensor.js';

// Element-wise helpers for samplers. Each is one plain loop over typed arrays, writing into a caller-owned
// output so a sampler can reuse its buffers across steps. Arithmetic runs in doubles and is stored in the
// output's dtype, which is x's dtype (a Float32Array output rounds each stored value to float32, as torch does).

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A new zero-filled tensor with x's shape and dtype. */
export function zerosLike(x: Tensor): Tensor {
  const n = x.data.length;
  const data: TensorData = x.data instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
  return { data, shape: [...x.shape] };
}

/** A copy of x (same dtype). */
export function cloneTensor(x: Tensor): Tensor {
  return { data: x.data.slice(), shape: [...x.shape] };
}

export function copyInto(out: Tensor, src: Tensor): Tensor {
  out.data.set(src.data);
  return out;
}

/** out = a*x */
export function scale(out: Tensor, a: number, x: Tensor): Tensor {
  const o = out.data, xd = x.data, n = o.length;
  for (let i = 0; i < n; i++) o[i] = a * xd[i]!;
  return out;
}

/** True when every element is finite: v * 0 is NaN exactly for NaN and infinities. Four accumulators keep
 * the loop from waiting on one chain of additions. */
export function allFinite(x: Tensor): boolean {
  const d = x.data, n = d.length;
  let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  // the remainder first: a tail loop that rarely runs makes V8 deoptimise this function on every call
  const r = n & 3;
  for (let i = 0; i < r; i++) a0 += d[i]! * 0;
  for (let i = r; i < n; i += 4) {
    a0 += d[i]! * 0;
    a1 += d[i + 1]! * 0;
    a2 += d[i + 2]! * 0;
    a3 += d[i + 3]! * 0;
  }
  return a0 + a1 + a2 + a3 === 0;
}

/**
 * out = sum_k c[k] * a[k] over raw arrays, one fused pass for up to 6 terms (more terms fall back to
 * several passes). `out` may be one of the inputs.
 */
export function combineInto(out: TensorData, c: readonly number[], a: readonly TensorData[]): void {
  const n = out.length;
  const k = a.length;
  if (k === 0) {
    out.fill(0);
    return;
  }
  if (k > 6) {
    const tmp = out instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
    combineInto(tmp, c.slice(0, 6), a.slice(0, 6));
    combineInto(out, [1, ...c.slice(6)], [tmp, ...a.slice(6)]);
    return;
  }
  const a0 = a[0]!, a1 = a[1] ?? a0, a2 = a[2] ?? a0, a3 = a[3] ?? a0, a4 = a[4] ?? a0, a5 = a[5] ?? a0;
  const c0 = c[0]!, c1 = k > 1 ? c[1]! : 0, c2 = k > 2 ? c[2]! : 0, c3 = k > 3 ? c[3]! : 0, c4 = k > 4 ? c[4]! : 0, c5 = k > 5 ? c[5]! : 0;
  if (k <= 3) {
    for (let i = 0; i < n; i++) out[i] = c0 * a0[i]! + c1 * a1[i]! + c2 * a2[i]!;
  } else {
    for (let i = 0; i < n; i++) out[i] = c0 * a0[i]! + c1 * a1[i]! + c2 * a2[i]! + c3 * a3[i]! + c4 * a4[i]! + c5 * a5[i]!;
  }
}
