// Thin client for the studio's JSON API (see docs/web.md).

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function request<T>(method: string, url: string, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : {};
  if (!res.ok) throw new ApiError(res.status, data.message ?? `${res.status} ${res.statusText}`);
  return data as T;
}

export const get = <T>(url: string) => request<T>('GET', url);
export const post = <T>(url: string, body: unknown) => request<T>('POST', url, body);
export const del = <T>(url: string) => request<T>('DELETE', url);

export interface ModelInfo {
  name: string;
  kind: 'discrete' | 'edm' | 'flow';
  prediction: string;
  sigmaMin: number;
  sigmaMax: number;
  description: string;
}

export interface SavedInfo {
  name: string;
  steps: number;
  model: string;
  /** The sigma range the schedule was made for (its own list's when it records none). */
  sigmaMin: number;
  sigmaMax: number;
  source: string;
}

/** Whether a saved schedule fits a model's sigma range (the server's rule: within 0.2%). */
export function savedFits(s: SavedInfo, m: { sigmaMin: number; sigmaMax: number }): boolean {
  return s.sigmaMax <= m.sigmaMax * 1.002 && s.sigmaMin >= m.sigmaMin * 0.998;
}

export interface SigmaResult {
  scheduler: string;
  steps: number;
  sigmas: number[];
  logSnr: Array<number | null>;
  exports: { json: string; comfyui: string; diffusers: string };
}

/** A scheduler x steps the server could not build (e.g. gits on svd), with the reason. */
export interface SigmaFailure {
  scheduler: string;
  steps: number;
  error: string;
}

export interface StudioModel {
  name: string;
  modelName: string;
  kind: string;
  classes: string[] | null;
  /** Schedulers only this model has (e.g. "optimized", its carried AYS schedule). */
  schedulers: string[];
  modelSampling: ModelInfo;
  /** Text models: the size the model was trained at, and what width/height must be a multiple of. */
  nativeSize: { width: number; height: number };
  sizeMultiple: number;
}

export interface JobSnapshot {
  id: string;
  kind: string;
  status: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  progress: { done: number; total: number };
  error?: string;
  result?: any;
}

export type JobEventHandler = (event: string, data: any) => void;

const finalEvents = ['done', 'failed', 'cancelled'];

/** Follow a job's server-sent events until it ends. Returns a function that stops listening. */
export function followJob(id: string, onEvent: JobEventHandler): () => void {
  const source = new EventSource(`/api/jobs/${id}/events`);
  const names = ['status', 'plan', 'progress', 'cell', 'grid', 'sweep', ...finalEvents];
  for (const name of names) {
    source.addEventListener(name, (e) => {
      const data = JSON.parse((e as MessageEvent).data);
      onEvent(name, data);
      if (finalEvents.includes(name)) source.close();
    });
  }
  source.onerror = () => {
    // The server ends the stream after the final event; EventSource would reconnect, so stop here
    // unless the stream is still open (a real network hiccup reconnects by itself).
    if (source.readyState === EventSource.CLOSED) return;
  };
  return () => source.close();
}
