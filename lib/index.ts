/** The core of fcos-cdk: constructs, artifacts, synthesis and the assembly format. */

export { Construct } from 'constructs';
export * from './artifacts.ts';
export * from './assembly.ts';
export * from './canonical-json.ts';
export * from './cloud-upload.ts';
export * from './errors.ts';
export * from './graph.ts';
export * from './pipeline.ts';
export * from './platform.ts';
export * from './runner.ts';
export * from './schemas.ts';
export * from './session.ts';
export * from './step.ts';
export * from './synth.ts';
export * from './treefile.ts';
