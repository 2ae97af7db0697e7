import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getSigmas, schedulerNames, modelSampling, lineChartSvg } from '../src/index.js';
import {
  alignYourStepsSigmas,
  aysTimesteps,
  gitsSigmas,
  loglinearInterp,
  parseSigmas,
  registerScheduler,
  roundHalfEven,
  betaPpf,
  karrasSigmas,
  exponentialSigmas,
  sigmasFromScheduleJson,
  schedulerRegistry,
} from '../src/schedules/index.js';

const isDescending = (s: number[]) => s.every((v, i) => i === 0 || v < s[i - 1]!);

test('schedulerNames lists the nine ComfyUI names, ays, gits, the node schedules and custom', () => {
  for (const n of ['simple', 'sgm_uniform', 'karras', 'exponential', 'ddim_uniform', 'beta', 'normal', 'linear_quadratic', 'kl_optimal', 'ays', 'ays_a1111', 'gits', 'polyexponential', 'vp', 'laplace', 'sd_turbo', 'custom']) {
    assert.ok(schedulerNames.includes(n), n);
    assert.ok(schedulerRegistry.get(n)!.description.length > 10);
  }
});

test('every schedule gives a descending, finite list on every model it supports', () => {
  for (const model of ['sd15', 'sdxl', 'svd', 'sd3', 'flux', 'deepfloyd-if']) {
    for (const scheduler of schedulerNames) {
      if (scheduler === 'custom') continue;
      for (const steps of [1, 2, 7, 10, 33]) {
        let s: number[];
        try {
          s = getSigmas({ model, scheduler, steps });
        } catch (err) {
          // only clear refusals: schedules tied to a model family or a step range
          assert.match((err as Error).message, /no Align Your Steps table|GITS (tables are for|needs an integer)|SDTurbo (steps|needs a discrete)/, `${model}/${scheduler}/${steps}`);
          continue;
        }
        assert.ok(s.length >= 2, `${model}/${scheduler}/${steps}`);
        assert.ok(s.every(Number.isFinite) && s.every((v) => v >= 0));
        // laplace clamps to [sigma_min, sigma_max] and, centred at sigma 1, repeats sigma_max on flow models (as ComfyUI)
        if (scheduler === 'laplace') assert.ok(s.every((v, i) => i === 0 || v <= s[i - 1]!), `${model}/laplace/${steps}`);
        else assert.ok(isDescending(s), `${model}/${scheduler}/${steps}: ${s}`);
        if (scheduler !== 'laplace') assert.equal(s.at(-1), 0);
      }
    }
  }
});

test('schedules follow the model range, not a hard-coded 14.6', () => {
  assert.equal(getSigmas({ model: 'svd', scheduler: 'karras', steps: 5 })[0]!.toFixed(1), '700.0');
  assert.equal(getSigmas({ model: 'sd15', scheduler: 'karras', steps: 5 })[0]!.toFixed(2), '14.61');
  assert.ok(getSigmas({ model: 'sd3', scheduler: 'simple', steps: 5 })[0]! <= 1);
  assert.equal(getSigmas({ model: 'deepfloyd-if', scheduler: 'ays', steps: 10 })[0]!.toFixed(2), '160.41');
});

