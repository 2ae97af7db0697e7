import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allFinite, combineInto, zerosLike, cloneTensor } from '../src/tensor/ops.js';
import { tensor } from '../src/tensor/tensor.js';

test('element-wise helpers write into the given buffer in its dtype', () => {
  const a = tensor(new Float32Array([1, 2, 3]), [3]);
  const b = tensor(new Float32Array([0.1, 0.2, 0.3]), [3]);
  const out = zerosLike(a);
  combineInto(out.data, [2, 3], [a.data, b.data]);
  assert.ok(out.data instanceof Float32Array);
  assert.deepEqual(Array.from(out.data), [2.3, 4.6, 6.9].map(Math.fround));
  combineInto(out.data, [1, 1, -1], [a.data, b.data, a.data]);
  assert.deepEqual(Array.from(out.data), Array.from(b.data));
  // seven terms: six fused, then the seventh in a second pass; out may be an input
  combineInto(out.data, [1, -1, 2, 0, 0, 0, 1], [a.data, a.data, b.data, a.data, a.data, a.data, out.data]);
  assert.deepEqual(Array.from(out.data), [0.1, 0.2, 0.3].map((v) => Math.fround(Math.fround(2 * Math.fround(v)) + Math.fround(v))));
  const c = cloneTensor(a);
  combineInto(c.data, [1, 0.5], [c.data, a.data]);
  assert.deepEqual(Array.from(c.data), [1.5, 3, 4.5]);
  assert.deepEqual(Array.from(a.data), [1, 2, 3]);
});

test('allFinite spots NaN and infinities', () => {
  assert.equal(allFinite(tensor([1, 2, 3e300], [3])), true);
  assert.equal(allFinite(tensor([1, NaN], [2])), false);
  assert.equal(allFinite(tensor([-Infinity, 0], [2])), false);
});
