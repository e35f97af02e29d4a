/**
 * A test-only node kind for the torture test: `ChunkStep`'s tool writes a large output slowly, a
 * chunk at a time (saying so in the node's log after each), and leaves a grandchild `sleep` that
 * ignores SIGTERM, SIGINT and SIGHUP in its process group, so that a `kill -9` of fcos-run can land
 * in the middle of a large write while a process only SIGKILL removes is alive.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { Step } from '../../lib/step.ts';

/** Props of {@link ChunkStep}. */
export interface ChunkStepProps {
  /** Text every chunk is made from (with the inputs' digests and the chunk's number). */
  readonly seed: string;
  /** Number of chunks written. */
  readonly chunks: number;
  /**
   * Size of one chunk, in KiB.
   * @default 1024
   */
  readonly chunkKiB?: number;
  /**
   * Pause after each chunk, in ms.
   * @default 0
   */
  readonly delayMs?: number;
  /**
   * Files whose sha256 decides the content, with the seed.
   * @default []
   */
  readonly inputs?: readonly Artifact<'blob'>[];
  /**
   * Start a grandchild `sleep 300` ignoring SIGTERM, SIGINT and SIGHUP, in the tool's process group.
   * @default false
   */
  readonly grandchild?: boolean;
}

const schema = z
  .object({
    seed: z.string(),
    chunks: z.number().int().positive(),
    chunkKiB: z.number().int().positive().default(1024),
    delayMs: z.number().int().nonnegative().default(0),
    inputs: z.array(artifactSchema('blob')).default([]),
    grandchild: z.boolean().default(false),
  })
  .strict();

/** Parsed props of {@link ChunkStep}. */
export type ChunkStepConfig = z.output<typeof schema>;

/** The ChunkStep kind. */
export const chunkStepKind = defineKind({
  kind: 'ChunkStep',
  version: 1,
  schema,
  runner: new URL('./chunk-step-runner.ts', import.meta.url),
});

/** A node whose tool writes a large file slowly, in chunks. */
export class ChunkStep extends Step<ChunkStepProps, ChunkStepConfig> {
  /** The written file. */
  readonly output: Artifact<'blob'>;

  constructor(scope: Construct, id: string, props: ChunkStepProps) {
    super(scope, id, chunkStepKind, props);
    this.output = this.addOutput('output', 'blob', {});
  }
}
