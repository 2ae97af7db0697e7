// A read-only window into the page for the browser tests (and curious users in the console):
// window.__ays.charts.<name>() returns { series labels, data } of the chart as drawn.
import type { LineChart } from './charts.js';

interface AysWindow {
  __ays?: { charts: Record<string, () => { labels: string[]; data: Array<Array<number | null>> } | null>; lastJob?: string };
}

export function exposeChart(name: string, chart: LineChart): void {
  const w = window as unknown as AysWindow;
  w.__ays ??= { charts: {} };
  w.__ays.charts[name] = () => {
    const plot = chart.plot;
    if (!plot) return null;
    return {
      labels: plot.series.slice(1).map((s) => String(s.label)),
      data: plot.data.map((col) => Array.from(col as ArrayLike<number | null>)),
    };
  };
}

export function exposeJob(id: string): void {
  const w = window as unknown as AysWindow;
  w.__ays ??= { charts: {} };
  w.__ays.lastJob = id;
}
