import type uPlot from 'uplot';
import { post, type SigmaFailure, type SigmaResult } from './api.js';
import { LineChart, type SeriesSpec } from './charts.js';
import { checkList, clear, dashes, field, fmt, h, parseSteps, seriesColor, toast } from './dom.js';
import { allSchedulers, loadRegistries, loadStudioModel } from './state.js';
import { exposeChart } from './testing.js';

const preferred = ['karras', 'exponential', 'align_your_steps', 'ays', 'normal', 'simple', 'beta'];

/** Steps the schedule really has: some schedulers drop repeated timesteps (beta at 1000 steps has 847). */
function realSteps(r: SigmaResult): number {
  return r.sigmas.length - 1;
}

function seriesLabel(r: SigmaResult, manySteps: boolean): string {
  const n = realSteps(r);
  const steps = n === r.steps ? `${n}` : `${n} (asked ${r.steps})`;
  return manySteps || n !== r.steps ? `${r.scheduler} · ${steps}` : r.scheduler;
}

/** x values shared by every series: step indices, or positions i/n when comparing different step counts. */
function alignedData(results: SigmaResult[], pick: (r: SigmaResult, i: number) => number | null, fraction: boolean): uPlot.AlignedData {
  const xs = new Set<number>();
  for (const r of results) for (let i = 0; i < r.sigmas.length; i++) xs.add(fraction ? i / realSteps(r) : i);
  const x = [...xs].sort((a, b) => a - b);
  const at = new Map(x.map((v, k) => [v, k]));
  const columns = results.map((r) => {
    const col: Array<number | null> = new Array(x.length).fill(null);
    for (let i = 0; i < r.sigmas.length; i++) col[at.get(fraction ? i / realSteps(r) : i)!] = pick(r, i);
    return col;
  });
  return [x, ...columns] as uPlot.AlignedData;
}

