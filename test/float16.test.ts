// float16 data on every supported Node: bit patterns in a Uint16Array (Node 20/22) or a Float16Array (Node 24+).
// `.ci/run` runs this suite on Node 20 and on Node 24, where onnxruntime hands out Float16Arrays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { float16ToFloat32, halfBits, toHalfBits, useHalfBits } from '../src/runtime/float16.js';
import { floatTensor, openSession, readFloat } from '../src/runtime/session.js';
import { GraphBuilder } from '../src/fixtures/onnx-graph.js';

const tmp = mkdtempSync(join(tmpdir(), 'ays-f16-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const hasFloat16Array = typeof (globalThis as { Float16Array?: unknown }).Float16Array === 'function';

test('halfBits: a Uint16Array is its own bits; any other 2-byte view is read as bit patterns without a copy', () => {
  const bits = Uint16Array.from([0x3c00, 0xc000, 0x7bff]);
  assert.equal(halfBits(bits), bits);
  const asInt16 = new Int16Array(bits.buffer);
  const viewed = halfBits(asInt16);
  assert.deepEqual([...viewed], [0x3c00, 0xc000, 0x7bff]);
  assert.equal(viewed.buffer, bits.buffer, 'same memory');
  assert.deepEqual([...float16ToFloat32(asInt16)], [1, -2, 65504]);
  assert.throws(() => halfBits(new Float32Array(2) as never), /Uint16Array or a Float16Array, got Float32Array/);
});

test('float16ToFloat32 reads a Float16Array (Node 24) by value, not as NaN', (t) => {
  if (!hasFloat16Array) {
    t.skip(`no Float16Array on Node ${process.version}; .ci/run runs this on Node 24`);
    return;
  }
  const F16 = (globalThis as unknown as { Float16Array: new (v: number[]) => ArrayBufferView & { length: number } }).Float16Array;
  const values = new F16([1, -2.5, 0.333251953125, 65504, 0]);
  assert.deepEqual([...float16ToFloat32(values)], [1, -2.5, 0.333251953125, 65504, 0]);
});

test('useHalfBits: an onnxruntime float16 tensor hands the binding its Uint16Array on every Node', () => {
  const bits = Uint16Array.from([toHalfBits(1), toHalfBits(2)]);
  const t = useHalfBits(new ort.Tensor('float16', bits, [2]), bits);
  assert.ok(t.data instanceof Uint16Array, `data is a ${(t.data as object).constructor.name}`);
  assert.equal((t.data as Uint16Array).buffer, bits.buffer);
  const f = new ort.Tensor('float32', Float32Array.from([1]), [1]);
  assert.equal(useHalfBits(f, bits).data, f.data, 'other types are left alone');
});

function halfModel(): Uint8Array {
  const g = new GraphBuilder('half');
  const x = g.input('x', 'float16', ['batch', 4]);
  const three = g.init('float16', [1], [3]);
  g.output('y', 'float16', ['batch', 4], g.op('Mul', [x, three]));
  return g.toBytes();
}

test('a float16 model runs with float16 inputs and a preallocated float16 output on this Node', async () => {
  const path = join(tmp, 'half.onnx');
  writeFileSync(path, halfModel());
  const s = await openSession(path, { threads: 1 });
  try {
    const out = await s.run({ x: floatTensor('float16', [0.5, -1.25, 3, 100], [1, 4]) });
    assert.deepEqual([...readFloat(out.y!)], [1.5, -3.75, 9, 300]);
    // preallocated output: onnxruntime writes into our bits
    const outBits = new Uint16Array(4);
    const y = useHalfBits(new ort.Tensor('float16', outBits, [1, 4]), outBits);
    await s.run({ x: floatTensor('float16', [1, 2, 4, 8], [1, 4]) }, { y });
    assert.deepEqual([...float16ToFloat32(outBits)], [3, 6, 12, 24]);
  } finally {
    await s.release();
  }
});
