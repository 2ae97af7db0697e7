export { lineChartSvg, svgToPng, linearTicks, logTicks } from './line-chart.js';
export type { LineChartOptions, Series } from './line-chart.js';