test('KSampler denoise keeps the step count; AYS/GITS denoise keeps round-half-even(steps*denoise)', () => {
  assert.equal(getSigmas({ model: 'sd15', scheduler: 'karras', steps: 10, denoise: 0.3 }).length, 11);
  assert.equal(getSigmas({ model: 'sd15', scheduler: 'ays', steps: 10, denoise: 0.25 }).length, 3); // round(2.5) = 2
  assert.equal(getSigmas({ model: 'sd15', scheduler: 'ays', steps: 10, denoise: 0.35 }).length, 5); // round(3.5) = 4
  assert.deepEqual(getSigmas({ model: 'sd15', scheduler: 'ays', steps: 1, denoise: 0.5 }), [0]);
  assert.equal(roundHalfEven(0.5), 0);
  assert.equal(roundHalfEven(1.5), 2);
  assert.equal(roundHalfEven(-2.5), -2);
  // penultimate rule: dpm_2 builds steps+1 and drops the second to last
  const plain = getSigmas({ model: 'sd15', scheduler: 'karras', steps: 6 });
  const dpm2 = getSigmas({ model: 'sd15', scheduler: 'karras', steps: 6, sampler: 'dpm_2' });
  const seven = getSigmas({ model: 'sd15', scheduler: 'karras', steps: 7 });
  assert.equal(dpm2.length, plain.length);
  assert.deepEqual(dpm2, [...seven.slice(0, -2), 0]);
});

test('AYS: published tables, interpolation, A1111 convention, timesteps', () => {
  const t10 = alignYourStepsSigmas({ table: 'SD1', steps: 10 });
  assert.equal(t10.length, 11);
  assert.equal(t10[9], Math.fround(0.1515232662));
  assert.equal(t10[10], 0);
  const a1111 = alignYourStepsSigmas({ table: 'SD1', steps: 10, convention: 'a1111' });
  assert.deepEqual(a1111.map((v) => Number(v.toFixed(3))), [14.615, 6.114, 3.565, 2.394, 1.65, 1.136, 0.743, 0.445, 0.169, 0.029, 0]);
  const a11 = alignYourStepsSigmas({ table: 'SD1', steps: 11, convention: 'a1111' });
  assert.equal(a11.at(-2), Math.fround(0.029));
  // doc test vector (ComfyUI rule), SD1.5 at 5 steps
  assert.deepEqual(alignYourStepsSigmas({ table: 'SD1', steps: 5 }).map((v) => Number(v.toFixed(4))), [14.6146, 3.8637, 1.8842, 0.9643, 0.3977, 0]);
  const interp = loglinearInterp([100, 10, 1], 5);
  assert.ok(Math.abs(interp[1]! - Math.sqrt(1000)) < 1e-9);
  // numpy's exp(log(80)) is 79.99999999999997; the optimizer asks for its ends exactly
  const ends = [80, 7, 0.002];
  assert.notEqual(loglinearInterp(ends, 7)[0], 80, 'numpy arithmetic moves this end by an ulp (ComfyUI keeps that)');
  const exact = loglinearInterp(ends, 7, { exactEnds: true });
  assert.deepEqual([exact[0], exact[6]], [80, 0.002]);
  assert.deepEqual(exact.slice(1, 6), loglinearInterp(ends, 7).slice(1, 6), 'only the ends differ');
  assert.deepEqual(aysTimesteps('SD1'), [999, 850, 736, 645, 545, 455, 343, 233, 124, 24, 0]);
  assert.throws(() => aysTimesteps('SVD'), /no integer timesteps/);
  assert.throws(() => getSigmas({ model: 'sd3', scheduler: 'ays', steps: 10 }), /no Align Your Steps table for model "sd3"; AYS tables exist for sd15, sdxl, svd, deepfloyd-if/);
});

test('GITS: coefficients, interpolation above 20 steps, bad coefficients', () => {
  assert.deepEqual(gitsSigmas({ steps: 10 }).map((v) => Number(v.toFixed(4))), [14.6146, 5.8552, 2.8448, 1.6705, 1.089, 0.7481, 0.5012, 0.321, 0.1989, 0.0982, 0]);
  const g30 = gitsSigmas({ steps: 30, coeff: 0.8 });
  assert.equal(g30.length, 31);
  assert.ok(isDescending(g30));
  assert.throws(() => gitsSigmas({ steps: 10, coeff: 1.23 }), /GITS coeff must be one of 0.80, 0.85/);
  assert.throws(() => gitsSigmas({ steps: 1 }), /steps >= 2/);
  assert.throws(() => getSigmas({ model: 'svd', scheduler: 'gits', steps: 10 }), /GITS tables are for SD1.5-range models/);
});

