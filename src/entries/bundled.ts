/**
 * `ays/bundled`: the bundled class-conditional model (Fashion-MNIST): model files, evaluator (class accuracy, FID on
 * classifier features), the demo/eval runners and the grid renderer. Loads onnxruntime-node and sharp.
 */
export { defaultModelDir, readCard, readCarriedSchedule } from '../bundled/model-files.js';
export type { ModelCard, CarriedSchedule } from '../bundled/model-files.js';
export { loadEvaluator, readReferenceStats, classAccuracy, MetricsAccumulator } from '../bundled/evaluator.js';
export type { Evaluator, ImageMetrics, ReferenceStats, Classification } from '../bundled/evaluator.js';
export { featureStats, frechetDistance } from '../bundled/frechet.js';
export type { FeatureStats } from '../bundled/frechet.js';
export { symmetricEigen, sqrtmPsd } from '../bundled/linalg.js';
export { evaluateConfig, runDemo } from '../bundled/run.js';
export type { SampleConfig, RunOptions, ConfigResult, DemoOptions, DemoResult } from '../bundled/run.js';
export { renderGrid } from '../bundled/grid.js';
export type { GridSpec } from '../bundled/grid.js';
