import { del, followJob, get, post, savedFits, type JobSnapshot } from './api.js';
import { checkList, clear, field, h, parseSteps, toast } from './dom.js';
import { allSchedulers, loadRegistries, loadStudioModel } from './state.js';
import { exposeJob } from './testing.js';

interface Cell {
  index: number;
  row: number;
  col: number;
  scheduler: string;
  sampler: string;
  steps: number;
  label: string;
  url: string;
  parameters: string;
  sigmas: number[];
  nfe: number;
}

const preferredSchedulers = ['optimized', 'karras', 'ays', 'exponential', 'normal'];
const preferredSamplers = ['euler', 'dpmpp_2m', 'euler_ancestral'];

/** Stops following the running job when the view is drawn again. */
let stopFollowing: (() => void) | null = null;

/** The grid job this page started, kept across tab switches: coming back follows it again. */
let activeJob: { id: string; seed: number; cfg: number } | null = null;

export async function renderCompareView(root: HTMLElement): Promise<void> {
  stopFollowing?.();
  const [reg, model] = await Promise.all([loadRegistries(true), loadStudioModel()]);
  // Saved schedules made for another sigma range would render broken images with this model: not offered.
  const unfit = new Set(reg.saved.filter((s) => !savedFits(s, model.modelSampling)).map((s) => s.name));
  const schedulers = [...model.schedulers, ...allSchedulers(reg).filter((s) => !unfit.has(s))];
  const schedList = checkList('schedulers', schedulers, preferredSchedulers.filter((s) => schedulers.includes(s)).slice(0, 2), { filter: true, titles: reg.descriptions });
  const samplerList = checkList('samplers', reg.samplers, preferredSamplers.filter((s) => reg.samplers.includes(s)).slice(0, 1), { filter: true, titles: reg.descriptions });
  const classes = model.classes ?? [];
  const classList = classes.length ? checkList('classes', classes, classes.slice(0, 1), { compact: true }) : null;
  const promptInput = classes.length ? null : h('textarea', { id: 'prompt', rows: 3, placeholder: 'a photo of a cat' });
  const stepsInput = h('input', { id: 'steps', type: 'text', value: '4, 10', autocomplete: 'off' });
  // Text models only: image size, multiples of what the UNet needs (64 for SD1.x, 32 for SDXL).
  const multiple = model.sizeMultiple ?? 8;
  const widthInput = h('input', { id: 'width', type: 'number', value: String(model.nativeSize?.width ?? 512), min: multiple, max: 1024, step: multiple });
  const heightInput = h('input', { id: 'height', type: 'number', value: String(model.nativeSize?.height ?? 512), min: multiple, max: 1024, step: multiple });
  const seedInput = h('input', { id: 'seed', type: 'number', value: '1', min: 0, max: 4294967295, step: 1 });
  const cfgInput = h('input', { id: 'cfg', type: 'number', value: '2', min: 0, max: 30, step: 0.5 });
  const renderButton = h('button', { type: 'button', class: 'primary', id: 'render', onclick: () => start() }, 'Render grid');
  const cancelButton = h('button', { type: 'button', class: 'danger', id: 'cancel', disabled: true, onclick: () => cancel() }, 'Cancel');
  const bar = h('div', { class: 'bar-fill' });
  const progressText = h('span', { class: 'progress-text', id: 'progress-text' }, 'idle');
  const progress = h('div', { class: 'progress', id: 'progress' }, h('div', { class: 'bar' }, bar), progressText);
  const gridBox = h('div', { class: 'grid-box', id: 'grid' }, h('div', { class: 'empty' }, 'Pick schedulers, samplers and steps, then render. Cells appear as they finish.'));
  const download = h('a', { class: 'button', id: 'download-grid', href: '#', download: 'grid.png', hidden: true }, 'Download grid PNG');
  const dialog = h('dialog', { class: 'cell-dialog', id: 'cell-dialog' });

  clear(root);
  root.append(
    h('section', { class: 'view compare-view' },
      h('aside', { class: 'panel controls' },
        h('h2', {}, 'Compare'),
        h('div', { class: 'hint' }, `Model: ${model.modelName} (${model.kind})`),
        field('Schedulers (rows)', schedList.el),
        field('Samplers (rows)', samplerList.el),
        field('Steps (columns)', stepsInput, 'comma separated, up to 100'),
        classList ? field('Classes (columns)', classList.el) : field('Prompt', promptInput!),
        classList ? null : h('div', { class: 'row2' }, field('Width', widthInput), field('Height', heightInput)),
        h('div', { class: 'row2' }, field('Seed', seedInput), field('CFG', cfgInput)),
        h('div', { class: 'buttons' }, renderButton, cancelButton),
      ),
      h('div', { class: 'content' },
        unfit.size ? h('div', { class: 'hint', id: 'unfit-saved' }, `Not offered (saved for another sigma range than ${model.modelName}'s): ${[...unfit].join(', ')}`) : null,
        h('div', { class: 'card' }, h('div', { class: 'grid-head' }, progress, download), gridBox),
      ),
      dialog,
    ),
  );

  let jobId: string | null = null;
  /** Seed and CFG of the grid on screen (the inputs may have changed since). */
  let rendered = { seed: 0, cfg: 0 };
  let plan: { rows: string[]; cols: string[]; cells: number } | null = null;
  const cells = new Map<number, Cell>();

  function setRunning(running: boolean) {
    renderButton.disabled = running;
    cancelButton.disabled = !running;
  }

  let shownFraction = 0;
  function setProgress(fraction: number, text: string, state = '') {
    shownFraction = fraction;
    bar.style.width = `${Math.round(fraction * 100)}%`;
    progressText.textContent = text;
    progress.dataset.state = state;
  }

  function layout() {
    if (!plan) return;
    clear(gridBox);
    const grid = h('div', { class: 'grid', style: `grid-template-columns: max-content repeat(${plan.cols.length}, minmax(96px, 160px))` });
    grid.append(h('div', { class: 'corner' }));
    for (const c of plan.cols) grid.append(h('div', { class: 'col-label' }, c));
    plan.rows.forEach((rowLabel, r) => {
      grid.append(h('div', { class: 'row-label' }, rowLabel));
      for (let c = 0; c < plan!.cols.length; c++) {
        const index = r * plan!.cols.length + c;
        grid.append(h('button', { type: 'button', class: 'cell pending', 'data-index': index, onclick: () => openCell(index) }, h('span', { class: 'spinner' })));
      }
    });
    gridBox.append(grid);
  }

  function placeCell(cell: Cell) {
    cells.set(cell.index, cell);
    const slot = gridBox.querySelector<HTMLElement>(`.cell[data-index="${cell.index}"]`);
    if (!slot) return;
    clear(slot);
    slot.classList.remove('pending');
    slot.append(h('img', { src: cell.url, alt: `${cell.scheduler} ${cell.sampler} ${cell.steps} steps ${cell.label}`, draggable: false }));
  }

  function openCell(index: number) {
    const cell = cells.get(index);
    if (!cell) return;
    clear(dialog);
    dialog.append(
      h('div', { class: 'dialog-body' },
        h('img', { src: cell.url, class: 'large', alt: 'cell' }),
        h('div', { class: 'dialog-side' },
          h('h3', {}, `${cell.scheduler} · ${cell.sampler}`),
          h('dl', {},
            h('dt', {}, 'steps'), h('dd', {}, String(cell.steps)),
            h('dt', {}, 'class'), h('dd', {}, cell.label),
            h('dt', {}, 'seed · cfg'), h('dd', {}, `${rendered.seed} · ${rendered.cfg}`),
            h('dt', {}, 'model calls'), h('dd', {}, String(cell.nfe)),
          ),
          h('div', { class: 'field-label' }, 'sigmas'),
          h('pre', { class: 'mono small' }, cell.sigmas.map((s) => (s === 0 ? '0' : s.toPrecision(5))).join(', ')),
          h('div', { class: 'field-label' }, 'parameters'),
          h('pre', { class: 'mono small', id: 'cell-parameters' }, cell.parameters),
          h('div', { class: 'buttons' }, h('a', { class: 'button', href: `${cell.url}?download`, download: '' }, 'Download PNG'), h('button', { type: 'button', onclick: () => dialog.close() }, 'Close')),
        ),
      ),
    );
    dialog.showModal();
  }
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) dialog.close();
  });

  async function start() {
    let body: Record<string, unknown>;
    try {
      body = {
        schedulers: schedList.values(),
        samplers: samplerList.values(),
        steps: parseSteps(stepsInput.value, 100),
        seed: Number(seedInput.value),
        cfg: Number(cfgInput.value),
      };
      if (classList) body.classes = classList.values().map((c) => classes.indexOf(c));
      else {
        body.prompt = promptInput!.value;
        body.width = Number(widthInput.value);
        body.height = Number(heightInput.value);
      }
    } catch (err) {
      toast((err as Error).message, 'error');
      return;
    }
    try {
      const { job } = await post<{ job: JobSnapshot }>('/api/generate', body);
      rendered = { seed: body.seed as number, cfg: body.cfg as number };
      activeJob = { id: job.id, ...rendered };
      follow(job.id);
    } catch (err) {
      toast((err as Error).message, 'error');
    }
  }

  /** Whether the followed job has ended (a late answer must not relabel it). */
  let finished = false;

  function follow(id: string) {
    jobId = id;
    finished = false;
    exposeJob(id);
    cells.clear();
    plan = null;
    clear(gridBox);
    gridBox.append(h('div', { class: 'empty' }, 'Waiting for the queue…'));
    download.hidden = true;
    setRunning(true);
    setProgress(0, 'queued…', 'queued');
    stopFollowing?.();
    stopFollowing = followJob(id, (event, data) => {
      if (event === 'plan') {
        plan = data;
        layout();
      } else if (event === 'progress') {
        const cellsText = data.cellsTotal ? ` · ${data.cellsDone}/${data.cellsTotal} cells` : '';
        setProgress(data.total ? data.done / data.total : 0, `step ${data.done}/${data.total}${cellsText}`, 'running');
      } else if (event === 'cell') {
        placeCell(data as Cell);
      } else if (event === 'grid') {
        download.href = `${data.url}?download`;
        download.hidden = false;
      } else if (event === 'status' && data.status === 'running') {
        if (!plan) setProgress(0, 'running…', 'running');
      } else if (event === 'done') {
        finished = true;
        setRunning(false);
        setProgress(1, `done · ${cells.size} cells`, 'done');
      } else if (event === 'cancelled') {
        finished = true;
        setRunning(false);
        setProgress(shownFraction, `cancelled · ${cells.size} cells finished`, 'cancelled');
        for (const el of gridBox.querySelectorAll('.cell.pending')) {
          el.classList.replace('pending', 'skipped');
          clear(el);
        }
      } else if (event === 'failed') {
        finished = true;
        setRunning(false);
        setProgress(0, `failed: ${data.error}`, 'failed');
        toast(`render failed: ${data.error}`, 'error');
      }
    });
  }

  async function cancel() {
    if (!jobId || finished) return;
    // Say "cancelling" first: a queued job is cancelled at once, and its event may arrive before this answer.
    setProgress(shownFraction, 'cancelling…', 'cancelling');
    try {
      const { job } = await del<{ job: JobSnapshot }>(`/api/jobs/${jobId}`);
      if (!finished && job.status === 'cancelled') {
        finished = true;
        setRunning(false);
        setProgress(shownFraction, `cancelled · ${cells.size} cells finished`, 'cancelled');
      }
    } catch (err) {
      toast((err as Error).message, 'error');
    }
  }

  // Coming back to the tab: follow the grid this page started (its events replay, so the grid is rebuilt).
  if (activeJob) {
    const job = activeJob;
    const known = await get<JobSnapshot>(`/api/jobs/${job.id}`).catch(() => null);
    if (known) {
      rendered = { seed: job.seed, cfg: job.cfg };
      seedInput.value = String(job.seed);
      cfgInput.value = String(job.cfg);
      follow(job.id);
    } else activeJob = null;
  }
}
