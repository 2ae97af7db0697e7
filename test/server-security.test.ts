// The studio's API against hostile or careless clients: cross-site Origins, framing, a full queue, and
// /api/sigmas requests whose work has no bound; and the Schedules view's partial results.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { json, startTestStudio, type TestStudio } from './server-helpers.js';
import { limits } from '../src/server/schemas.js';

let studio: TestStudio;

before(async () => {
  studio = await startTestStudio({ concurrency: 1, maxQueued: 1 });
});

after(async () => {
  await studio.stop();
});

async function withHeaders(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(studio.base + path, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json().catch(() => null)) as any };
}

const sigmasBody = { model: 'sd15', schedulers: ['karras'], steps: [4] };

test('a page on another site cannot use the API: 403 for a foreign Origin, on POST, DELETE and GET', async () => {
  for (const origin of ['https://evil.example', 'http://127.0.0.1:1', 'null']) {
    const post = await withHeaders('POST', '/api/sigmas', { origin }, sigmasBody);
    assert.equal(post.status, 403, origin);
    assert.match(post.body.message, /may not use the studio's API/);
  }
  const gen = await withHeaders('POST', '/api/generate', { origin: 'https://evil.example' }, { schedulers: ['karras'], samplers: ['euler'], steps: [2], classes: [0], seed: 1, cfg: 1 });
  assert.equal(gen.status, 403);
  assert.equal((await withHeaders('DELETE', '/api/jobs/00000000-0000-0000-0000-000000000000', { origin: 'https://evil.example' })).status, 403);
  assert.equal((await withHeaders('GET', '/api/schedulers', { origin: 'https://evil.example' })).status, 403);
  assert.equal((await withHeaders('GET', '/api/schedulers', { 'sec-fetch-site': 'cross-site' })).status, 403);
  // the studio's own page, and clients that send no Origin (curl), are served
  assert.equal((await withHeaders('POST', '/api/sigmas', { origin: studio.base }, sigmasBody)).status, 200);
  assert.equal((await withHeaders('POST', '/api/sigmas', { 'sec-fetch-site': 'same-origin' }, sigmasBody)).status, 200);
  assert.equal((await json(studio.base, 'POST', '/api/sigmas', sigmasBody)).status, 200);
});

test('every answer forbids framing (CSP frame-ancestors none) and sniffing', async () => {
  for (const path of ['/api/health', '/api/nope']) {
    const res = await fetch(studio.base + path);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.match(csp, /default-src 'self'/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  }
});

test('a full queue answers 429 with Retry-After', async () => {
  const grid = { schedulers: ['karras'], samplers: ['euler'], steps: [20], classes: [0, 1, 2, 3], seed: 1, cfg: 2 };
  const ids: string[] = [];
  let refused: Awaited<ReturnType<typeof withHeaders>> | undefined;
  for (let i = 0; i < 4 && !refused; i++) {
    const r = await withHeaders('POST', '/api/generate', {}, grid);
    if (r.status === 429) refused = r;
    else ids.push(r.body.job.id);
  }
  try {
    assert.ok(refused, 'the third job is refused (1 running, 1 queued)');
    assert.match(refused.body.message, /queue is full/);
    const after = Number(refused.headers.get('retry-after'));
    assert.ok(Number.isInteger(after) && after > 0, `Retry-After: ${refused.headers.get('retry-after')}`);
  } finally {
    for (const id of ids) await json(studio.base, 'DELETE', `/api/jobs/${id}`);
  }
});

test('POST /api/sigmas bounds its work: a tiny denoise is a 400 at once, and the server keeps answering', async () => {
  for (const denoise of [1e-4, 1e-6]) {
    const started = Date.now();
    const res = await json(studio.base, 'POST', '/api/sigmas', { model: 'sd15', schedulers: ['karras', 'beta'], steps: [1000], denoise });
    assert.equal(res.status, 400, JSON.stringify(res.body).slice(0, 200));
    assert.match(res.body.message, /means computing \d+ schedule steps \(steps \/ denoise\); at most 10000/);
    assert.ok(Date.now() - started < 1000, `answered in ${Date.now() - started} ms`);
  }
  // schedulers x step counts x steps/denoise in all
  const many = await json(studio.base, 'POST', '/api/sigmas', { model: 'sd15', schedulers: ['karras', 'beta', 'normal', 'simple'], steps: [1000, 900, 800, 700, 600, 500, 400, 300], denoise: 0.15 });
  assert.equal(many.status, 400);
  assert.match(many.body.message, new RegExp(`computes \\d+ schedule steps .*at most ${limits.sigmaMaxWork}`));
  // heavy but allowed work runs off the event loop: the health check answers while it computes
  const heavy = json(studio.base, 'POST', '/api/sigmas', { model: 'sd15', schedulers: ['beta', 'karras', 'sgm_uniform'], steps: [1000, 999, 998, 997], denoise: 0.1 });
  await new Promise((r) => setTimeout(r, 20));
  const t = Date.now();
  const health = await json(studio.base, 'GET', '/api/health');
  const healthMs = Date.now() - t;
  const done = await heavy;
  assert.equal(health.status, 200);
  assert.equal(done.status, 200);
  assert.equal(done.body.results.length, 12);
  assert.equal(done.body.results[0].sigmas.length, 1001);
  assert.ok(healthMs < 250, `health answered in ${healthMs} ms during a heavy sigmas request`);
});

test('POST /api/sigmas: one unsupported combination does not block the others; it comes back as an error result', async () => {
  const res = await json(studio.base, 'POST', '/api/sigmas', { model: 'svd', schedulers: ['karras', 'gits', 'ays'], steps: [6] });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const [karras, gits, ays] = res.body.results;
  assert.equal(karras.sigmas.length, 7);
  assert.equal(gits.sigmas, undefined);
  assert.match(gits.error, /^gits at 6 steps: /);
  assert.equal(ays.sigmas.length, 7);
  assert.equal(res.body.model.name, 'svd');
  // nothing works: a 400 with the reason
  const none = await json(studio.base, 'POST', '/api/sigmas', { model: 'svd', schedulers: ['gits'], steps: [6] });
  assert.equal(none.status, 400);
  assert.match(none.body.message, /^gits at 6 steps: /);
});

test('a schedule saved for another sigma range is marked, not resampled, on other models', async () => {
  const edm = [80, 20, 5, 1, 0.2, 0];
  const save = await json(studio.base, 'POST', '/api/schedules/saved', { name: 'edm-range', sigmas: edm, model: 'edm' });
  assert.equal(save.status, 201);
  const list = await json(studio.base, 'GET', '/api/schedulers');
  const entry = list.body.saved.find((s: { name: string }) => s.name === 'saved:edm-range');
  assert.equal(entry.sigmaMax, 80);
  assert.equal(entry.sigmaMin, 0.2);
  const res = await json(studio.base, 'POST', '/api/sigmas', { model: 'sd15', schedulers: ['karras', 'saved:edm-range'], steps: [5] });
  assert.equal(res.status, 200);
  assert.match(res.body.results[1].error, /saved:edm-range spans sigma 0\.2\.\.80, but sd15 has sigma 0\.02917\.\.14\.61/);
  const onSvd = await json(studio.base, 'POST', '/api/sigmas', { model: 'svd', schedulers: ['saved:edm-range'], steps: [5] });
  assert.equal(onSvd.status, 200, 'inside svd\'s 0.002..700');
  // the studio model (SD1.5's sigmas) refuses it for grids
  const grid = await json(studio.base, 'POST', '/api/generate', { schedulers: ['saved:edm-range'], samplers: ['euler'], steps: [2], classes: [0], seed: 1, cfg: 1 });
  assert.equal(grid.status, 400);
  assert.match(grid.body.message, /saved for another model/);
});
