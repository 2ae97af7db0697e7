import './style.css';
import { clear, h, toast } from './dom.js';
import { renderSchedulesView } from './schedules-view.js';
import { renderCompareView } from './compare-view.js';
import { renderOptimizeView } from './optimize-view.js';
import { loadStudioModel } from './state.js';

const views: Record<string, (root: HTMLElement) => Promise<void>> = {
  schedules: renderSchedulesView,
  compare: renderCompareView,
  optimize: renderOptimizeView,
};

async function route(): Promise<void> {
  const name = location.hash.replace(/^#\/?/, '') || 'schedules';
  const view = views[name] ? name : 'schedules';
  for (const a of document.querySelectorAll<HTMLAnchorElement>('.tabs a')) a.classList.toggle('active', a.dataset.view === view);
  const root = document.getElementById('app')!;
  document.body.dataset.view = view;
  document.body.dataset.ready = 'false';
  try {
    await views[view]!(root);
  } catch (err) {
    clear(root);
    root.append(h('div', { class: 'card empty error' }, `Could not open ${view}: ${(err as Error).message}`));
    toast((err as Error).message, 'error');
  }
  // The browser tests wait for this flag before they look at a view.
  document.body.dataset.ready = 'true';
}

window.addEventListener('hashchange', () => void route());
void route();
loadStudioModel().then(
  (m) => (document.getElementById('model-badge')!.textContent = `model: ${m.modelName}`),
  (err: Error) => {
    const badge = document.getElementById('model-badge')!;
    badge.textContent = 'model: unavailable';
    badge.title = err.message;
  },
);
