/**
 * `ays/onnx`: the onnxruntime-node layer and the pipelines' building blocks. Importing this loads onnxruntime-node.
 */
export { openSession, cudaAvailable, floatTensor, readFloat, requireInputs, requireOutput, checkRank, checkDim, checkType } from '../runtime/session.js';
export type { Device, SessionOptions, ModelSession, ValueInfo } from '../runtime/session.js';
export { toHalfBits, fromHalfBits, float32ToFloat16, float16ToFloat32 } from '../runtime/float16.js';
export { readModelFolder } from '../pipelines/model-folder.js';
export type { ModelFolder, SchedulerConfig } from '../pipelines/model-folder.js';
export { loadClipTokenizer } from '../pipelines/tokenizer.js';
export type { ClipTokenizer } from '../pipelines/tokenizer.js';
export { carriedSigmas, cardModelSampling } from '../pipelines/class-conditional.js';
