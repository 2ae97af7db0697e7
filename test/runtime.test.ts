import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromHalfBits, toHalfBits, float32ToFloat16, float16ToFloat32 } from '../src/runtime/float16.js';
import {
  openSession,
  requireInputs,
  requireOutput,
  checkRank,
  checkDim,
  checkType,
  cudaAvailable,
  floatTensor,
  readFloat,
  ModelError,
} from '../src/runtime/session.js';
import { GraphBuilder } from '../src/fixtures/onnx-graph.js';

const tmp = mkdtempSync(join(tmpdir(), 'ays-runtime-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

test('float16: known bit patterns', () => {
  assert.equal(toHalfBits(1), 0x3c00);
  assert.equal(toHalfBits(-2), 0xc000);
  assert.equal(toHalfBits(65504), 0x7bff);
  assert.equal(toHalfBits(65520), 0x7c00, 'rounds up past the largest half to infinity');
  assert.equal(toHalfBits(Infinity), 0x7c00);
  assert.equal(toHalfBits(-Infinity), 0xfc00);
  assert.equal(toHalfBits(2 ** -24), 0x0001, 'smallest subnormal');
  assert.equal(toHalfBits(2 ** -26), 0x0000, 'a quarter of the smallest subnormal rounds to zero');
  assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00, 'halfway rounds to even (down)');
  assert.equal(toHalfBits(1 + 3 * 2 ** -11), 0x3c02, 'halfway rounds to even (up)');
  assert.ok(Number.isNaN(fromHalfBits(toHalfBits(NaN))));
  assert.equal(fromHalfBits(0x3555), 0.333251953125);
  assert.equal(Object.is(fromHalfBits(0x8000), -0), true);
});

test('float16: every finite half survives half -> float -> half', () => {
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue; // NaN payloads
    const back = toHalfBits(fromHalfBits(h));
    if (back !== h) assert.fail(`0x${h.toString(16)} -> ${fromHalfBits(h)} -> 0x${back.toString(16)}`);
  }
  const all = Uint16Array.from({ length: 65536 }, (_, h) => h);
  const viaTable = float16ToFloat32(all);
  for (let h = 0; h < 65536; h++) {
    const want = fromHalfBits(h);
    if (!(Object.is(viaTable[h], want) || (Number.isNaN(want) && Number.isNaN(viaTable[h]!)))) assert.fail(`table 0x${h.toString(16)}`);
  }
  const xs = Float32Array.from([0.1, -3.5, 1000.25, 1e-5]);
  const round = float16ToFloat32(float32ToFloat16(xs));
  for (let i = 0; i < xs.length; i++) assert.ok(Math.abs(round[i]! - xs[i]!) <= Math.abs(xs[i]!) * 2 ** -11 + 2 ** -25);
});

function tinyModel(inputName = 'x', type: 'float32' | 'float16' = 'float32'): Uint8Array {
  const g = new GraphBuilder('t');
  const x = g.input(inputName, type, ['batch', 4, 'h', 'w']);
  const two = g.init(type, [1], [2]);
  g.output('y', type, ['batch', 4, 'h', 'w'], g.op('Mul', [x, two]));
  return g.toBytes();
}

test('openSession: reads names, element types and shapes from the file, and runs it', async () => {
  const path = join(tmp, 'ok.onnx');
  writeFileSync(path, tinyModel('x'));
  const s = await openSession(path, { threads: 1 }, 'ok.onnx');
  assert.deepEqual(s.inputs, [{ name: 'x', type: 'float32', shape: ['batch', 4, 'h', 'w'] }]);
  assert.deepEqual(s.outputs, [{ name: 'y', type: 'float32', shape: ['batch', 4, 'h', 'w'] }]);
  const out = await s.run({ x: floatTensor('float32', [1, 2, 3, 4, 5, 6, 7, 8], [2, 4, 1, 1]) });
  assert.deepEqual([...readFloat(out.y!)], [2, 4, 6, 8, 10, 12, 14, 16]);
  checkRank(s, s.inputs[0]!, [4]);
  checkDim(s, s.inputs[0]!, 1, 4, 'channels');
  checkType(s, s.inputs[0]!, ['float32']);
  assert.throws(() => checkRank(s, s.inputs[0]!, [3]), /ok\.onnx: "x" has rank 4 \[batch, 4, h, w\], expected rank 3/);
  assert.throws(() => checkDim(s, s.inputs[0]!, 1, 3, 'latent channels'), /"x" has 4 latent channels .* expected 3/);
  assert.throws(() => checkType(s, s.inputs[0]!, ['int64']), /element type float32, expected int64/);
  assert.throws(() => requireInputs(s, ['sample', 'x']), (e: Error) => e instanceof ModelError && /missing input "sample"; the file declares \[x\]/.test(e.message));
  assert.throws(() => requireOutput(s, 'out_sample'), /missing output "out_sample"; the file declares \[y\]/);
  await assert.rejects(s.run({ wrong: floatTensor('float32', [1], [1, 1, 1, 1]) }), /ok\.onnx: inference failed/);
  await s.release();
});