test('bad input gives clear errors, never NaN', () => {
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'karas', steps: 10 }), (e: Error) => e instanceof RangeError && /unknown scheduler "karas"; valid schedulers: simple, sgm_uniform, karras/.test(e.message));
  assert.throws(() => getSigmas({ model: 'sd9', scheduler: 'karras', steps: 10 }), /unknown model "sd9"/);
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'karras', steps: 0 }), /steps must be an integer >= 1, got 0/);
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'karras', steps: 2.5 }), /steps must be an integer/);
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'karras', steps: NaN }), /steps must be an integer/);
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'karras', steps: 10, denoise: 1.5 }), /denoise must be a number in \[0, 1\], got 1.5/);
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'karras', steps: 10, denoise: -0.1 }), /denoise must be/);
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'karras', steps: 10, denoise: NaN }), /denoise must be/);
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'karras', steps: 10, denoise: 0 }), /empty schedule/);
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'gits', steps: 10, coeff: NaN }), /coeff must be a finite number/);
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'custom' }), /needs a sigma list/);
  // kl_optimal at 1 step: ComfyUI gives NaN, ays gives one step from sigma_max to 0
  const kl = getSigmas({ model: 'sd15', scheduler: 'kl_optimal', steps: 1 });
  assert.deepEqual(kl, [modelSampling('sd15').sigmaMax, 0]);
});

test('beta drops repeated timesteps like ComfyUI (fewer steps than asked at high step counts)', () => {
  const s = getSigmas({ model: 'sd15', scheduler: 'beta', steps: 200 });
  assert.ok(s.length < 201 && s.length > 150, `${s.length}`);
  assert.ok(isDescending(s));
  assert.ok(Math.abs(betaPpf(0.5, 0.6, 0.6) - 0.5) < 1e-12);
  assert.ok(Math.abs(betaPpf(0.25, 1, 1) - 0.25) < 1e-12);
});

test('custom sigmas: parsing, validation, schedule files, denoise', () => {
  assert.deepEqual(parseSigmas('14.6, 7.1,3 0'), [14.6, 7.1, 3, 0]);
  assert.deepEqual(parseSigmas('[2, 1, 0]'), [2, 1, 0]);
  assert.deepEqual(parseSigmas('{"sigmas": [2, 1, 0.5], "master_sigmas": [3]}'), [2, 1, 0.5]);
  assert.deepEqual(sigmasFromScheduleJson({ sigmas: [3, 2, 0], steps: 2 }), [3, 2, 0]);
  assert.throws(() => parseSigmas('3, 2, 2, 0'), /strictly descending: sigmas\[2\] = 2 is not below sigmas\[1\] = 2/);
  assert.throws(() => parseSigmas('3, -1'), /sigmas\[1\] is negative/);
  assert.throws(() => parseSigmas('3, 0, 0'), /sigmas\[1\] is 0 before the end/);
  assert.throws(() => parseSigmas('3, abc, 0'), /"abc" in the sigma list is not a number/);
  assert.throws(() => parseSigmas('3, NaN, 0'), /not a number/);
  assert.throws(() => parseSigmas('[3, Infinity]'), /JSON/);
  assert.throws(() => parseSigmas('5'), /at least two values/);
  assert.throws(() => parseSigmas(''), /empty/);
  assert.throws(() => sigmasFromScheduleJson({ sigma: [1, 0] }), /object with a "sigmas" array/);
  assert.deepEqual(getSigmas({ model: 'sd15', scheduler: 'custom', sigmas: [4, 3, 2, 1, 0] }), [4, 3, 2, 1, 0]);
  assert.deepEqual(getSigmas({ model: 'sd15', scheduler: 'custom', sigmas: [4, 3, 2, 1, 0], denoise: 0.5 }), [2, 1, 0]);
  assert.throws(() => getSigmas({ model: 'sd15', scheduler: 'custom', steps: 3, sigmas: [4, 3, 2, 1, 0] }), /steps=3 does not match the 4 steps/);
});

