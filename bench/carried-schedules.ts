/**
 * Write models/fashion-mnist/teacher-schedules.json from the JSON of bench/optimize-models.ts: the stage-A
 * (DP) teacher schedule of every sampler and step count it computed, with the held-out paired RMS of the step
 * counts it evaluated and the best shipped schedule there.
 *
 *   node dist/bench/carried-schedules.js --json /tmp/optimize-models.json [--out models/fashion-mnist/teacher-schedules.json]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultModelDir } from '../src/bundled/model-files.js';
import { TEACHER_SCHEDULES_FILE, type CarriedTeacherSchedule } from '../src/bundled/carried.js';
import { modelSampling } from '../src/model-sampling/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

interface Row { name: string; rms: number; se: number }
interface FamilyInfo { chosen: string; candidates: Array<{ name: string; alpha?: number; beta?: number }> }
interface SamplerResult {
  dpSigmas: Record<string, number[]>;
  dpAllSigmas?: number[][] | null;
  rows: Row[];
  trainSeed: number;
  heldSeed: number;
  samples: number;
  cfg: number;
  /** 'family' for samplers that draw noise: dpSigmas then holds the beta-family result per step count, dpAllSigmas the old DP. */
  teacherMethod?: 'dp' | 'family';
  familyInfo?: Record<string, FamilyInfo>;
}

const results = JSON.parse(readFileSync(arg('json', '/tmp/optimize-models.json'), 'utf8')) as Record<string, SamplerResult>;
const out = arg('out', join(defaultModelDir(), TEACHER_SCHEDULES_FILE));
const ms = modelSampling('sd15');
const schedules: CarriedTeacherSchedule[] = [];
for (const [sampler, r] of Object.entries(results)) {
  const family = r.teacherMethod === 'family';
  const bySteps = new Map<number, number[]>();
  // the DP's paths for every n <= 10 (deterministic samplers); the family path optimizes each measured count only
  if (!family) {
    (r.dpAllSigmas ?? []).forEach((s, n) => {
      if (n > 0 && s.length === n + 1) bySteps.set(n, s);
    });
  }
  for (const [n, s] of Object.entries(r.dpSigmas)) bySteps.set(Number(n), s);
  // where the DP lost to a shipped schedule on held-out noise at any measured step count, carry only the
  // measured counts, each the held-out winner (which may be a shipped schedule, said so in `method`)
  const lostSomewhere = [...bySteps.keys()].some((n) => {
    const mine = r.rows.find((x) => x.name === `teacher-dp@${n}`);
    const shipped = r.rows.filter((x) => x.name.endsWith(`@${n}`) && !x.name.startsWith('teacher') && !x.name.startsWith('optimized')).sort((a, b) => a.rms - b.rms)[0];
    return mine && shipped && shipped.rms < mine.rms;
  });
  for (const [n, dpSigmas] of [...bySteps.entries()].sort((a, b) => a[0] - b[0])) {
    const mine = r.rows.find((x) => x.name === `teacher-dp@${n}`);
    const shipped = r.rows.filter((x) => x.name.endsWith(`@${n}`) && !x.name.startsWith('teacher') && !x.name.startsWith('optimized')).sort((a, b) => a.rms - b.rms)[0];
    if (lostSomewhere && !mine) continue;
    // a carried schedule must have exactly n steps: ddim_uniform adds one where 1000/n is not whole, so the
    // replacement is the best shipped schedule of the right length
    const sigmasOf = (name: string) => (r.rows.find((x) => x.name === name) as unknown as { sigmas: number[] }).sigmas;
    const replacement = r.rows
      .filter((x) => x.name.endsWith(`@${n}`) && !x.name.startsWith('teacher') && !x.name.startsWith('optimized') && sigmasOf(x.name).length === n + 1)
      .sort((a, b) => a.rms - b.rms)[0];
    // equal within float32 resolution (the family's centre is sgm_uniform's schedule computed in float64): a tie, not a loss
    const sameSigmas = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) <= 1e-6 * v);
    const shippedWins = mine && replacement && replacement.rms < mine.rms && !sameSigmas(sigmasOf(replacement.name), dpSigmas);
    const info = r.familyInfo?.[String(n)];
    const chosen = info?.candidates.find((c) => c.name === info.chosen);
    const teacherMethod = family
      ? `teacher (beta family on the model's time axis, ${info?.chosen ?? '?'}: alpha ${chosen?.alpha?.toPrecision(3) ?? '?'}, beta ${chosen?.beta?.toPrecision(3) ?? '?'}` +
        `${info?.chosen === 'center' ? ', i.e. uniform timesteps: sgm_uniform\'s schedule in float64' : ''}; chosen on a validation split of the training noises)`
      : 'teacher (stage A: DP over karras-100, no stage B)';
    schedules.push({
      sampler,
      steps: n,
      sigmas: shippedWins ? sigmasOf(replacement.name) : dpSigmas,
      method: shippedWins ? `shipped ${replacement.name.replace(/@\d+$/, '')} (the teacher ${family ? 'family' : 'DP'} schedule lost to it on held-out noise)` : teacherMethod,
      ...(mine && shipped ? { heldOut: { rms: shippedWins ? replacement!.rms : mine.rms, rmsStdErr: shippedWins ? replacement!.se : mine.se, bestShipped: shipped.name.replace(/@\d+$/, ''), bestShippedRms: shipped.rms } } : {}),
    });
  }
}
const any = Object.values(results)[0]!;
const file = {
  description:
    'Teacher-matching schedules for this model, one per sampler and step count (ays optimize --method teacher: the DP of stage A for samplers that draw no noise, the fitted beta family for those that do). ' +
    '`--scheduler optimized` picks the one for the sampler and step count; others fall back to optimized-schedule.json.',
  made_by: `npm run bench:optimize (bench/optimize-models.ts): ${any.samples} training noises seed ${any.trainSeed}, cfg ${any.cfg}, held-out seed ${any.heldSeed}; teacher karras 100 steps of the same sampler; stochastic samplers on a Brownian tree over [0, sigma_max] shared by teacher and student`,
  model: { name: 'ays-fashion-mnist-unet', sampling: 'discrete/eps', sigma_min: ms.sigmaMin, sigma_max: ms.sigmaMax },
  schedules,
};
writeFileSync(out, JSON.stringify(file, null, 1) + '\n');
console.log(`wrote ${out}: ${schedules.length} schedules (${[...new Set(schedules.map((s) => s.sampler))].join(', ')})`);