test('openSession: float16 models take and give float16 tensors', async () => {
  const path = join(tmp, 'half.onnx');
  writeFileSync(path, tinyModel('x', 'float16'));
  const s = await openSession(path);
  assert.equal(s.inputs[0]!.type, 'float16');
  const out = await s.run({ x: floatTensor('float16', [0.5, -1.25, 3, 1000], [1, 4, 1, 1]) });
  assert.equal(out.y!.type, 'float16');
  assert.deepEqual([...readFloat(out.y!)], [1, -2.5, 6, 2000]);
  await s.release();
});

test('openSession: clear errors for a missing, empty or corrupt file and bad options', async () => {
  await assert.rejects(openSession(join(tmp, 'nope.onnx'), {}, 'unet/model.onnx'), /unet\/model\.onnx: file not found/);
  const empty = join(tmp, 'empty.onnx');
  writeFileSync(empty, '');
  await assert.rejects(openSession(empty, {}, 'unet/model.onnx'), /unet\/model\.onnx: the file is empty/);
  const corrupt = join(tmp, 'corrupt.onnx');
  writeFileSync(corrupt, Buffer.from('this is not a protobuf model at all, just text'.repeat(20)));
  await assert.rejects(openSession(corrupt, {}, 'unet/model.onnx'), (e: Error) => e instanceof ModelError && /^unet\/model\.onnx: not a loadable ONNX model \(/.test(e.message));
  const truncated = join(tmp, 'truncated.onnx');
  writeFileSync(truncated, tinyModel().subarray(0, 40));
  await assert.rejects(openSession(truncated, {}, 'vae_decoder/model.onnx'), /vae_decoder\/model\.onnx: not a loadable ONNX model/);
  await assert.rejects(openSession(tmp, {}, 'dir'), /dir: not a file/);
  const ok = join(tmp, 'ok2.onnx');
  writeFileSync(ok, tinyModel());
  await assert.rejects(openSession(ok, { threads: -1 }), /threads must be a non-negative integer/);
  await assert.rejects(openSession(ok, { device: 'tpu' as 'cpu' }), /unknown device "tpu"/);
});

test('openSession: --device cuda says how to get CUDA when this install lacks it', async (t) => {
  if (cudaAvailable()) {
    t.skip('this onnxruntime-node install has the CUDA provider; the message applies to CPU-only installs');
    return;
  }
  const ok = join(tmp, 'ok3.onnx');
  writeFileSync(ok, tinyModel());
  await assert.rejects(openSession(ok, { device: 'cuda' }), /CUDA execution provider is not installed.*ONNXRUNTIME_NODE_INSTALL=cuda12 node \.\/script\/install/);
});

test('memory: the available memory is read, bytes print in binary units, a run that cannot fit is refused naming its largest part', async () => {
  const { availableMemoryBytes, checkMemory, formatBytes } = await import('../src/runtime/memory.js');
  const { totalmem } = await import('node:os');
  const avail = availableMemoryBytes();
  assert.ok(avail > 0 && avail <= totalmem(), `${avail} of ${totalmem()}`);
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(3 * 2 ** 30), '3.0 GiB');
  assert.equal(formatBytes(200 * 2 ** 40), '200 TiB');
  const err = (m: string) => new RangeError(m);
  checkMemory('512x512', [{ what: 'a', bytes: 10 }, { what: 'b', bytes: 20 }], 30, err);
  assert.throws(
    () => checkMemory('512x512', [{ what: 'a', bytes: 10 }, { what: 'big part', bytes: 2 ** 31 }], 2 ** 30, err),
    /^RangeError: 512x512 needs at least 2\.0 GiB \(big part: 2\.0 GiB\) but 1\.0 GiB is available; use a smaller size or batch$/,
  );
});