test('registerScheduler plugs a new schedule into getSigmas and schedulerNames', () => {
  registerScheduler('test_halving', { description: 'halves each step (test only)', fn: (r) => [...Array.from({ length: r.steps }, (_, i) => r.model.sigmaMax / 2 ** i), 0] });
  assert.ok(schedulerNames.includes('test_halving'));
  assert.deepEqual(getSigmas({ model: 'sd15', scheduler: 'test_halving', steps: 2 }), [modelSampling('sd15').sigmaMax, modelSampling('sd15').sigmaMax / 2, 0]);
  schedulerRegistry.delete('test_halving');
  schedulerNames.splice(schedulerNames.indexOf('test_halving'), 1);
});

test('lineChartSvg draws labelled series, a legend, axis titles and log ticks', () => {
  const svg = lineChartSvg({ title: 'T <1>', xLabel: 'step', yLabel: 'sigma', logY: true, series: [{ label: 'a&b', points: [[0, 10], [1, 1], [2, 0]] }, { label: 'c', points: [[0, 5], [1, 0.5]] }] });
  assert.match(svg, /^<svg /);
  assert.match(svg, /T &lt;1&gt;/);
  assert.match(svg, /a&amp;b/);
  assert.match(svg, />sigma \(log scale\)</);
  assert.match(svg, />step</);
  assert.match(svg, />10</);
  assert.match(svg, /1 point\(s\) at y &lt;= 0/);
  assert.equal((svg.match(/<path /g) ?? []).length, 2);
  assert.throws(() => lineChartSvg({ series: [] }), /at least one series/);
});

test('karras and exponential in float64: the same formula as ComfyUI float32 values, exact ends', () => {
  for (const [lo, hi] of [[0.0291671582, 14.6146412293], [0.002, 80]] as const) {
    for (const n of [1, 2, 10, 101]) {
      for (const [name, f32, f64] of [
        ['karras', karrasSigmas(n, lo, hi), karrasSigmas(n, lo, hi, 7, { precision: 'float64' })],
        ['exponential', exponentialSigmas(n, lo, hi), exponentialSigmas(n, lo, hi, { precision: 'float64' })],
      ] as const) {
        assert.equal(f64.length, n + 1, `${name} ${n}: n sigmas and a final 0`);
        assert.equal(f64[0], hi, `${name} ${n}: starts at sigma_max exactly`);
        assert.equal(f64[n], 0);
        if (n > 1) assert.equal(f64[n - 1], lo, `${name} ${n}: ends at sigma_min exactly`);
        assert.ok(isDescending(f64.slice(0, n)), `${name} ${n} descending`);
        // float32 evaluates the ramp (sigma^(1/7) for karras, log sigma for exponential) to about 2 float32 ulps
        // of its largest end (u = 2^-24); that absolute error e in the ramp value r becomes the relative error
        // rho*e/r (karras: v = r^rho) or e (exponential: v = e^r) of the sigma, plus 1 ulp for pow/exp itself
        const u = 2 ** -24;
        f64.slice(0, n).forEach((v, i) => {
          const rel =
            name === 'karras'
              ? (7 * 3 * u * hi ** (1 / 7)) / v ** (1 / 7) + u
              : 3 * u * Math.max(Math.abs(Math.log(hi)), Math.abs(Math.log(lo))) + u;
          assert.ok(Math.abs(v - f32[i]!) <= rel * v, `${name} ${n} value ${i}: ${v} vs ${f32[i]}`);
        });
      }
    }
  }
  assert.deepEqual(karrasSigmas(3, 0.1, 10, 7, { precision: 'float32' }), karrasSigmas(3, 0.1, 10), 'float32 is the default');
});
