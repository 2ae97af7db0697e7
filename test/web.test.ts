// Browser tests of the studio: Debian's Chromium driven by playwright-core. Each view is opened, used and
// photographed into test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startTestStudio, json, type TestStudio } from './server-helpers.js';

// These run inside the page; the project compiles without the DOM library, so name them loosely here.
declare const window: any;
declare const document: any;
type HTMLInputElement = { checked: boolean; value: string; click(): void };
type HTMLImageElement = { complete: boolean; naturalWidth: number };

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
// dist/test/web.test.js -> <repo>/test-artifacts
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

let studio: TestStudio;
let context: BrowserContext;
let page: Page;
let profile: string;
/** The studio model's class names (the Compare view lists them). */
let classes: string[];
const pageErrors: string[] = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  studio = await startTestStudio({ concurrency: 1, maxQueued: 4 });
  profile = mkdtempSync(join(tmpdir(), 'ays-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1360, height: 900 },
    timeout: 60_000,
  });
  page = context.pages()[0] ?? (await context.newPage());
  const model = await json(studio.base, 'GET', '/api/model');
  assert.equal(model.status, 200, JSON.stringify(model.body));
  classes = model.body.classes;
  assert.equal(classes.length, 10);
  page.setDefaultTimeout(60_000);
  page.on('pageerror', (err) => pageErrors.push(err.message));
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await studio?.stop();
});

async function open(view: string): Promise<void> {
  // A fresh document each time: going to the URL already shown would only be a same-page hash visit.
  await page.goto('about:blank');
  await page.goto(`${studio.base}/#/${view}`);
  await page.waitForSelector(`body[data-view="${view}"][data-ready="true"]`);
}

async function setChecks(list: string, values: string[]): Promise<void> {
  const offered = await page.$$eval(`.checklist[data-name="${list}"] input[type=checkbox]`, (boxes) => (boxes as HTMLInputElement[]).map((b) => b.value));
  for (const v of values) assert.ok(offered.includes(v), `${list} offers ${v} (offered: ${offered.join(', ')})`);
  await page.$$eval(
    `.checklist[data-name="${list}"] input[type=checkbox]`,
    (boxes, wanted) => {
      for (const b of boxes as HTMLInputElement[]) {
        if (b.checked !== wanted.includes(b.value)) b.click();
      }
    },
    values,
  );
}

async function shot(name: string, fullPage = true): Promise<string> {
  const path = join(ARTIFACTS, name);
  // full-page pictures from the top, so the sticky header sits where it belongs
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path, fullPage });
  assert.ok(statSync(path).size > 5000, `${name} looks empty`);
  return path;
}

type ChartData = { labels: string[]; data: Array<Array<number | null>> } | null;
const chartData = (name: string) => page.evaluate((n) => (window as any).__ays.charts[n]?.() as ChartData, name);

