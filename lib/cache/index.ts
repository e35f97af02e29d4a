/** The local cache of the executor: blob store, action records, locks and maintenance. */
export * from './action-cache.ts';
export * from './cas-store.ts';
export * from './chunked-read.ts';
export * from './errors.ts';
export * from './explain.ts';
export * from './gc.ts';
export * from './hash.ts';
export * from './lock.ts';
export * from './process-liveness.ts';
export * from './staging.ts';
export * from './tree-manifest.ts';
