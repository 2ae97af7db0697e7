import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { palette } from './dom.js';

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logY?: boolean;
  height?: number;
  /** Second y axis for series whose `scale` is 'y2'. */
  y2Label?: string;
  logY2?: boolean;
  points?: boolean;
  /** Whole-number ticks on x (sweeps, steps). */
  integerX?: boolean;
}

export interface SeriesSpec {
  label: string;
  color?: string;
  scale?: 'y' | 'y2';
  dash?: number[];
}

/**
 * A line chart that fills its container's width. `set(series, data)` replaces everything; the uPlot
 * instance is rebuilt only when the series change, so live updates stay cheap.
 */
export class LineChart {
  plot: uPlot | null = null;
  /** The series as last set (labels, colours, dashes). */
  series: SeriesSpec[] = [];
  private key = '';
  private readonly observer: ResizeObserver;

  constructor(
    readonly container: HTMLElement,
    readonly options: LineChartOptions,
  ) {
    this.observer = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: this.width(), height: this.options.height ?? 300 });
    });
    this.observer.observe(container);
  }

  private width(): number {
    return Math.max(280, this.container.clientWidth - 4);
  }

  set(series: SeriesSpec[], data: uPlot.AlignedData): void {
    this.series = series;
    const key = JSON.stringify(series);
    if (this.plot && key === this.key) {
      this.plot.setData(data);
      return;
    }
    this.plot?.destroy();
    this.key = key;
    const o = this.options;
    const axis = { stroke: '#475066', grid: { stroke: '#e8ebf2', width: 1 }, ticks: { stroke: '#d5dae5', width: 1 }, font: '12px system-ui, sans-serif', labelFont: '12px system-ui, sans-serif' };
    const opts: uPlot.Options = {
      title: o.title,
      width: this.width(),
      height: o.height ?? 300,
      scales: {
        x: { time: false },
        y: o.logY ? { distr: 3 } : {},
        ...(o.y2Label ? { y2: o.logY2 ? { distr: 3 } : {} } : {}),
      },
      axes: [
        { ...axis, label: o.xLabel, ...(o.integerX ? { incrs: [1, 2, 5, 10, 20, 50, 100] } : {}) },
        { ...axis, label: o.yLabel, size: 60 },
        ...(o.y2Label ? [{ ...axis, label: o.y2Label, scale: 'y2', side: 1 as const, grid: { show: false }, size: 60 }] : []),
      ],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: o.xLabel },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.color ?? palette[i % palette.length],
          width: 2,
          scale: s.scale ?? 'y',
          dash: s.dash,
          spanGaps: true,
          points: { show: o.points ?? true, size: 6 },
        })),
      ],
    };
    this.plot = new uPlot(opts, data, this.container);
  }

  destroy(): void {
    this.observer.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