test('Schedules view: three schedules plotted against step and log-SNR, equal to the API, with table and exports', async () => {
  await open('schedules');
  await page.selectOption('#model', 'sd15');
  await page.fill('#steps', '10');
  await setChecks('schedulers', ['karras', 'exponential', 'ays']);
  await page.click('#plot');
  await page.waitForFunction(() => {
    const d = (window as any).__ays?.charts?.sigma?.();
    return d && d.labels.length === 3 && d.labels.includes('ays');
  });
  const api = await json(studio.base, 'POST', '/api/sigmas', { model: 'sd15', schedulers: ['karras', 'exponential', 'ays'], steps: [10] });
  const sigma = (await chartData('sigma'))!;
  const snr = (await chartData('logsnr'))!;
  assert.deepEqual(sigma.data[0], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  for (const r of api.body.results) {
    const k = sigma.labels.indexOf(r.scheduler);
    assert.ok(k >= 0, `${r.scheduler} is plotted`);
    // the log-scale chart leaves out the final 0
    assert.deepEqual(sigma.data[k + 1], r.sigmas.map((s: number) => (s > 0 ? s : null)));
    assert.deepEqual(snr.data[k + 1], r.logSnr);
  }
  // the table shows every value, the export box the selected format
  assert.equal(await page.locator('#sigma-table tbody tr').count(), 11);
  await page.click('button[data-format="comfyui"]');
  const comfy = await page.inputValue('#export-text');
  assert.equal(comfy.split(',').length, 11);
  await page.click('button[data-format="diffusers"]');
  assert.match(await page.inputValue('#export-text'), /^timesteps=\[999, /);
  await shot('schedules.png');
  // several step counts on a fraction axis
  await page.fill('#steps', '5, 10');
  await page.press('#steps', 'Enter');
  await page.waitForFunction(() => (window as any).__ays.charts.sigma().labels.length === 6);
  await page.selectOption('#x-mode', 'fraction');
  const frac = (await chartData('sigma'))!;
  assert.equal(frac.data[0]![frac.data[0]!.length - 1], 1);
  assert.ok(frac.labels.includes('karras · 5'));
});

test('Compare view: a 2x2 grid with the bundled model, four images arrive, a cell opens large', async () => {
  await open('compare');
  await setChecks('schedulers', ['karras', 'normal']);
  await setChecks('samplers', ['euler']);
  await setChecks('classes', [classes[7]!]);
  await page.fill('#steps', '4, 8');
  await page.click('#render');
  await page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll('#grid .cell img')] as HTMLImageElement[];
    return imgs.length === 4 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  });
  await page.waitForSelector('.progress[data-state="done"]');
  assert.equal(await page.locator('#grid .col-label').count(), 2);
  assert.deepEqual(await page.locator('#grid .row-label').allTextContents(), ['karras · euler', 'normal · euler']);
  assert.equal(await page.isVisible('#download-grid'), true);
  const href = await page.getAttribute('#download-grid', 'href');
  const grid = await fetch(studio.base + href);
  assert.equal(grid.status, 200);
  assert.equal(grid.headers.get('content-type'), 'image/png');
  await shot('compare.png');
  await page.click('#grid .cell[data-index="3"]');
  await page.waitForSelector('#cell-dialog[open] img.large');
  assert.match(await page.textContent('#cell-parameters') ?? '', /Steps: 8/);
  await shot('compare-cell.png', false); // the modal's backdrop covers the viewport only
  await page.keyboard.press('Escape');
});

test('Compare view: cancel a running job', async () => {
  await open('compare');
  await setChecks('schedulers', ['karras', 'exponential']);
  await setChecks('samplers', ['euler', 'heun']);
  await setChecks('classes', [classes[1]!, classes[8]!, classes[3]!]);
  await page.fill('#steps', '40, 60');
  await page.click('#render');
  // cancel once the first row segment has arrived, so finished and skipped cells show side by side
  await page.waitForSelector('.progress[data-state="running"]');
  await page.waitForSelector('#grid .cell img');
  await page.click('#cancel');
  await page.waitForSelector('.progress[data-state="cancelled"]');
  const id = await page.evaluate(() => (window as any).__ays.lastJob as string);
  const snap = await json(studio.base, 'GET', `/api/jobs/${id}`);
  assert.equal(snap.body.status, 'cancelled');
  assert.ok((await page.locator('#grid .cell.skipped').count()) > 0, 'unfinished cells are marked');
  const finished = await page.locator('#grid .cell img').count();
  assert.ok(finished >= 1 && finished < 24, `${finished} cells finished before the cancel`);
  assert.equal(await page.isEnabled('#render'), true);
  await shot('compare-cancelled.png');
});

test('Optimize view: teacher matching is the default method and asks for the sampler; its result is judged on held-out noise', async () => {
  await open('optimize');
  assert.equal(await page.inputValue('#method'), 'teacher');
  assert.equal(await page.isVisible('#opt-sampler'), true);
  await page.selectOption('#opt-sampler', 'dpmpp_2m');
  const targets = await page.$$eval('#target option', (options) => (options as Array<{ value: string }>).map((o) => o.value));
  assert.ok(targets.includes('bundled') && targets.includes('gmm2d-8x8'), targets.join(','));
  await page.selectOption('#target', 'gmm2d-8x8');
  await page.fill('#opt-steps', '6');
  await page.click('#start-opt');
  await page.waitForFunction(() => /^done/.test(document.querySelector('#opt-status')?.textContent ?? ''));
  assert.equal(await page.locator('#sweep-table tbody tr').count(), 2);
  assert.match((await page.textContent('#sweep-table tbody')) ?? '', /karras \(start\).*teacher DP for dpmpp_2m/s);
  assert.equal(await page.isVisible('#opt-warning'), false, 'the teacher schedule beats its karras start on gmm2d-8x8');
  assert.equal(await page.inputValue('#save-name'), 'teacher-dpmpp_2m-gmm2d-8x8-6');
  await page.selectOption('#method', 'ays');
  assert.equal(await page.isVisible('#opt-sampler'), false, 'AYS and GITS do not take a sampler');
  assert.deepEqual(pageErrors, []);
});

