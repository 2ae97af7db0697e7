export { getSigmas } from './get-sigmas.js';
export type { GetSigmasOptions } from './get-sigmas.js';
export { schedulerNames, schedulerRegistry, registerScheduler } from './registry.js';
export type { SchedulerEntry, ScheduleRequest } from './registry.js';
export {
  calculateSigmas,
  comfySchedulers,
  comfySchedulerNames,
  ksamplerSigmas,
  discardsPenultimateSigma,
  simpleSigmas,
  sgmUniformSigmas,
  normalSigmas,
  ddimUniformSigmas,
  betaSigmas,
  linearQuadraticSigmas,
} from './comfy-schedulers.js';
export { karrasSigmas, exponentialSigmas, polyexponentialSigmas, vpSigmas, laplaceSigmas, klOptimalSigmas, type ClosedFormOptions } from './k-diffusion.js';
export {
  betaSamplingSigmas,
  sdTurboSigmas,
  splitSigmas,
  splitSigmasDenoise,
  flipSigmas,
  extendIntermediateSigmas,
  samplingPercentToSigma,
} from './nodes.js';
export type { ExtendSpacing } from './nodes.js';
export { alignYourStepsSigmas, aysTimesteps, tableTailWithZero, AYS_NOISE_LEVELS, AYS_TIMESTEPS, AYS_TABLE_FOR_MODEL } from './ays.js';
export type { AysTableName, AysConvention, AysOptions } from './ays.js';
export { gitsSigmas, GITS_COEFFS, GITS_DEFAULT_COEFF } from './gits.js';
export { GITS_NOISE_LEVELS } from './gits-tables.js';
export { validateSigmas, parseSigmas, sigmasFromScheduleJson } from './custom.js';
export { loglinearInterp, roundHalfEven, betaPpf, betaCdf } from './numerics.js';
