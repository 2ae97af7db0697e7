/**
 * IEEE 754 half-precision <-> single-precision conversion. onnxruntime-node passes float16 tensors as the raw
 * 16-bit patterns in a Uint16Array on Node 20 and 22; on Node 24, where `Float16Array` exists, onnxruntime-common
 * hands outputs back as a `Float16Array` (values, not bit patterns) and wraps float16 input data into one, which
 * the native binding of onnxruntime-node 1.30 cannot read ("not enough space: expected N, got 0"). The helpers here
 * accept both forms: `halfBits` views any float16 data as its bit patterns, and `useHalfBits` makes a float16
 * tensor hand the binding a Uint16Array again.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** One float to the nearest float16 bit pattern (round half to even; overflow to infinity; NaN stays NaN). */
export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // Inf or NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    // subnormal half (or zero): shift the implicit 1 in and round to nearest even
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && (m & 1) === 1)) m += 1;
    return sign | m;
  }
  const rest = mant & 0x1fff;
  let m = mant >>> 13;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1) === 1)) {
    m += 1;
    if (m === 0x400) {
      m = 0;
      e += 1;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** One float16 bit pattern to its float value. */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Convert a float array to float16 bit patterns, writing into `out` when given (no allocation per step). */
export function float32ToFloat16(src: ArrayLike<number>, out?: Uint16Array): Uint16Array {
  const dst = out ?? new Uint16Array(src.length);
  if (dst.length !== src.length) throw new RangeError(`float32ToFloat16: output has ${dst.length} elements, input ${src.length}`);
  for (let i = 0; i < src.length; i++) dst[i] = toHalfBits(src[i]!);
  return dst;
}

let halfTable: Float32Array | null = null;

/** Float16 data as onnxruntime hands it out: bit patterns (Node 20/22) or a `Float16Array` (Node 24+). */
export type HalfData = Uint16Array | (ArrayBufferView & { readonly length: number });

/**
 * The float16 bit patterns of float16 tensor data: the array itself when it is a Uint16Array, else a Uint16Array
 * view of the same memory (a `Float16Array` stores the same 16-bit patterns). No copy.
 */
export function halfBits(data: HalfData): Uint16Array {
  if (data instanceof Uint16Array) return data;
  if (!ArrayBuffer.isView(data) || data.byteLength !== data.length * 2) {
    throw new TypeError(`float16 data must be a Uint16Array or a Float16Array, got ${(data as object)?.constructor?.name ?? typeof data}`);
  }
  return new Uint16Array(data.buffer, data.byteOffset, data.length);
}

/**
 * Make an onnxruntime float16 tensor built from `bits` pass them to the native binding as a Uint16Array.
 * On Node 24 onnxruntime-common stores a `Float16Array` view instead, which onnxruntime-node's binding reads as
 * 0 bytes; this puts the Uint16Array view (same memory) back. A no-op on Node 20/22 and for other types.
 * Call it on every float16 tensor created for an input or a preallocated output.
 *
 * @example const t = useHalfBits(new ort.Tensor('float16', bits, shape), bits)
 */
export function useHalfBits<T extends { readonly type: string; readonly data: unknown }>(tensor: T, bits: Uint16Array): T {
  if (tensor.type === 'float16' && !(tensor.data instanceof Uint16Array)) {
    // onnxruntime-common keeps the data in `cpuData`; the `data` getter returns it.
    (tensor as unknown as { cpuData: unknown }).cpuData = bits;
  }
  return tensor;
}

/**
 * Convert float16 data (bit patterns, or a Node 24 `Float16Array`) to float32, writing into `out` when given
 * (a 65536-entry table, built once).
 */
export function float16ToFloat32(data: HalfData, out?: Float32Array): Float32Array {
  const src = halfBits(data);
  const dst = out ?? new Float32Array(src.length);
  if (dst.length !== src.length) throw new RangeError(`float16ToFloat32: output has ${dst.length} elements, input ${src.length}`);
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = fromHalfBits(h);
  }
  const table = halfTable;
  for (let i = 0; i < src.length; i++) dst[i] = table[src[i]!]!;
  return dst;
}