test('Optimize view: AYS on a testbed, live KLUB/metric chart, save under a name the other views list', async () => {
  await open('optimize');
  await page.selectOption('#method', 'ays');
  await page.selectOption('#target', 'gmm2d-8x8');
  await page.fill('#opt-steps', '6');
  await page.fill('#opt-sweeps', '3');
  await page.click('#start-opt');
  await page.waitForFunction(() => /^done/.test(document.querySelector('#opt-status')?.textContent ?? ''));
  const metrics = (await chartData('metrics'))!;
  assert.deepEqual(metrics.labels, ['KLUB', 'metric']);
  const sweeps = metrics.data[0]!.length;
  assert.ok(sweeps >= 2, `${sweeps} sweeps plotted`);
  assert.ok(metrics.data[1]!.every((v) => v !== null && v > 0), 'a KLUB per sweep');
  const sigmas = JSON.parse(await page.inputValue('#opt-result')) as number[];
  assert.equal(sigmas.length, 7);
  assert.equal(sigmas[6], 0);
  await page.fill('#save-name', 'studio-gmm-6');
  await page.click('#save-schedule');
  await page.waitForSelector('#toast.show');
  assert.match((await page.textContent('#toast')) ?? '', /saved as saved:studio-gmm-6/);
  // let the toast finish fading in before the picture
  await page.waitForFunction(() => window.getComputedStyle(document.querySelector('#toast')).opacity === '1');
  await shot('optimize.png');
  // GITS: the studio model is offered, and a testbed run shows the EDM start against the GITS path
  await page.selectOption('#method', 'gits');
  const gitsTargets = await page.$$eval('#target option', (options) => (options as Array<{ value: string }>).map((o) => o.value));
  assert.ok(gitsTargets.includes('bundled'));
  await page.selectOption('#target', 'gmm2d-8x8');
  await page.click('#start-opt');
  await page.waitForFunction(() => /^done · GITS/.test(document.querySelector('#opt-status')?.textContent ?? ''));
  assert.equal(await page.locator('#sweep-table tbody tr').count(), 2);
  await shot('optimize-gits.png');
  // the Schedules view offers the saved one now
  await open('schedules');
  assert.equal(await page.locator('.checklist[data-name="schedulers"] input[value="saved:studio-gmm-6"]').count(), 1);
  assert.deepEqual(pageErrors, [], 'no script errors on any page');
});

