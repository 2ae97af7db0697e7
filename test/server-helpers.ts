// Shared by the studio's API and browser tests: start a studio on a free loopback port with a fresh output folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { createBackend } from '../src/server/backend.js';
import { createStudio, type Studio } from '../src/server/app.js';
import { createOptimizeSupport } from '../src/server/optimize-support.js';

export interface TestStudio extends Studio {
  base: string;
  port: number;
  outDir: string;
  stop(): Promise<void>;
}

export async function startTestStudio(options: { concurrency?: number; maxQueued?: number; optimizeSamples?: number } = {}): Promise<TestStudio> {
  const outDir = mkdtempSync(join(tmpdir(), 'ays-studio-test-'));
  const backend = createBackend();
  const studio = await createStudio({
    outDir,
    backend,
    concurrency: options.concurrency ?? 1,
    maxQueued: options.maxQueued ?? 8,
    allowedHosts: ['127.0.0.1', 'localhost'],
    optimize: createOptimizeSupport({ samples: options.optimizeSamples ?? 256 }),
  });
  await studio.app.listen({ host: '127.0.0.1', port: 0 });
  const address = studio.app.server.address();
  if (!address || typeof address !== 'object') throw new Error('the test studio did not get a port');
  return {
    ...studio,
    port: address.port,
    base: `http://127.0.0.1:${address.port}`,
    outDir,
    async stop() {
      await studio.app.close();
      rmSync(outDir, { recursive: true, force: true });
    },
  };
}

export async function json(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed };
}

/** A GET with the path sent exactly as written (fetch would normalise "..", which is the point of the test). */
export function rawGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

export interface SseEvent {
  event: string;
  data: any;
}

/**
 * Read a job's event stream until it ends (the server closes it after the final event) or until
 * `until` returns true. Bounded: gives up after `maxEvents` events.
 */
export async function readEvents(base: string, jobId: string, until?: (e: SseEvent, all: SseEvent[]) => boolean, maxEvents = 20000): Promise<SseEvent[]> {
  const controller = new AbortController();
  const res = await fetch(`${base}/api/jobs/${jobId}/events`, { signal: controller.signal, headers: { accept: 'text/event-stream' } });
  if (res.status !== 200 || !res.body) throw new Error(`event stream answered ${res.status}`);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let at: number;
      while ((at = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (!data) continue;
        const e = { event, data: JSON.parse(data) };
        events.push(e);
        if ((until && until(e, events)) || events.length >= maxEvents) {
          controller.abort();
          return events;
        }
      }
    }
  } catch (err) {
    if (!controller.signal.aborted) throw err;
  }
  return events;
}
