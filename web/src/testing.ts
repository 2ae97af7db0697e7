// A read-only window into the page for the browser tests (and curious users in the console):
// window.__ays.charts.<name>() returns { series labels, data } of the chart as drawn.
import type { LineChart } from './charts.js';

interface ChartView {
  labels: string[];
  colors: Array<string | undefined>;
  dashes: Array<number[] | undefined>;
  data: Array<Array<number | null>>;
}

interface AysWindow {
  __ays?: { charts: Record<string, () => ChartView | null>; lastJob?: string; progressEvents?: number };
}

export function exposeChart(name: string, chart: LineChart): void {
  const w = window as unknown as AysWindow;
  w.__ays ??= { charts: {} };
  w.__ays.charts[name] = () => {
    const plot = chart.plot;
    if (!plot) return null;
    return {
      labels: plot.series.slice(1).map((s) => String(s.label)),
      colors: chart.series.map((s) => s.color),
      dashes: chart.series.map((s) => s.dash),
      data: plot.data.map((col) => Array.from(col as ArrayLike<number | null>)),
    };
  };
}

/** Counts `progress` events a view has shown (the browser tests check the Optimize view reads them). */
export function countProgressEvent(): void {
  const w = window as unknown as AysWindow;
  w.__ays ??= { charts: {} };
  w.__ays.progressEvents = (w.__ays.progressEvents ?? 0) + 1;
}

export function exposeJob(id: string): void {
  const w = window as unknown as AysWindow;
  w.__ays ??= { charts: {} };
  w.__ays.lastJob = id;
}
