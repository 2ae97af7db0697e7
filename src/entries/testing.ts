/**
 * `ays/testing`: writers of tiny, deterministic ONNX model folders (a Stable-Diffusion-shaped pipeline with random
 * weights) for tests of code that loads models. Loads onnxruntime-node.
 */
export { writeTinyModel, writeFixtureModels } from '../fixtures/stable-diffusion-tiny.js';
export type { TinyModelOptions } from '../fixtures/stable-diffusion-tiny.js';
