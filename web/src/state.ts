import { get, type ModelInfo, type SavedInfo, type StudioModel } from './api.js';

/** Registries fetched once per page (saved schedules are refreshed whenever a view is shown). */
export interface Registries {
  schedulers: string[];
  /** One line per scheduler and sampler name (saved schedules: how they were made), for tooltips. */
  descriptions: Record<string, string>;
  saved: SavedInfo[];
  samplers: string[];
  models: ModelInfo[];
  studio: string;
}

let registries: Promise<Registries> | null = null;
let studioModel: Promise<StudioModel> | null = null;

export function loadRegistries(refresh = false): Promise<Registries> {
  if (!registries || refresh) {
    registries = Promise.all([
      get<{ schedulers: string[]; descriptions: Record<string, string>; saved: SavedInfo[] }>('/api/schedulers'),
      get<{ samplers: string[]; descriptions: Record<string, string> }>('/api/samplers'),
      get<{ models: ModelInfo[]; studio: string }>('/api/models'),
    ]).then(([s, sa, m]) => ({
      schedulers: s.schedulers,
      descriptions: { ...s.descriptions, ...sa.descriptions, ...Object.fromEntries(s.saved.map((x) => [x.name, `${x.source} (${x.steps} steps, ${x.model})`])) },
      saved: s.saved,
      samplers: sa.samplers,
      models: m.models,
      studio: m.studio,
    }));
    registries.catch(() => (registries = null));
  }
  return registries;
}

export function loadStudioModel(): Promise<StudioModel> {
  if (!studioModel) {
    studioModel = get<StudioModel>('/api/model');
    studioModel.catch(() => (studioModel = null));
  }
  return studioModel;
}

/** Every scheduler name a view can offer: built-in ones, then saved ones (`saved:<name>`). */
export function allSchedulers(r: Registries): string[] {
  // `custom` needs a typed-in sigma list, which the saved schedules stand for here.
  return [...r.schedulers.filter((s) => s !== 'custom'), ...r.saved.map((s) => s.name)];
}
