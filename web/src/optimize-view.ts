import { del, followJob, get, post, type JobSnapshot } from './api.js';
import { LineChart } from './charts.js';
import { clear, field, fmt, h, toast } from './dom.js';
import { countProgressEvent, exposeChart, exposeJob } from './testing.js';
import { loadRegistries } from './state.js';

interface Target {
  name: string;
  description: string;
  model: string;
  methods: string[];
}

interface Sweep {
  sweep: number;
  klub: number | null;
  metric: number | null;
  sigmas: number[];
  note?: string;
}

let stopFollowing: (() => void) | null = null;

/** The run this page started, kept across tab switches: coming back follows it again. */
let activeRun: { id: string; method: string } | null = null;

export async function renderOptimizeView(root: HTMLElement): Promise<void> {
  stopFollowing?.();
  clear(root);
  let targets: Target[] = [];
  let maxSteps = 40;
  let maxSweeps = 12;
  let samplers: string[] = [];
  try {
    const [res, reg] = await Promise.all([get<{ targets: Target[]; maxSteps: number; maxSweeps: number }>('/api/optimize/targets'), loadRegistries()]);
    targets = res.targets;
    maxSteps = res.maxSteps;
    maxSweeps = res.maxSweeps;
    samplers = reg.samplers;
  } catch (err) {
    root.append(h('section', { class: 'view' }, h('div', { class: 'card empty' }, `The optimizer is not available: ${(err as Error).message}`)));
    return;
  }
  const methodSelect = h(
    'select',
    { id: 'method' },
    h('option', { value: 'teacher' }, 'Teacher matching (DP on the sampler\'s own error)'),
    h('option', { value: 'ays' }, 'AYS (KLUB coordinate descent)'),
    h('option', { value: 'gits' }, 'GITS (trajectory DP)'),
  );
  // teacher matching optimizes for one sampler (its own many-step run is the teacher)
  const samplerSelect = h('select', { id: 'opt-sampler' }, ...samplers.map((s) => h('option', { value: s, selected: s === 'euler' }, s)));
  const samplerField = field('Sampler', samplerSelect, 'teacher matching: the schedule is for this sampler');
  const targetSelect = h('select', { id: 'target' }, ...targets.map((t) => h('option', { value: t.name }, t.name)));
  const targetInfo = h('div', { class: 'hint', id: 'target-info' });
  const stepsInput = h('input', { id: 'opt-steps', type: 'number', value: '10', min: 2, max: maxSteps, step: 1 });
  const sweepsInput = h('input', { id: 'opt-sweeps', type: 'number', value: '5', min: 1, max: maxSweeps, step: 1 });
  const seedInput = h('input', { id: 'opt-seed', type: 'number', value: '0', min: 0, step: 1 });
  const startButton = h('button', { type: 'button', class: 'primary', id: 'start-opt', onclick: () => start() }, 'Start');
  const cancelButton = h('button', { type: 'button', class: 'danger', id: 'cancel-opt', disabled: true, onclick: () => cancel() }, 'Cancel');
  const statusText = h('div', { class: 'status-line', id: 'opt-status' }, 'idle');
  const barFill = h('div', { class: 'bar-fill' });
  const progressBox = h('div', { class: 'progress', id: 'opt-progress', 'data-state': 'idle' }, h('div', { class: 'bar' }, barFill));
  const warning = h('div', { class: 'warning', id: 'opt-warning', hidden: true });
  const resultTitle = h('h3', { id: 'opt-result-title' }, 'Result');
  const metricsBox = h('div', { class: 'chart', id: 'chart-metrics' });
  const scheduleBox = h('div', { class: 'chart', id: 'chart-schedule' });
  const sweepTable = h('table', { class: 'values', id: 'sweep-table' });
  const nameInput = h('input', { id: 'save-name', type: 'text', placeholder: 'my-schedule', pattern: '[a-z0-9][a-z0-9_.\\-]{0,47}' });
  const saveButton = h('button', { type: 'button', id: 'save-schedule', disabled: true, onclick: () => save() }, 'Save schedule');
  const resultText = h('textarea', { id: 'opt-result', readonly: true, rows: 2, spellcheck: false });

  root.append(
    h('section', { class: 'view optimize-view' },
      h('aside', { class: 'panel controls' },
        h('h2', {}, 'Optimize'),
        field('Method', methodSelect),
        samplerField,
        field('Target', targetSelect),
        targetInfo,
        h('div', { class: 'row2' }, field('Steps', stepsInput), field('Max sweeps', sweepsInput)),
        field('Seed', seedInput),
        h('div', { class: 'buttons' }, startButton, cancelButton),
        progressBox,
        statusText,
        h('hr'),
        h('h3', {}, 'Save the result'),
        field('Name', nameInput, 'other views list it as saved:<name>'),
        saveButton,
      ),
      h('div', { class: 'content' },
        h('div', { class: 'charts two' }, h('div', { class: 'card' }, metricsBox), h('div', { class: 'card' }, scheduleBox)),
        h('div', { class: 'card' }, resultTitle, warning, resultText),
        h('div', { class: 'card table-card' }, h('h3', {}, 'Sweeps'), h('div', { class: 'table-scroll' }, sweepTable)),
      ),
    ),
  );

  const metricsChart = new LineChart(metricsBox, {
    title: 'KLUB and early-stopping metric per sweep',
    xLabel: 'sweep',
    yLabel: 'KLUB',
    y2Label: 'metric (output MSE)',
    logY: true,
    logY2: true,
    integerX: true,
  });
  const scheduleChart = new LineChart(scheduleBox, { title: 'schedule (sigma, log scale)', xLabel: 'step', yLabel: 'sigma', logY: true, integerX: true });
  exposeChart('metrics', metricsChart);
  exposeChart('schedule', scheduleChart);

  const describe = () => {
    const t = targets.find((x) => x.name === targetSelect.value);
    targetInfo.textContent = t ? `${t.description} (model sampling: ${t.model}; methods: ${t.methods.join(', ')})` : '';
  };
  /** Offer only the targets the chosen method runs on (the studio model takes GITS only). */
  const offerTargets = () => {
    const keep = targetSelect.value;
    clear(targetSelect);
    for (const t of targets.filter((x) => x.methods.includes(methodSelect.value))) targetSelect.append(h('option', { value: t.name, selected: t.name === keep }, t.name));
    describe();
    sweepsInput.disabled = methodSelect.value !== 'ays';
    samplerField.hidden = methodSelect.value !== 'teacher';
  };
  targetSelect.addEventListener('change', describe);
  methodSelect.addEventListener('change', offerTargets);
  offerTargets();

  let jobId: string | null = null;
  let sweeps: Sweep[] = [];
  let initial: number[] | null = null;
  let final: { sigmas: number[]; model: string; method: string; target: string; sweeps: number; stoppedEarly?: boolean; sampler?: string } | null = null;

  let runMethod = 'teacher';
  /** The name field holds our suggestion (replace it on the next result) until the user types in it. */
  let suggestedName = true;
  nameInput.addEventListener('input', () => (suggestedName = nameInput.value === ''));

  function drawSweeps() {
    const title = metricsBox.querySelector('.u-title');
    if (title) {
      title.textContent =
        runMethod === 'gits'
          ? 'GITS: metric of the EDM start and of the GITS path'
          : runMethod === 'teacher'
            ? 'Teacher matching: held-out MSE to the teacher, start (karras) and result'
            : 'KLUB and early-stopping metric per sweep';
    }
    const x = sweeps.map((s) => s.sweep);
    metricsChart.set(
      [{ label: 'KLUB', color: '#4361ee' }, { label: 'metric', color: '#e63946', scale: 'y2', dash: [6, 4] }],
      [x, sweeps.map((s) => (s.klub !== null && s.klub > 0 ? s.klub : null)), sweeps.map((s) => (s.metric !== null && s.metric > 0 ? s.metric : null))] as never,
    );
    // Later stages report no schedule of their own (empty sigmas); show the last stage-1 one until the result.
    const withSigmas = sweeps.filter((s) => s.sigmas.length > 0);
    const last = withSigmas[withSigmas.length - 1];
    if (last) {
      const first = initial ?? withSigmas[0]!.sigmas;
      const current = final ? final.sigmas : last.sigmas;
      const n = Math.max(first.length, current.length);
      const idx = Array.from({ length: n }, (_, i) => i);
      const positive = (list: number[]) => idx.map((i) => (list[i] !== undefined && list[i]! > 0 ? list[i]! : null));
      scheduleChart.set(
        [{ label: 'start', color: '#9aa3b5', dash: [4, 4] }, { label: final ? 'result' : `sweep ${last.sweep}`, color: '#2a9d8f' }],
        [idx, positive(first), positive(current)] as never,
      );
    }
    clear(sweepTable);
    sweepTable.append(h('thead', {}, h('tr', {}, h('th', {}, 'sweep'), h('th', {}, 'KLUB'), h('th', {}, 'metric'), h('th', {}, 'note'))));
    const body = h('tbody');
    // Early stopping keeps the sweep with the lowest metric, not the last one: say which.
    let kept = -1;
    if (final?.stoppedEarly) {
      for (const s of sweeps) if (s.metric !== null && (kept < 0 || s.metric < sweeps.find((x) => x.sweep === kept)!.metric!)) kept = s.sweep;
    }
    for (const s of sweeps) {
      const note = s.sweep === kept ? `kept: lowest metric${s.note ? ` · ${s.note}` : ''}` : (s.note ?? '');
      body.append(h('tr', { class: s.sweep === kept ? 'kept' : '' }, h('td', {}, String(s.sweep)), h('td', {}, fmt(s.klub)), h('td', {}, fmt(s.metric)), h('td', {}, note)));
    }
    sweepTable.append(body);
  }

  function setRunning(running: boolean) {
    startButton.disabled = running;
    cancelButton.disabled = !running;
  }

  function setProgress(fraction: number, state: string) {
    barFill.style.width = `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)}%`;
    progressBox.dataset.state = state;
  }

  /**
   * The result's early-stopping metric against its start's (sweep 0): a GITS path, or an AYS run cut short,
   * can score worse than where it began; then say so instead of presenting it as an improvement.
   */
  function judgeResult() {
    const start = sweeps.find((s) => s.sweep === 0)?.metric ?? null;
    const scored = sweeps.filter((s) => s.metric !== null && s.sweep > 0);
    const end = final?.method !== 'ays' || !final?.stoppedEarly ? (scored[scored.length - 1]?.metric ?? null) : Math.min(...scored.map((s) => s.metric!));
    const worse = start !== null && end !== null && end > start;
    warning.hidden = !worse;
    resultTitle.textContent = worse ? 'Result (worse than its start)' : 'Result';
    if (worse) {
      warning.textContent = `The result scores worse than the schedule it started from (metric ${fmt(end)} against ${fmt(start)} at sweep 0): keep the start, or run again with more sweeps or another seed.`;
    }
  }

  async function start() {
    const body = {
      method: methodSelect.value,
      target: targetSelect.value,
      steps: Number(stepsInput.value),
      maxSweeps: Number(sweepsInput.value),
      seed: Number(seedInput.value),
      ...(methodSelect.value === 'teacher' ? { sampler: samplerSelect.value } : {}),
    };
    statusText.textContent = 'starting…';
    let id: string;
    try {
      const { job } = await post<{ job: JobSnapshot }>('/api/optimize', body);
      id = job.id;
    } catch (err) {
      statusText.textContent = 'idle';
      toast((err as Error).message, 'error');
      return;
    }
    activeRun = { id, method: body.method };
    follow(id, body.method);
  }

  /** Follow a run's events (all of them replay first, so the charts and table rebuild from the start). */
  function follow(id: string, method: string) {
    jobId = id;
    exposeJob(id);
    sweeps = [];
    runMethod = method;
    initial = null;
    final = null;
    saveButton.disabled = true;
    resultText.value = '';
    warning.hidden = true;
    resultTitle.textContent = 'Result';
    setProgress(0, 'queued');
    setRunning(true);
    statusText.textContent = 'queued…';
    stopFollowing?.();
    stopFollowing = followJob(jobId, (event, data) => {
      if (event === 'status' && data.status === 'running') statusText.textContent = 'running…';
      else if (event === 'progress') {
        // e.g. GITS on the studio model: minutes of teacher solves before the first result
        const fraction = data.total ? data.done / data.total : 0;
        countProgressEvent();
        setProgress(fraction, 'running');
        statusText.textContent = `running · ${Math.round(fraction * 100)}%${data.where ? ` · ${data.where}` : ''}`;
      } else if (event === 'sweep') {
        if (data.sweep === 0) initial = data.sigmas;
        sweeps.push(data as Sweep);
        statusText.textContent = `sweep ${data.sweep}${data.note ? ` · ${data.note}` : ''}`;
        drawSweeps();
      } else if (event === 'done') {
        final = data.result;
        setRunning(false);
        const how = final!.method === 'ays' ? `done after ${final!.sweeps} sweeps` : 'done';
        statusText.textContent = `${how}${data.result.note ? ` · ${data.result.note}` : ''}`;
        resultText.value = JSON.stringify(final!.sigmas.map((s) => Number(s.toPrecision(8))));
        drawSweeps();
        judgeResult();
        setProgress(1, 'done');
        saveButton.disabled = false;
        if (suggestedName) nameInput.value = `${final!.method}-${final!.sampler ? `${final!.sampler}-` : ''}${final!.target}-${final!.sigmas.length - 1}`.toLowerCase().replace(/[^a-z0-9_.-]/g, '-');
      } else if (event === 'cancelled') {
        setRunning(false);
        setProgress(0, 'cancelled');
        statusText.textContent = 'cancelled';
      } else if (event === 'failed') {
        setRunning(false);
        setProgress(0, 'failed');
        statusText.textContent = `failed: ${data.error}`;
        toast(`optimization failed: ${data.error}`, 'error');
      }
    });
  }

  async function cancel() {
    if (!jobId) return;
    statusText.textContent = 'cancelling… (stops at the next model call)';
    try {
      await del(`/api/jobs/${jobId}`);
    } catch (err) {
      toast((err as Error).message, 'error');
    }
  }

  async function save() {
    if (!final) return;
    try {
      const res = await post<{ scheduler: string }>('/api/schedules/saved', {
        name: nameInput.value.trim(),
        sigmas: final.sigmas,
        model: final.model,
        source: final.sampler ? `${final.method} for ${final.sampler} on ${final.target}` : `${final.method} on ${final.target}, ${final.sweeps} sweeps`,
      });
      toast(`saved as ${res.scheduler}: pick it in Schedules or Compare`);
      saveButton.disabled = true;
    } catch (err) {
      toast((err as Error).message, 'error');
    }
  }

  if (activeRun) {
    const run = activeRun;
    const known = await get<JobSnapshot>(`/api/jobs/${run.id}`).catch(() => null);
    if (known) {
      methodSelect.value = run.method;
      offerTargets();
      follow(run.id, run.method);
    } else activeRun = null;
  }
}
