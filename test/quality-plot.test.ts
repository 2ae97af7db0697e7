import test from 'node:test';
import assert from 'node:assert/strict';
import { qualityPlotSvg, type QualityRow } from '../src/lab/quality.js';

function row(scheduler: string, steps: number, value: number): QualityRow {
  return { testbed: 'gmm16-sd15', sampler: 'euler', scheduler, steps, metric: 'nll_excess', value };
}

test('quality plot: positive errors get a log axis', () => {
  const svg = qualityPlotSvg([row('ays', 4, 2), row('ays', 10, 0.5), row('karras', 4, 3), row('karras', 10, 1)], 'gmm16-sd15', 'nll');
  assert.match(svg, /NLL − entropy/);
  assert.doesNotMatch(svg, /linear axis/);
});

test('quality plot: NLL below the entropy floor falls back to a linear axis instead of failing', () => {
  const rows = [row('ays', 4, -0.4), row('ays', 10, -0.2), row('karras', 4, 1.5), row('karras', 10, 0.3)];
  const svg = qualityPlotSvg(rows, 'gmm16-sd15', 'nll');
  assert.match(svg, /linear axis: some values ≤ 0/);
  assert.match(svg, /<polyline|<path/);
});
