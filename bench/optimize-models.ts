/**
 * Teacher-matching schedules on the bundled model, measured on held-out noise (npm run bench:optimize).
 *
 *   node dist/bench/optimize-models.js [--samplers euler,dpmpp_2m] [--steps 4,6,8,10] [--sweeps 4]
 *     [--samples 64] [--train-seed 1000] [--held-seed 5000] [--cfg 3] [--json /tmp/optimize-models.json]
 *     [--old-dp-from FILE|none] [--candidate-rows 1] [--dp-candidate 1] [--schedulers karras,beta,...]
 *
 * Per sampler: one teacher run (karras 100, same sampler) on the training noises, the stage-A DP for every
 * n <= max steps in one pass, stage B (--sweeps, from the DP path) per step count; then on the held-out noises
 * one reference run (karras 100, same sampler, same Brownian path) and every shipped schedule plus the
 * optimized ones at each step count: paired RMS to the reference with standard errors. Results go to a JSON
 * file that bench/optimize-report.ts turns into bench/optimize-models.md.
 *
 * Samplers that draw noise (teacherPathFor(sampler) === 'family': euler_ancestral, dpmpp_2m_sde, ...): the
 * `teacher-dp@n` rows are what the teacher method now returns for them (the beta family fitted on 3/4 of the
 * training noises and chosen on the other 1/4, src/optimizer/teacher-family.ts), one optimization per step
 * count sharing one teacher run; the old DP schedule stays as `teacher-olddp@n` for comparison (recomputed, or
 * read from an earlier run's JSON with --old-dp-from FILE, same seeds and samples; the DP code is unchanged, so
 * the schedules are the ones a recomputation gives). --candidate-rows 1 also evaluates every candidate of the
 * family path (teacher-cand-<name>@n); --dp-candidate 1 offers the DP (on the fit rows) to the selection.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadClassConditionalPipeline } from '../src/pipelines/class-conditional.js';
import { defaultModelDir } from '../src/bundled/model-files.js';
import { classConditionalHandle } from '../src/bundled/model-handle.js';
import { modelProblem, shippedSchedules } from '../src/optimizer/model-problem.js';
import { optimizeTeacher, pairedDifference, pairedEvaluation, refineSchedule, runTeacher, teacherGrid, dpRuleFor, teacherPathFor } from '../src/optimizer/teacher.js';
import { optimizeTeacherFamily } from '../src/optimizer/teacher-family.js';
import { timeAxis } from '../src/optimizer/schedule-family.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const samplers = arg('samplers', 'euler,dpmpp_2m').split(',');
const stepList = arg('steps', '4,6,8,10').split(',').map(Number);
const sweeps = Number(arg('sweeps', '4'));
const samples = Number(arg('samples', '64'));
const trainSeed = Number(arg('train-seed', '1000'));
const heldSeed = Number(arg('held-seed', '5000'));
const jsonOut = arg('json', '/tmp/optimize-models.json');
const threads = arg('threads', '');
const maxSteps = Math.max(...stepList);
// shipped schedules compared (default: all that apply); e.g. --schedulers karras,beta,... to save time
const only = arg('schedulers', '') ? new Set(arg('schedulers', '').split(',')) : null;
// noise-drawing samplers: old DP schedules from an earlier run's JSON instead of recomputing them ('none': no old DP row)
const oldDpFrom = arg('old-dp-from', '');
const dpCandidate = arg('dp-candidate', '0') === '1';
// also evaluate every candidate of the family path on held-out noise (rows teacher-cand-<name>@n)
const candidateRows = arg('candidate-rows', '0') === '1';

const pipeline = await loadClassConditionalPipeline(arg('model', defaultModelDir()), threads ? { threads: Number(threads) } : {});
const model = classConditionalHandle(pipeline);
const cfg = Number(arg('cfg', String(pipeline.card.recommendedCfg)));
const ms = model.modelSampling;
const grid = teacherGrid(ms.sigmaMin, ms.sigmaMax, 100);
const results: Record<string, unknown> = existsSync(jsonOut) ? (JSON.parse(readFileSync(jsonOut, 'utf8')) as Record<string, unknown>) : {};
const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

for (const sampler of samplers) {
  log(`${sampler}: training on ${samples} noises (seed ${trainSeed}), cfg ${cfg}`);
  if (teacherPathFor(sampler) === 'family') {
    await familySampler(sampler);
    continue;
  }
  const train = modelProblem(model, sampler, { seed: trainSeed, samples, cfg });
  const c0 = model.calls();
  const t0 = performance.now();
  const opt = await optimizeTeacher(train, {
    steps: maxSteps,
    grid,
    sweeps: 0,
    ...(dpRuleFor(sampler) ? {} : { start: teacherGrid(ms.sigmaMin, ms.sigmaMax, maxSteps) }),
    onProgress: (p) => {
      if (p.done % 100 === 0 || p.done === p.total) log(`  ${p.stage} ${p.done}/${p.total}`);
    },
  });
  const dpSeconds = (performance.now() - t0) / 1000;
  const dpCalls = model.calls() - c0;
  log(`${sampler}: teacher + DP ${dpSeconds.toFixed(0)} s, ${dpCalls} calls`);
  // stage B from the DP path, per step count (the teacher's final state is recomputed once, cached here)
  const teacherFinal = (await runTeacher(train, grid)).states[grid.length - 1]!;
  const dpSigmas: Record<number, number[]> = {};
  const csSigmas: Record<number, number[]> = {};
  const csInfo: Record<number, { seconds: number; calls: number; trainStart: number; trainEnd: number }> = {};
  for (const n of stepList) {
    dpSigmas[n] = opt.dp ? opt.dp.paths[n]!.map((i) => grid[i]!) : teacherGrid(ms.sigmaMin, ms.sigmaMax, n);
    if (sweeps > 0) {
      const t1 = performance.now();
      const c1 = model.calls();
      const r = await refineSchedule(train, teacherFinal, dpSigmas[n]!, { sweeps });
      csSigmas[n] = r.sigmas;
      csInfo[n] = { seconds: (performance.now() - t1) / 1000, calls: model.calls() - c1, trainStart: r.startLoss, trainEnd: r.loss };
      log(`  ${sampler} ${n} steps: CS ${r.startLoss.toExponential(4)} -> ${r.loss.toExponential(4)} (${csInfo[n]!.seconds.toFixed(0)} s, ${csInfo[n]!.calls} calls)`);
    }
  }
  // held-out evaluation
  const ev = await heldOutEvaluation(sampler, (n) => [
    { name: `teacher-dp@${n}`, sigmas: dpSigmas[n]! },
    ...(csSigmas[n] ? [{ name: `teacher-dp+cs@${n}`, sigmas: csSigmas[n]! }] : []),
  ]);
  results[sampler] = {
    samples,
    trainSeed,
    heldSeed,
    cfg,
    dpSeconds,
    dpCalls,
    dpRule: opt.dp?.rule ?? null,
    dpTrainCosts: opt.dp?.costs ?? null,
    dpAllSigmas: opt.dp ? opt.dp.paths.map((path) => path.map((i) => grid[i]!)) : null,
    dpSigmas,
    csSigmas,
    csInfo,
    rows: ev.rows.map((r) => ({ name: r.name, sigmas: r.sigmas, rms: r.rms, se: r.rmsStdErr, perImage: Array.from(r.perImage) })),
  };
  writeFileSync(jsonOut, JSON.stringify(results) + '\n');
  for (const n of stepList) {
    const rows = ev.rows.filter((r) => r.name.endsWith(`@${n}`));
    log(`${sampler} ${n} steps: ` + rows.map((r) => `${r.name.replace(/@\d+$/, '')} ${r.rms.toFixed(4)}±${r.rmsStdErr.toFixed(4)}`).join(', '));
  }
}
await model.dispose();

/** A noise-drawing sampler: the teacher method's family path per step count, the old DP for comparison. */
/** One reference run on the held-out noises, then every shipped schedule and the given rows at each step count. */
async function heldOutEvaluation(sampler: string, optimized: (n: number) => Array<{ name: string; sigmas: number[] }>) {
  const held = modelProblem(model, sampler, { seed: heldSeed, samples, cfg });
  const schedules: Array<{ name: string; sigmas: number[] }> = [];
  for (const n of stepList) {
    for (const s of shippedSchedules(model, sampler, n)) if (!only || only.has(s.name)) schedules.push({ name: `${s.name}@${n}`, sigmas: s.sigmas });
    schedules.push(...optimized(n));
  }
  return pairedEvaluation(held, grid, schedules, (d, t, name) => {
    if (d % 10 === 0) log(`  held-out ${d}/${t} ${name}`);
  });
}

