/**
 * The generated benchmark pipeline as a program, for timing the whole `fcos-synth` process; its
 * size from the context (`-c streams=N -c arches=N`, default 10 × 4).
 */
import { Pipeline } from 'fcos-cdk';
import { buildGeneratedPipeline, DEFAULT_SIZE } from './generated-pipeline.ts';

const pipeline = new Pipeline({ name: 'generated' });
const sizeOf = (key: 'streams' | 'arches') => Number(pipeline.tryGetContext(key) ?? DEFAULT_SIZE[key]);
buildGeneratedPipeline(pipeline, { streams: sizeOf('streams'), arches: sizeOf('arches') });
