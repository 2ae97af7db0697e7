// Offline check of the exported models with onnxruntime-node (the runtime ays uses):
// unet.onnx against check.json (torch reference), dynamic batch, and per-call timing.
// Usage: node tools/train/verify_onnx.mjs [models/fashion-mnist] [threads]
import * as ort from 'onnxruntime-node';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = process.argv[2] ?? 'models/fashion-mnist';
const threads = Number(process.argv[3] ?? 1);
const report = { threads: 0, timing: {} };
const opts = { intraOpNumThreads: threads, interOpNumThreads: 1 };
const unet = await ort.InferenceSession.create(join(dir, 'unet.onnx'), opts);
const check = JSON.parse(readFileSync(join(dir, 'check.json'), 'utf8'));

const feeds = (sample, t, y) => ({
  sample: new ort.Tensor('float32', Float32Array.from(sample), [t.length, 1, 28, 28]),
  timestep: new ort.Tensor('float32', Float32Array.from(t), [t.length]),
  class_label: new ort.Tensor('int64', BigInt64Array.from(y.map(BigInt)), [y.length]),
});
const out = await unet.run(feeds(check.sample, check.timestep, check.class_label));
const eps = out.eps.data;
let maxDiff = 0;
for (let i = 0; i < eps.length; i++) maxDiff = Math.max(maxDiff, Math.abs(eps[i] - check.eps[i]));
report.unet_max_abs_diff = maxDiff;
console.log(`unet check.json: max |onnx - torch| = ${maxDiff.toExponential(3)} over ${eps.length} values`);

// Dynamic batch: batch 5 built from the check input; rows 0 and 1 must match the batch-2 result.
const s5 = [...check.sample, ...check.sample, ...check.sample.slice(0, 784)];
const out5 = await unet.run(feeds(s5, [...check.timestep, ...check.timestep, check.timestep[0]],
  [...check.class_label, ...check.class_label, check.class_label[0]]));
let d5 = 0;
for (let i = 0; i < 2 * 784; i++) d5 = Math.max(d5, Math.abs(out5.eps.data[i] - eps[i]), Math.abs(out5.eps.data[2 * 784 + i] - eps[i]));
console.log(`unet batch 5: shape ${out5.eps.dims}, max diff vs batch 2 = ${d5.toExponential(3)}`);

for (const b of [1, 64]) {
  const f = feeds(new Float32Array(b * 784).map((_, i) => Math.sin(i)), new Array(b).fill(500), new Array(b).fill(3));
  for (let i = 0; i < 3; i++) await unet.run(f);
  const ts = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    await unet.run(f);
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  report.timing[`batch${b}_ms_median`] = Number(ts[7].toFixed(2));
  report.timing[`batch${b}_ms_min`] = Number(ts[0].toFixed(2));
  console.log(`unet batch ${b}: median ${ts[7].toFixed(1)} ms, min ${ts[0].toFixed(1)} ms (intraOpNumThreads ${threads})`);
}

const clf = await ort.InferenceSession.create(join(dir, 'classifier.onnx'), opts);
const img = new ort.Tensor('float32', Float32Array.from(check.sample.slice(0, 784 * 2)), [2, 1, 28, 28]);
const co = await clf.run({ image: img });
console.log(`classifier: logits ${co.logits.dims}, features ${co.features.dims}`);
if (check.classifier) {
  let dl = 0;
  for (let i = 0; i < co.logits.data.length; i++) dl = Math.max(dl, Math.abs(co.logits.data[i] - check.classifier.logits[i]));
  let df = 0;
  for (let i = 0; i < co.features.data.length; i++) df = Math.max(df, Math.abs(co.features.data[i] - check.classifier.features[i]));
  report.classifier_max_abs_diff = { logits: dl, features: df };
  console.log(`classifier check.json: max diff logits ${dl.toExponential(3)}, features ${df.toExponential(3)}`);
}

report.threads = threads;
report.timing.intraOpNumThreads = threads;
report.onnxruntime_node = ort.env.versions?.common ?? 'unknown';
writeFileSync(join(dirname(fileURLToPath(import.meta.url)), 'onnx-check.json'), JSON.stringify(report, null, 1) + '\n');
