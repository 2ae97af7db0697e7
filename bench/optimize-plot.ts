/**
 * Pictures for bench/optimize-models.md: held-out paired RMS against step count, one chart per sampler, for the
 * teacher schedule and the shipped schedules (the five best at the largest step count, plus karras and ays).
 *
 *   node dist/bench/optimize-plot.js dist/optimize-models.json   # writes bench/optimize-models-<sampler>.svg
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { lineChartSvg, type Series } from '../src/plot/line-chart.js';

interface Row { name: string; rms: number; se: number }
const results: Record<string, { rows: Row[]; teacherMethod?: 'dp' | 'family' }> = {};
for (const f of process.argv.slice(2)) Object.assign(results, JSON.parse(readFileSync(f, 'utf8')) as typeof results);
if (Object.keys(results).length === 0) throw new Error('usage: optimize-plot.js RESULTS.json [...]');

const benchDir = fileURLToPath(new URL('../../bench/', import.meta.url));
for (const [sampler, r] of Object.entries(results)) {
  const byName = new Map<string, Array<[number, number]>>();
  for (const row of r.rows) {
    const [name, steps] = row.name.split('@') as [string, string];
    if (!byName.has(name)) byName.set(name, []);
    byName.get(name)!.push([Number(steps), row.rms]);
  }
  const last = Math.max(...r.rows.map((x) => Number(x.name.split('@')[1])));
  const atLast = (name: string) => byName.get(name)!.find(([n]) => n === last)?.[1] ?? Infinity;
  const shipped = [...byName.keys()].filter((n) => !n.startsWith('teacher') && n !== 'optimized').sort((a, b) => atLast(a) - atLast(b));
  // the teacher method's result (and the DP it replaced for samplers that draw noise), not every candidate row
  const family = r.teacherMethod === 'family';
  const label = (name: string) => (family ? ({ 'teacher-dp': 'teacher (family)', 'teacher-olddp': 'old teacher DP' } as Record<string, string>)[name] ?? name : name);
  const teachers = ['teacher-dp', 'teacher-dp+cs', 'teacher-olddp'];
  const shown = [...new Set([...teachers, ...shipped.slice(0, 5), 'karras', 'ays'])].filter((n) => byName.has(n));
  const series: Series[] = shown.map((name) => ({ label: label(name), points: byName.get(name)!.sort((a, b) => a[0] - b[0]) }));
  const svg = lineChartSvg({
    title: `${sampler}: held-out paired RMS to karras 100 steps (64 noises)`,
    xLabel: 'steps',
    yLabel: 'RMS (pixels in [0, 1])',
    logY: true,
    series,
  });
  const file = `${benchDir}optimize-models-${sampler}.svg`;
  writeFileSync(file, svg);
  process.stderr.write(`wrote ${file}\n`);
}
