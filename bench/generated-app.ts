/** The generated benchmark pipeline as a program, for timing the whole `fcos-synth` process. */
import { Pipeline } from 'fcos-cdk';
import { buildGeneratedPipeline } from './generated-pipeline.ts';

buildGeneratedPipeline(new Pipeline({ name: 'generated' }));
