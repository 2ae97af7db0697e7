import type { Tensor } from '../tensor/tensor.js';
import { numel } from '../tensor/tensor.js';
import type { Denoiser } from '../samplers/types.js';
import type { DenoiserPair, RowDenoiser } from './types.js';

function sliceRows(x: Tensor, rows: number[], rowSize: number): Tensor {
  const out = new Float64Array(rows.length * rowSize);
  rows.forEach((r, i) => {
    for (let j = 0; j < rowSize; j++) out[i * rowSize + j] = x.data[r * rowSize + j]!;
  });
  return { data: out, shape: [rows.length, ...x.shape.slice(1)] };
}

function checkOutput(y: Tensor, expected: number, who: string): void {
  if (y.data.length !== expected) {
    throw new RangeError(`${who}: denoiser returned ${y.data.length} values for an input of ${expected}`);
  }
}

/**
 * Evaluate D(x_r; sigma_r) for every row r. Uses the row denoiser when there is one; otherwise groups rows by
 * equal sigma and calls the plain denoiser once per group (one call in total when all sigmas are equal).
 */
export async function denoiseRows(pair: DenoiserPair, x: Tensor, sigmas: Float64Array): Promise<Float64Array> {
  const rows = x.shape[0]!;
  const rowSize = numel(x.shape) / rows;
  const out = new Float64Array(rows * rowSize);
  const max = pair.maxBatch && pair.maxBatch > 0 ? pair.maxBatch : rows;
  if (pair.rowDenoiser) {
    for (let start = 0; start < rows; start += max) {
      const idx = Array.from({ length: Math.min(max, rows - start) }, (_, i) => start + i);
      const part = idx.length === rows ? x : sliceRows(x, idx, rowSize);
      const y = await pair.rowDenoiser(part, sigmas.subarray(start, start + idx.length));
      checkOutput(y, idx.length * rowSize, 'KLUB');
      out.set(y.data, start * rowSize);
    }
    return out;
  }
  const groups = new Map<number, number[]>();
  for (let r = 0; r < rows; r++) {
    const g = groups.get(sigmas[r]!);
    if (g) g.push(r);
    else groups.set(sigmas[r]!, [r]);
  }
  for (const [sigma, members] of groups) {
    for (let start = 0; start < members.length; start += max) {
      const idx = members.slice(start, start + max);
      const part = idx.length === rows ? x : sliceRows(x, idx, rowSize);
      const y = await pair.denoiser(part, sigma);
      checkOutput(y, idx.length * rowSize, 'KLUB');
      idx.forEach((r, i) => {
        for (let j = 0; j < rowSize; j++) out[r * rowSize + j] = y.data[i * rowSize + j]!;
      });
    }
  }
  return out;
}

/** Evaluate D(x; sigma) for a whole batch at one sigma, in chunks of maxBatch rows. */
export async function denoiseAt(pair: DenoiserPair, x: Tensor, sigma: number): Promise<Float64Array> {
  const rows = x.shape[0]!;
  const rowSize = numel(x.shape) / rows;
  const max = pair.maxBatch && pair.maxBatch > 0 ? pair.maxBatch : rows;
  if (max >= rows) {
    const y = await pair.denoiser(x, sigma);
    checkOutput(y, rows * rowSize, 'KLUB');
    return y.data instanceof Float64Array ? y.data : Float64Array.from(y.data);
  }
  const out = new Float64Array(rows * rowSize);
  for (let start = 0; start < rows; start += max) {
    const n = Math.min(max, rows - start);
    const part: Tensor = { data: x.data.subarray(start * rowSize, (start + n) * rowSize), shape: [n, ...x.shape.slice(1)] };
    const y = await pair.denoiser(part, sigma);
    checkOutput(y, n * rowSize, 'KLUB');
    out.set(y.data, start * rowSize);
  }
  return out;
}

/** Wrap a row denoiser as a plain Denoiser (same sigma for every row). */
export function denoiserFromRows(rowDenoiser: RowDenoiser): Denoiser {
  return (x, sigma) => rowDenoiser(x, new Float64Array(x.shape[0] ?? 1).fill(sigma));
}
