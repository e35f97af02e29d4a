/**
 * fcos-cdk's public API, the construct model: `Pipeline`, `Step` and `defineKind`/`defineRunner`
 * for kinds of your own, typed artifacts, errors, the built-in stages and the platform registry.
 * Synthesis, the executor and the cache are internals, reached through the fcos-synth and
 * fcos-run commands.
 */

export { Construct } from 'constructs';
export * from '../stages/index.ts';
export * from '../targets/index.ts';
export * from './artifacts.ts';
export * from './cloud/index.ts';
export {
  STREAM_CODES,
  type StreamName,
  streamCode,
  UnknownStreamError,
} from './compose/version.ts';
export * from './errors.ts';
export * from './kind.ts';
export * from './pipeline.ts';
export * from './platform.ts';
export * from './runner.ts';
export * from './schemas.ts';
export * from './step.ts';
export type { TreeFile } from './treefile/schema.ts';
export { isVmArch, VM_ARCHES, type VmArch } from './vm/machines.ts';
