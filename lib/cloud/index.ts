/**
 * What a cloud's uploader module is written with, for the public API (a project's own cloud):
 * the uploader contract, typed errors, retries, bounded waits, secret redaction, the options every
 * cloud shares, and the project's one decompression. No cloud SDK is loaded by any of these.
 */

export { uncompressed } from '../tools/compress.ts';
export * from './common-options.ts';
export * from './errors.ts';
export * from './polling.ts';
export * from './redact.ts';
export * from './retry.ts';
export * from './uploader.ts';
