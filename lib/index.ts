/** The core of fcos-cdk: constructs, artifacts, synthesis and the assembly format. */

export { Construct } from 'constructs';
export * from './artifacts.ts';
export * from './cloud/upload.ts';
export * from './errors.ts';
export * from './pipeline.ts';
export * from './platform.ts';
export * from './runner.ts';
export * from './schemas.ts';
export * from './step.ts';
export * from './synth/assembly.ts';
export * from './synth/graph.ts';
export * from './synth/session.ts';
export * from './synth/synthesize.ts';
export * from './treefile/schema.ts';
export * from './util/canonical-json.ts';
