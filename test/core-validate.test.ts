import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSigmas, validateSteps } from '../src/core/validate.js';
import { getSigmas, parseSigmas } from '../src/schedules/index.js';
import { sample } from '../src/samplers/sample.js';
import { tensor } from '../src/tensor/tensor.js';

const rangeError = (re: RegExp) => (e: unknown) => e instanceof RangeError && re.test(e.message) && !e.message.includes('\n');

test('validateSigmas accepts a descending list ending in 0 or not, and returns a plain copy', () => {
  const input = new Float32Array([14.5, 3, 1, 0]);
  const out = validateSigmas(input);
  assert.ok(Array.isArray(out));
  assert.deepEqual(out, [14.5, 3, 1, 0]);
  assert.deepEqual(validateSigmas([2, 1]), [2, 1]);
});

test('validateSigmas: one wording, one line, RangeError, naming the list', () => {
  assert.throws(() => validateSigmas([1]), rangeError(/^sigmas needs at least 2 sigmas \(at least two values: a start and an end\), got 1$/));
  assert.throws(() => validateSigmas([]), rangeError(/got 0$/));
  assert.throws(() => validateSigmas([3, 2, 2, 0]), rangeError(/^sigmas must be strictly descending: sigmas\[2\] = 2 is not below sigmas\[1\] = 2$/));
  assert.throws(() => validateSigmas([1, 2, 0]), rangeError(/sigmas\[1\] = 2 is not below sigmas\[0\] = 1/));
  assert.throws(() => validateSigmas([3, -1]), rangeError(/^sigmas\[1\] is negative: -1$/));
  assert.throws(() => validateSigmas([3, NaN, 0]), rangeError(/^sigmas\[1\] is not finite: NaN$/));
  assert.throws(() => validateSigmas([Infinity, 0]), rangeError(/^sigmas\[0\] is not finite: Infinity$/));
  assert.throws(() => validateSigmas([3, 0, 0]), rangeError(/^sigmas\[1\] is 0 before the end; only the last value may be 0$/));
  assert.throws(() => validateSigmas([3, '1', 0] as unknown as number[]), rangeError(/^sigmas\[1\] is not a number: "1"$/));
  assert.throws(() => validateSigmas(null as unknown as number[]), rangeError(/^sigmas must be an array of numbers, got null$/));
  assert.throws(() => validateSigmas([3, 4], '--sigmas'), rangeError(/^--sigmas must be strictly descending: --sigmas\[1\] = 4 is not below --sigmas\[0\] = 3$/));
});

test('validateSteps: integers >= 1 pass through, everything else gets one wording', () => {
  assert.equal(validateSteps(1), 1);
  assert.equal(validateSteps(50), 50);
  for (const [bad, shown] of [[0, '0'], [-3, '-3'], [2.5, '2.5'], [NaN, 'NaN'], [Infinity, 'Infinity'], ['10', '"10"'], [undefined, 'undefined'], [null, 'null'], [10n, '10n']] as const) {
    assert.throws(() => validateSteps(bad), rangeError(new RegExp(`^steps must be an integer >= 1, got ${shown.replace(/[.()]/g, '\\$&')}$`)));
  }
  assert.throws(() => validateSteps(0, '--steps'), rangeError(/^--steps must be an integer >= 1, got 0$/));
});

test('the schedules, the samplers and the sigma parser all speak with validateSigmas / validateSteps', async () => {
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'karras', steps: 0 }), rangeError(/^steps must be an integer >= 1, got 0$/));
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'ays', steps: 1.5 }), rangeError(/^steps must be an integer >= 1, got 1.5$/));
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'custom', sigmas: [1, 2, 0] }), rangeError(/^sigmas must be strictly descending: sigmas\[1\] = 2/));
  assert.throws(() => parseSigmas('3, 0, 0'), rangeError(/^sigmas\[1\] is 0 before the end/));
  const x = tensor(new Float64Array(4), [1, 4]);
  const d = async (t: typeof x) => t;
  await assert.rejects(sample('euler', d, x, [1, 2, 0]), rangeError(/^euler: sigmas must be strictly descending: sigmas\[1\] = 2 is not below sigmas\[0\] = 1$/));
  await assert.rejects(sample('dpmpp_2m', d, x, [1]), rangeError(/^dpmpp_2m: sigmas needs at least 2 sigmas/));
  await assert.rejects(sample('euler', d, x, [2, 0, 0]), rangeError(/^euler: sigmas\[1\] is 0 before the end/));
});

test('validateDenoise: [0, 1] passes, the rest gets one wording, from every schedule entry point', async () => {
  const { validateDenoise } = await import('../src/core/validate.js');
  const { gitsSigmas, alignYourStepsSigmas, splitSigmasDenoise } = await import('../src/schedules/index.js');
  assert.equal(validateDenoise(0), 0);
  assert.equal(validateDenoise(1), 1);
  for (const [bad, shown] of [[1.5, '1.5'], [-0.1, '-0.1'], [NaN, 'NaN'], ['0.5', '"0.5"']] as const) {
    assert.throws(() => validateDenoise(bad), rangeError(new RegExp(`^denoise must be a number in \\[0, 1\\], got ${shown.replace(/[.]/g, '\\.')}$`)));
  }
  const msg = rangeError(/^denoise must be a number in \[0, 1\], got 2$/);
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'karras', steps: 4, denoise: 2 }), msg);
  assert.throws(() => gitsSigmas({ steps: 4, denoise: 2 }), msg);
  assert.throws(() => alignYourStepsSigmas({ table: 'SD1', steps: 4, denoise: 2 }), msg);
  assert.throws(() => splitSigmasDenoise([3, 2, 1, 0], 2), msg);
});
