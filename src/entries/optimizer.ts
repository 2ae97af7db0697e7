/**
 * `ays/optimizer`: schedule optimizers (Align Your Steps KLUB search, GITS) and the schedule files they write.
 * Names are unique across the package: the optimizer's options are `OptimizeAysOptions` here (the schedules'
 * `AysOptions` is the root's), and the log-linear interpolation is the root's `loglinearInterp`.
 */
export { optimizeAys, searchStageOne, refineNewPoints, klubObjective } from '../optimizer/ays.js';
export type { AysOptions as OptimizeAysOptions, AysResult, AysProgress, AysTraceEntry, EarlyStopMetric, KlubEstimatorKind } from '../optimizer/ays.js';
export { estimateKlubInterval, estimateBracketCosts, makeKlubDraws } from '../optimizer/klub.js';
export type { KlubDraws, KlubEstimate, KlubIntervalOptions } from '../optimizer/klub.js';
export { klubNormaliser, importanceG, importanceInverseCdf, klOptimalGaussianSchedule, klubOptimalGaussianSchedule, gaussianKlubPerC4d, gaussianEulerKl, gaussianStochasticDdimKl } from '../optimizer/klub-closed-form.js';
export { coordinateSweep, coordinateCandidates, subdivide, edmSchedule, logSnrSchedule, nearestTimestep } from '../optimizer/search.js';
export { outputDistanceEarlyStop } from '../optimizer/early-stop.js';
export { optimizeGits, gitsDynamicProgram } from '../optimizer/gits.js';
export type { GitsOptions, GitsResult } from '../optimizer/gits.js';
export { makeScheduleFile, readScheduleFile, sigmasForSteps } from '../optimizer/schedule-file.js';
export type { ScheduleFile } from '../optimizer/schedule-file.js';
export type { RowDenoiser, DataSampler, KlubVariant } from '../optimizer/types.js';
