import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lin2, lin3, linComb, addScaled, allFinite, zerosLike, cloneTensor } from '../src/tensor/ops.js';
import { tensor } from '../src/tensor/tensor.js';

test('element-wise helpers write into the given buffer in its dtype', () => {
  const a = tensor(new Float32Array([1, 2, 3]), [3]);
  const b = tensor(new Float32Array([0.1, 0.2, 0.3]), [3]);
  const out = zerosLike(a);
  lin2(out, 2, a, 3, b);
  assert.ok(out.data instanceof Float32Array);
  assert.deepEqual(Array.from(out.data), [2.3, 4.6, 6.9].map(Math.fround));
  lin3(out, 1, a, 1, b, -1, a);
  assert.deepEqual(Array.from(out.data), Array.from(b.data));
  linComb(out, [1, -1, 2], [a, a, b]);
  assert.deepEqual(Array.from(out.data), [0.2, 0.4, 0.6].map((v) => Math.fround(2 * Math.fround(v / 2))));
  const c = cloneTensor(a);
  addScaled(c, 0.5, a);
  assert.deepEqual(Array.from(c.data), [1.5, 3, 4.5]);
  assert.deepEqual(Array.from(a.data), [1, 2, 3]);
});

test('allFinite spots NaN and infinities', () => {
  assert.equal(allFinite(tensor([1, 2, 3e300], [3])), true);
  assert.equal(allFinite(tensor([1, NaN], [2])), false);
  assert.equal(allFinite(tensor([-Infinity, 0], [2])), false);
});
