/**
 * The bundled model folder's files and card: kept in src/pipelines/class-model-folder.ts (the class-conditional
 * pipeline reads them), re-exported here for the bundled-model tools, so that bundled/ imports pipelines/ and
 * never the other way round.
 */
export * from '../pipelines/class-model-folder.js';
