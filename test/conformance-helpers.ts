// Shared by the ComfyUI sampler conformance tests (SD1.5 and flow): the callback stream check.
import assert from 'node:assert/strict';

/** One ComfyUI callback as recorded in the conformance data. */
export interface RecordedCallback {
  i: number;
  sigma?: number;
  sigma_hat?: number;
  x: number[][];
  denoised: number[][];
}

/** One onStep call of ours, copied out of the sampler's buffers. */
export interface ObservedStep {
  i: number;
  sigma: number;
  sigmaHat: number;
  x: number[];
  denoised: number[];
}

/** Step index, sigma, sigma_hat, x and denoised of every callback, x and denoised within tol of the largest |x|. */
export function assertCallbackStream(steps: readonly ObservedStep[], callbacks: readonly RecordedCallback[], tol: number): void {
  assert.equal(steps.length, callbacks.length, 'number of callbacks');
  callbacks.forEach((c, k) => {
    const m = steps[k]!;
    assert.equal(m.i, c.i, `callback ${k}: i`);
    if (c.sigma !== undefined) assert.ok(Math.abs(m.sigma - c.sigma) <= 1e-12 * c.sigma, `callback ${k}: sigma ${m.sigma} vs ${c.sigma}`);
    if (c.sigma_hat !== undefined) assert.ok(Math.abs(m.sigmaHat - c.sigma_hat) <= 1e-12 * c.sigma_hat, `callback ${k}: sigma_hat`);
    const rx = c.x.flat(), rd = c.denoised.flat();
    const scale = Math.max(...rx.map(Math.abs));
    for (let j = 0; j < rx.length; j++) {
      assert.ok(Math.abs(m.x[j]! - rx[j]!) <= tol * scale, `callback ${k}: x[${j}]`);
      assert.ok(Math.abs(m.denoised[j]! - rd[j]!) <= tol * scale, `callback ${k}: denoised[${j}]`);
    }
  });
}
