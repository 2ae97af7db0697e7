/** A dense, row-major tensor backed by a typed array. Samplers compute in the dtype of their input. */
export type TensorData = Float32Array | Float64Array;

export interface Tensor {
  data: TensorData;
  shape: number[];
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Build a tensor; plain number arrays become Float64Array. Throws when the length does not match the shape. */
export function tensor(data: TensorData | ArrayLike<number>, shape: readonly number[]): Tensor {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`tensor: bad dimension ${d} in shape [${shape.join(', ')}]`);
  }
  const typed: TensorData =
    data instanceof Float32Array || data instanceof Float64Array ? data : Float64Array.from(data as ArrayLike<number>);
  const n = numel(shape);
  if (typed.length !== n) {
    throw new RangeError(`tensor: data has ${typed.length} elements but shape [${shape.join(', ')}] needs ${n}`);
  }
  return { data: typed, shape: [...shape] };
}