export async function renderSchedulesView(root: HTMLElement): Promise<void> {
  const reg = await loadRegistries(true);
  // The studio model's own schedules (its carried "optimized" one); they apply to that model only.
  const modelOnly = await loadStudioModel().then(
    (m) => m.schedulers,
    () => [] as string[],
  );
  const schedulers = [...allSchedulers(reg), ...modelOnly];
  const defaults = preferred.filter((s) => schedulers.includes(s)).slice(0, 3);
  const models = [...reg.models.map((m) => m.name), reg.studio];
  const modelSelect = h('select', { id: 'model', name: 'model' }, ...models.map((m) => h('option', { value: m, selected: m === 'sd15' }, m === reg.studio ? `${m} (studio model)` : m)));
  const stepsInput = h('input', { id: 'steps', type: 'text', value: '10', placeholder: 'e.g. 10, 20', autocomplete: 'off' });
  const xMode = h('select', { id: 'x-mode' }, h('option', { value: 'index' }, 'step index i'), h('option', { value: 'fraction' }, 'fraction of steps i/n'));
  const schedList = checkList('schedulers', schedulers, defaults.length ? defaults : schedulers.slice(0, 3), { filter: true, onChange: () => replot(), titles: reg.descriptions });
  const modelInfo = h('div', { class: 'hint', id: 'model-info' });
  // What the charts show (the model may differ from the box while a request is on its way or after an error).
  const shownModel = h('div', { class: 'shown-model', id: 'shown-model' });
  const failures = h('ul', { class: 'failures', id: 'sigma-failures', hidden: true });

  const sigmaBox = h('div', { class: 'chart', id: 'chart-sigma' });
  const snrBox = h('div', { class: 'chart', id: 'chart-logsnr' });
  const table = h('table', { class: 'values', id: 'sigma-table' });
  const exportSelect = h('select', { id: 'export-series' });
  const exportText = h('textarea', { id: 'export-text', readonly: true, rows: 3, spellcheck: false });
  let exportFormat: 'json' | 'comfyui' | 'diffusers' = 'json';
  const formatButtons = (['json', 'comfyui', 'diffusers'] as const).map((f) =>
    h('button', { type: 'button', class: `seg${f === exportFormat ? ' active' : ''}`, 'data-format': f, onclick: () => setFormat(f) }, { json: 'JSON list', comfyui: 'ComfyUI sigmas', diffusers: 'diffusers' }[f]),
  );

  clear(root);
  root.append(
    h('section', { class: 'view schedules-view' },
      h('aside', { class: 'panel controls' },
        h('h2', {}, 'Schedules'),
        field('Model sampling', modelSelect),
        modelInfo,
        field('Steps', stepsInput, 'one or more counts, comma separated'),
        field('Schedulers', schedList.el),
        field('x axis', xMode),
        h('button', { type: 'button', class: 'primary', id: 'plot', onclick: () => replot() }, 'Plot'),
      ),
      h('div', { class: 'content' },
        shownModel,
        failures,
        h('div', { class: 'charts two' }, h('div', { class: 'card' }, sigmaBox), h('div', { class: 'card' }, snrBox)),
        h('div', { class: 'card export' },
          h('div', { class: 'export-head' }, h('h3', {}, 'Export'), exportSelect, h('div', { class: 'segmented' }, ...formatButtons),
            h('button', { type: 'button', id: 'copy-export', onclick: () => copyExport() }, 'Copy')),
          exportText,
        ),
        h('div', { class: 'card table-card' }, h('h3', {}, 'Values (sigma)'), h('div', { class: 'table-scroll' }, table)),
      ),
    ),
  );

  const sigmaChart = new LineChart(sigmaBox, { title: 'sigma against step (log scale)', xLabel: 'step', yLabel: 'sigma', logY: true });
  const snrChart = new LineChart(snrBox, { title: 'log-SNR against step', xLabel: 'step', yLabel: 'log SNR' });
  exposeChart('sigma', sigmaChart);
  exposeChart('logsnr', snrChart);
  let results: SigmaResult[] = [];

  function setFormat(f: typeof exportFormat) {
    exportFormat = f;
    for (const b of formatButtons) b.classList.toggle('active', b.dataset.format === f);
    showExport();
  }
  function showExport() {
    const r = results[Number(exportSelect.value)] ?? results[0];
    exportText.value = r ? r.exports[exportFormat] : '';
  }
  async function copyExport() {
    try {
      await navigator.clipboard.writeText(exportText.value);
      toast('copied');
    } catch {
      exportText.select();
      toast('select and copy the text (clipboard not available)');
    }
  }
  exportSelect.addEventListener('change', showExport);

  let pending = 0;
  async function replot() {
    const ticket = ++pending;
    let steps: number[];
    try {
      steps = parseSteps(stepsInput.value, 1000);
    } catch (err) {
      toast((err as Error).message, 'error');
      return;
    }
    let chosen = schedList.values();
    if (modelSelect.value !== reg.studio && chosen.some((c) => modelOnly.includes(c))) {
      toast(`${modelOnly.join(', ')}: the studio model's own schedule, shown with model "${reg.studio}" only`);
      chosen = chosen.filter((c) => !modelOnly.includes(c));
    }
    if (chosen.length === 0) {
      toast('pick at least one scheduler', 'error');
      return;
    }
    const model = modelSelect.value;
    try {
      const res = await post<{ model: { kind: string; sigmaMin: number; sigmaMax: number; description: string }; results: Array<SigmaResult | SigmaFailure> }>('/api/sigmas', {
        model,
        schedulers: chosen,
        steps,
      });
      if (ticket !== pending) return; // a newer request is on its way
      results = res.results.filter((r): r is SigmaResult => 'sigmas' in r);
      showFailures(res.results.filter((r): r is SigmaFailure => 'error' in r));
      modelInfo.textContent = `${res.model.kind}, sigma ${fmt(res.model.sigmaMin)} … ${fmt(res.model.sigmaMax)}`;
      shownModel.textContent = `showing ${model}`;
      shownModel.dataset.model = model;
      schedulerOrder = chosen;
      draw(steps.length > 1);
    } catch (err) {
      if (ticket !== pending) return;
      // Nothing of the old model stays on screen: charts, table and export would not match the model box.
      results = [];
      showFailures([]);
      modelInfo.textContent = '';
      shownModel.textContent = `nothing to show for ${model}: ${(err as Error).message}`;
      shownModel.dataset.model = '';
      draw(false);
      toast((err as Error).message, 'error');
    }
  }

  function showFailures(list: SigmaFailure[]) {
    clear(failures);
    failures.hidden = list.length === 0;
    for (const f of list) failures.append(h('li', { 'data-scheduler': f.scheduler, 'data-steps': String(f.steps) }, `not plotted: ${f.error}`));
  }

  /** Schedulers in the order chosen: a scheduler keeps its colour across step counts (each count its own dash). */
  let schedulerOrder: string[] = [];

  function draw(manySteps: boolean) {
    const fraction = xMode.value === 'fraction';
    const stepOrder = [...new Set(results.map((r) => r.steps))];
    const series: SeriesSpec[] = results.map((r) => ({
      label: seriesLabel(r, manySteps),
      color: seriesColor(Math.max(0, schedulerOrder.indexOf(r.scheduler))),
      dash: dashes[stepOrder.indexOf(r.steps) % dashes.length],
    }));
    sigmaChart.set(series, alignedData(results, (r, i) => (r.sigmas[i]! > 0 ? r.sigmas[i]! : null), fraction));
    snrChart.set(series, alignedData(results, (r, i) => r.logSnr[i] ?? null, fraction));
    clear(exportSelect);
    results.forEach((r, i) => exportSelect.append(h('option', { value: String(i) }, `${r.scheduler} (${realSteps(r)} steps)`)));
    showExport();
    clear(table);
    if (results.length === 0) return;
    const longest = Math.max(...results.map((r) => r.sigmas.length));
    table.append(h('thead', {}, h('tr', {}, h('th', {}, 'i'), ...series.map((s) => h('th', { style: `color:${s.color}` }, s.label)))));
    const body = h('tbody');
    for (let i = 0; i < longest; i++) body.append(h('tr', {}, h('td', {}, String(i)), ...results.map((r) => h('td', {}, i < r.sigmas.length ? fmt(r.sigmas[i]!) : ''))));
    table.append(body);
  }

  modelSelect.addEventListener('change', replot);
  xMode.addEventListener('change', () => draw(new Set(results.map((r) => r.steps)).size > 1));
  stepsInput.addEventListener('change', replot);
  stepsInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') replot();
  });
  await replot();
}
