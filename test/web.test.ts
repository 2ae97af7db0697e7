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
