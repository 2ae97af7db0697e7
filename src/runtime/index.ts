export * from './session.js';
export * from './float16.js';