test('Schedules view: one failing scheduler is marked while the others plot; after a 400 nothing of the old model stays', async () => {
  await open('schedules');
  await page.selectOption('#model', 'sd15');
  await page.fill('#steps', '6');
  await setChecks('schedulers', ['karras', 'gits']);
  await page.click('#plot');
  await page.waitForFunction(() => (window as any).__ays.charts.sigma()?.labels.length === 2);
  // svd has no GITS table: karras still plots, gits is listed as not plotted
  await page.selectOption('#model', 'svd');
  await page.waitForSelector('#shown-model[data-model="svd"]');
  const svd = (await chartData('sigma'))!;
  assert.deepEqual(svd.labels, ['karras']);
  assert.ok(Math.abs(svd.data[1]![0]! - 700) < 1e-3, `svd karras starts at 700, got ${svd.data[1]![0]}`);
  assert.match((await page.textContent('#sigma-failures')) ?? '', /not plotted: gits at 6 steps/);
  assert.match(await page.inputValue('#export-text'), /^\[700/);
  // only gits on svd: a 400; the charts, table and export no longer show sd15's (or anyone's) schedule
  await setChecks('schedulers', ['gits']);
  await page.click('#plot');
  await page.waitForFunction(() => /nothing to show for svd/.test(document.querySelector('#shown-model')?.textContent ?? ''));
  assert.deepEqual((await chartData('sigma'))?.labels ?? [], []);
  assert.equal(await page.inputValue('#export-text'), '');
  assert.equal(await page.locator('#sigma-table tbody tr').count(), 0);
  assert.equal(await page.locator('#export-series option').count(), 0);
});

test('Schedules view: colours stay distinct beyond 12 series and per scheduler across step counts; beta shows its real step count', async () => {
  await open('schedules');
  await page.selectOption('#model', 'sd15');
  const many = ['simple', 'sgm_uniform', 'karras', 'exponential', 'ddim_uniform', 'beta', 'normal', 'linear_quadratic', 'kl_optimal', 'ays', 'ays_a1111', 'gits', 'polyexponential', 'vp'];
  await setChecks('schedulers', many);
  await page.fill('#steps', '6, 8');
  await page.click('#plot');
  await page.waitForFunction(() => (window as any).__ays.charts.sigma()?.labels.length === 28);
  const chart = (await chartData('sigma')) as unknown as { labels: string[]; colors: string[]; dashes: Array<number[] | null> };
  const colorOf = new Map<string, string>();
  chart.labels.forEach((label, i) => {
    const scheduler = label.split(' · ')[0]!;
    const seen = colorOf.get(scheduler);
    if (seen) assert.equal(chart.colors[i], seen, `${scheduler} keeps its colour across step counts`);
    else colorOf.set(scheduler, chart.colors[i]!);
  });
  assert.equal(colorOf.size, 14);
  assert.equal(new Set(colorOf.values()).size, 14, `14 schedulers, 14 colours: ${[...colorOf.values()].join(' ')}`);
  const karras6 = chart.labels.indexOf('karras · 6');
  const karras8 = chart.labels.indexOf('karras · 8');
  assert.notDeepEqual(chart.dashes[karras6] ?? null, chart.dashes[karras8] ?? null, 'step counts differ by dash');
  // beta drops repeated timesteps: at 1000 steps it has 847, and says so
  const api = await json(studio.base, 'POST', '/api/sigmas', { model: 'sd15', schedulers: ['beta'], steps: [1000] });
  const real = api.body.results[0].sigmas.length - 1;
  assert.ok(real < 1000, `beta keeps ${real} steps`);
  await setChecks('schedulers', ['beta']);
  await page.fill('#steps', '1000');
  await page.click('#plot');
  await page.waitForFunction((n) => (window as any).__ays.charts.sigma()?.labels[0] === `beta · ${n} (asked 1000)`, real);
  assert.match(await page.textContent('#export-series option') ?? '', new RegExp(`beta \\(${real} steps\\)`));
});

test('Compare view: a queued job cancels to "cancelled"; switching tabs keeps following the running job', async () => {
  // another client's long grid keeps the queue busy, so the page's grid waits in the queue
  const busy = await json(studio.base, 'POST', '/api/generate', { schedulers: ['karras', 'exponential'], samplers: ['euler', 'heun'], steps: [60], classes: [1, 2, 3], seed: 5, cfg: 2 });
  assert.equal(busy.status, 202);
  try {
    await open('compare');
    await setChecks('schedulers', ['karras']);
    await setChecks('samplers', ['euler']);
    await setChecks('classes', [classes[2]!]);
    await page.fill('#steps', '3');
    await page.click('#render');
    await page.waitForSelector('.progress[data-state="queued"]');
    // to another tab and back: still following the queued job
    await page.click('.tabs a[data-view="schedules"]');
    await page.waitForSelector('body[data-view="schedules"][data-ready="true"]');
    await page.click('.tabs a[data-view="compare"]');
    await page.waitForSelector('body[data-view="compare"][data-ready="true"]');
    await page.waitForSelector('.progress[data-state="queued"]');
    await page.click('#cancel');
    await page.waitForSelector('.progress[data-state="cancelled"]', { timeout: 5000 });
    assert.match((await page.textContent('#progress-text')) ?? '', /^cancelled/);
  } finally {
    await json(studio.base, 'DELETE', `/api/jobs/${busy.body.job.id}`);
  }
  // a running grid survives a round trip through the other tabs (the view was drawn again: set it up anew)
  await setChecks('schedulers', ['karras']);
  await setChecks('samplers', ['euler']);
  await page.fill('#steps', '24');
  await setChecks('classes', [classes[2]!, classes[5]!]);
  await page.click('#render');
  await page.waitForSelector('.progress[data-state="running"]');
  const id = await page.evaluate(() => (window as any).__ays.lastJob as string);
  await page.click('.tabs a[data-view="optimize"]');
  await page.waitForSelector('body[data-view="optimize"][data-ready="true"]');
  await page.click('.tabs a[data-view="compare"]');
  await page.waitForSelector('body[data-view="compare"][data-ready="true"]');
  assert.notEqual(await page.textContent('#progress-text'), 'idle');
  await page.waitForSelector('.progress[data-state="done"]');
  assert.equal(await page.evaluate(() => (window as any).__ays.lastJob as string), id);
  assert.equal(await page.locator('#grid .cell img').count(), 2);
});

test('Optimize view: progress events move the bar; the run survives a tab switch; a result worse than its start is flagged', async () => {
  await open('optimize');
  // GITS on gmm16 at 3 steps scores worse than its EDM start (0.169 against 0.142)
  await page.selectOption('#method', 'gits');
  await page.selectOption('#target', 'gmm16');
  await page.fill('#opt-steps', '3');
  await page.click('#start-opt');
  // leaving the tab and coming back keeps the run (its events replay into the view)
  await page.click('.tabs a[data-view="compare"]');
  await page.waitForSelector('body[data-view="compare"][data-ready="true"]');
  await page.click('.tabs a[data-view="optimize"]');
  await page.waitForSelector('body[data-view="optimize"][data-ready="true"]');
  await page.waitForFunction(() => /^done/.test(document.querySelector('#opt-status')?.textContent ?? ''));
  assert.equal(await page.inputValue('#method'), 'gits');
  assert.ok((await page.evaluate(() => (window as any).__ays.progressEvents as number)) > 0, 'progress events were shown');
  assert.equal(await page.getAttribute('#opt-progress', 'data-state'), 'done');
  assert.equal(await page.isVisible('#opt-warning'), true);
  assert.match((await page.textContent('#opt-warning')) ?? '', /scores worse than the schedule it started from/);
  assert.equal(await page.textContent('#opt-result-title'), 'Result (worse than its start)');
  // a run that improves carries no warning
  await page.selectOption('#target', 'gaussian');
  await page.fill('#opt-steps', '4');
  await page.click('#start-opt');
  await page.waitForFunction(() => /^done/.test(document.querySelector('#opt-status')?.textContent ?? ''));
  assert.equal(await page.isVisible('#opt-warning'), false);
  assert.equal(await page.textContent('#opt-result-title'), 'Result');
});

test('Compare view: schedules saved for another sigma range are not offered for the studio model', async () => {
  // saved:studio-gmm-6 comes from the EDM testbed gmm2d-8x8 (sigma up to 80); the bundled model tops out at 14.6
  await open('compare');
  assert.equal(await page.locator('.checklist[data-name="schedulers"] input[value="saved:studio-gmm-6"]').count(), 0);
  assert.match((await page.textContent('#unfit-saved')) ?? '', /saved:studio-gmm-6/);
});

test('a phone screen (390x844): every view stacks into one column without horizontal scrolling', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    for (const view of ['schedules', 'compare', 'optimize']) {
      await open(view);
      const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth }));
      assert.ok(widths.doc <= widths.view && widths.body <= widths.view, `${view}: page ${widths.doc} px wide in a ${widths.view} px window`);
      const content = await page.locator('.content').boundingBox();
      assert.ok(content && content.width >= 300, `${view}: content column ${content?.width} px wide`);
      await shot(`phone-${view}.png`);
    }
    // a cell opened large fits the screen
    await open('compare');
    await setChecks('schedulers', ['karras']);
    await setChecks('samplers', ['euler']);
    await setChecks('classes', [classes[0]!]);
    await page.fill('#steps', '2');
    await page.click('#render');
    await page.waitForSelector('.progress[data-state="done"]');
    await page.click('#grid .cell[data-index="0"]');
    await page.waitForSelector('#cell-dialog[open] img.large');
    const img = (await page.locator('#cell-dialog img.large').boundingBox())!;
    assert.ok(img.x >= 0 && img.x + img.width <= 390, `image ${img.x}..${img.x + img.width} inside the 390 px screen`);
    await shot('phone-compare-cell.png', false);
    await page.keyboard.press('Escape');
  } finally {
    await page.setViewportSize({ width: 1360, height: 900 });
  }
  assert.deepEqual(pageErrors, [], 'no script errors on any page');
});