async function familySampler(sampler: string): Promise<void> {
  const train = modelProblem(model, sampler, { seed: trainSeed, samples, cfg });
  const axis = timeAxis(ms);
  // the old DP schedules (teacher + DP for every n <= max steps), for the comparison row
  let oldDp: number[][] | null = null;
  let dpSeconds = NaN, dpCalls = NaN, dpRule: string | null = dpRuleFor(sampler) ?? null;
  if (oldDpFrom === 'none') {
    dpRule = null;
  } else if (oldDpFrom) {
    const prev = (JSON.parse(readFileSync(oldDpFrom, 'utf8')) as Record<string, { samples: number; trainSeed: number; cfg: number; dpAllSigmas?: number[][]; dpSeconds: number; dpCalls: number }>)[sampler];
    if (!prev?.dpAllSigmas || prev.samples !== samples || prev.trainSeed !== trainSeed || prev.cfg !== cfg) throw new Error(`--old-dp-from ${oldDpFrom}: no DP schedules for ${sampler} with ${samples} samples, seed ${trainSeed}, cfg ${cfg}`);
    oldDp = prev.dpAllSigmas;
    dpSeconds = prev.dpSeconds;
    dpCalls = prev.dpCalls;
    log(`${sampler}: old DP schedules read from ${oldDpFrom}`);
  } else if (dpRuleFor(sampler)) {
    const c0 = model.calls();
    const t0 = performance.now();
    const opt = await optimizeTeacher(train, { steps: maxSteps, grid });
    dpSeconds = (performance.now() - t0) / 1000;
    dpCalls = model.calls() - c0;
    oldDp = opt.dp!.paths.map((path) => path.map((i) => grid[i]!));
    log(`${sampler}: old DP (teacher + DP) ${dpSeconds.toFixed(0)} s, ${dpCalls} calls`);
  }
  // the teacher run, shared by the per-step-count optimizations (its cost is added to each below)
  const tc0 = model.calls();
  const tt0 = performance.now();
  const teacher = await runTeacher(train, grid);
  const teacherSeconds = (performance.now() - tt0) / 1000;
  const teacherCalls = model.calls() - tc0;
  const dpSigmas: Record<number, number[]> = {};
  const candSigmas: Record<number, Array<{ name: string; sigmas: number[] }>> = {};
  const familyInfo: Record<number, unknown> = {};
  for (const n of stepList) {
    const c1 = model.calls();
    const t1 = performance.now();
    const r = await optimizeTeacherFamily(train, {
      steps: n,
      grid,
      axis,
      teacher,
      dpCandidate,
      onProgress: (p) => {
        if (p.stage === 'family' && (p.done % 10 === 0 || p.done === p.total)) log(`  ${sampler} ${n} steps: family ${p.done}/${p.total} best ${p.loss?.toExponential(4)}`);
      },
    });
    const seconds = (performance.now() - t1) / 1000 + teacherSeconds;
    const calls = model.calls() - c1 + teacherCalls;
    dpSigmas[n] = r.sigmas;
    candSigmas[n] = r.candidates.map((c) => ({ name: c.name, sigmas: c.sigmas }));
    familyInfo[n] = {
      seconds,
      calls,
      familyEvaluations: r.fit.evaluations,
      chosen: r.chosen,
      candidates: r.candidates,
      fitRows: r.fitRows.length,
      validationRows: r.validationRows.length,
      evaluated: r.fit.evaluated.map((e) => ({ alpha: e.alpha, beta: e.beta, fitLoss: e.fitLoss, valLoss: e.valLoss })),
    };
    const c = r.candidates.map((x) => `${x.name}${x.alpha !== undefined ? `(${x.alpha.toFixed(3)},${x.beta!.toFixed(3)})` : ''} fit ${x.fitLoss.toExponential(3)} val ${x.valLoss.toExponential(3)} gap ${x.valGap?.toExponential(2)}±${x.valGapStdErr?.toExponential(2)}`).join('; ');
    log(`  ${sampler} ${n} steps: chose ${r.chosen}; ${c}; ${seconds.toFixed(0)} s, ${calls} calls (teacher included)`);
  }
  const ev = await heldOutEvaluation(sampler, (n) => [
    { name: `teacher-dp@${n}`, sigmas: dpSigmas[n]! },
    ...(oldDp?.[n] ? [{ name: `teacher-olddp@${n}`, sigmas: oldDp[n]! }] : []),
    ...(candidateRows ? candSigmas[n]!.map((c) => ({ name: `teacher-cand-${c.name}@${n}`, sigmas: c.sigmas })) : []),
  ]);
  results[sampler] = {
    samples,
    trainSeed,
    heldSeed,
    cfg,
    teacherMethod: 'family',
    dpSeconds,
    dpCalls,
    dpRule,
    dpAllSigmas: oldDp,
    dpSigmas,
    oldDpSigmas: oldDp ? Object.fromEntries(stepList.map((n) => [n, oldDp![n]])) : null,
    familyInfo,
    teacherSeconds,
    teacherCalls,
    csSigmas: {},
    csInfo: {},
    rows: ev.rows.map((r) => ({ name: r.name, sigmas: r.sigmas, rms: r.rms, se: r.rmsStdErr, perImage: Array.from(r.perImage) })),
  };
  writeFileSync(jsonOut, JSON.stringify(results) + '\n');
  for (const n of stepList) {
    const rows = ev.rows.filter((r) => r.name.endsWith(`@${n}`));
    log(`${sampler} ${n} steps: ` + rows.map((r) => `${r.name.replace(/@\d+$/, '')} ${r.rms.toFixed(4)}±${r.rmsStdErr.toFixed(4)}`).join(', '));
    const mine = rows.find((r) => r.name === `teacher-dp@${n}`)!;
    const best = rows.filter((r) => !r.name.startsWith('teacher')).sort((a, b) => a.rms - b.rms)[0];
    if (best) {
      const d = pairedDifference(mine.perImage, best.perImage);
      log(`${sampler} ${n} steps: teacher − ${best.name} = ${d.diff >= 0 ? '+' : ''}${d.diff.toFixed(4)} ± ${d.se.toFixed(4)}`);
    }
  }
}
