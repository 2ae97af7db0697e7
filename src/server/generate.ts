/**
 * The Compare grid: rows are scheduler x sampler, columns are steps x class (or prompt). One pipeline
 * call renders a whole row segment (every class of one scheduler/sampler/steps) as a batch, and each
 * of its images becomes a cell the moment the batch finishes.
 */
import { join } from 'node:path';
import type { Pipeline } from '../pipelines/types.js';
import type { JobContext } from './jobs.js';
import { writeNewFile } from './output.js';
import { composeGrid } from './grid.js';

export interface GenerateRequest {
  schedulers: string[];
  samplers: string[];
  steps: number[];
  /** Class-conditional models: class indices or names. */
  classes?: Array<string | number>;
  /** Text models: one prompt per column group. */
  prompt?: string;
  negativePrompt?: string;
  seed: number;
  cfg: number;
  width?: number;
  height?: number;
}

export interface GridCell {
  index: number;
  row: number;
  col: number;
  scheduler: string;
  sampler: string;
  steps: number;
  label: string;
  /** URL of the cell's PNG (served from the job's output folder). */
  url: string;
  /** The A1111-style parameters text written into the PNG. */
  parameters: string;
  sigmas: number[];
  nfe: number;
}

export interface GridPlan {
  rows: Array<{ scheduler: string; sampler: string }>;
  /** Each column: a step count and the label/class it shows. */
  cols: Array<{ steps: number; label: string; classLabel?: string | number }>;
  labels: string[];
}

export function planGrid(request: GenerateRequest, classNames: readonly string[] | undefined): GridPlan {
  const rows = request.schedulers.flatMap((scheduler) => request.samplers.map((sampler) => ({ scheduler, sampler })));
  const labels = request.classes?.length
    ? request.classes.map((c) => (typeof c === 'number' ? (classNames?.[c] ?? `class ${c}`) : c))
    : ['prompt'];
  const cols = request.steps.flatMap((steps) =>
    labels.map((label, k) => ({ steps, label, classLabel: request.classes?.length ? request.classes[k] : undefined })),
  );
  return { rows, cols, labels };
}

export interface GenerateJobOptions {
  request: GenerateRequest;
  pipeline: Pipeline;
  /** Folder for this job's files (already created, empty). */
  folder: string;
  /** URL prefix for this job's files, e.g. /api/jobs/<id>. */
  urlBase: string;
  /** Resolve a scheduler name to explicit sigmas for saved schedules; undefined for built-in schedulers. */
  savedSigmas: (scheduler: string, steps: number) => number[] | undefined;
  classNames?: readonly string[];
  /** Where the job records the files it wrote, for the file routes. */
  files: Map<string, string>;
}

export interface GenerateResultSummary {
  cells: number;
  gridUrl: string | null;
  folder: string;
}

export async function runGenerateJob(ctx: JobContext, options: GenerateJobOptions): Promise<GenerateResultSummary> {
  const { request, pipeline, folder, urlBase, files } = options;
  const plan = planGrid(request, options.classNames);
  const nCols = plan.cols.length;
  const perBatch = plan.labels.length;
  const totalCells = plan.rows.length * nCols;
  const totalSteps = plan.rows.length * request.steps.reduce((a, b) => a + b, 0);
  const cellPngs: Array<Uint8Array | undefined> = new Array(totalCells);
  let stepsDone = 0;
  let cellsDone = 0;
  ctx.emit('plan', {
    rows: plan.rows.map((r) => `${r.scheduler} · ${r.sampler}`),
    cols: plan.cols.map((c) => `${c.steps} steps · ${c.label}`),
    cells: totalCells,
  });
  ctx.progress(0, totalSteps, { cellsDone, cellsTotal: totalCells });

  for (let r = 0; r < plan.rows.length; r++) {
    const { scheduler, sampler } = plan.rows[r]!;
    for (let s = 0; s < request.steps.length; s++) {
      if (ctx.signal.aborted) throw new Error('cancelled');
      const steps = request.steps[s]!;
      const sigmas = options.savedSigmas(scheduler, steps);
      const stepsBefore = stepsDone;
      const result = await pipeline.generate({
        classLabel: request.classes?.length ? request.classes : undefined,
        prompt: request.prompt,
        negativePrompt: request.negativePrompt,
        width: request.width,
        height: request.height,
        batchSize: perBatch,
        seed: request.seed,
        scheduler,
        sampler,
        steps,
        cfg: request.cfg,
        sigmas,
        signal: ctx.signal,
        onStep: (step) => {
          // onStep counts finished steps from 1
          stepsDone = stepsBefore + Math.min(step, steps);
          ctx.progress(stepsDone, totalSteps, { cellsDone, cellsTotal: totalCells });
        },
      });
      if (ctx.signal.aborted) throw new Error('cancelled');
      stepsDone = stepsBefore + steps;
      for (let k = 0; k < perBatch; k++) {
        const col = s * perBatch + k;
        const index = r * nCols + col;
        const png = result.pngs[k];
        if (!png) throw new Error(`the pipeline returned ${result.pngs.length} images for a batch of ${perBatch}`);
        const name = `cell-${String(index).padStart(3, '0')}.png`;
        const path = join(folder, name);
        await writeNewFile(path, png);
        files.set(name, path);
        cellPngs[index] = png;
        cellsDone++;
        const cell: GridCell = {
          index,
          row: r,
          col,
          scheduler,
          sampler,
          steps,
          label: plan.cols[col]!.label,
          url: `${urlBase}/files/${name}`,
          parameters: result.parameters[k] ?? '',
          sigmas: result.sigmas,
          nfe: result.nfe,
        };
        ctx.emit('cell', cell);
      }
      ctx.progress(stepsDone, totalSteps, { cellsDone, cellsTotal: totalCells });
    }
  }

  const grid = await composeGrid({
    rows: plan.rows.length,
    cols: nCols,
    rowLabels: plan.rows.map((row) => `${row.scheduler} · ${row.sampler}`),
    colLabels: plan.cols.map((c) => (perBatch > 1 ? `${c.steps} st · ${c.label}` : `${c.steps} steps`)),
    cells: cellPngs,
    cellSize: Math.max(96, Math.min(160, request.width ?? 112)),
    title: `${pipeline.modelName} · seed ${request.seed} · cfg ${request.cfg}`,
  });
  await writeNewFile(join(folder, 'grid.png'), grid);
  files.set('grid.png', join(folder, 'grid.png'));
  const gridUrl = `${urlBase}/files/grid.png`;
  ctx.emit('grid', { url: gridUrl });
  return { cells: totalCells, gridUrl, folder };
}
