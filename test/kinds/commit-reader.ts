/**
 * Test-only node kind that consumes an ostree commit for real: `CommitReader` copies a file out of
 * the commit with `ostree cat`, so a run proves the commit is in the cache's repository (for the
 * remote cache's tests, where the commit arrives from another machine).
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { Step } from '../../lib/step.ts';

/** Props of {@link CommitReader}. */
export interface CommitReaderProps {
  /** The commit to read. */
  readonly commit: Artifact<'ostree-commit'>;
  /** Absolute path of the file inside the commit. */
  readonly file: string;
  /**
   * Any text: readers that differ only in it are different actions.
   * @default ''
   */
  readonly label?: string;
}

const schema = z
  .object({
    commit: artifactSchema('ostree-commit'),
    file: z.string().startsWith('/'),
    label: z.string().default(''),
  })
  .strict();

/** The CommitReader kind. */
export const commitReaderKind = defineKind({
  kind: 'CommitReader',
  version: 1,
  schema,
  runner: new URL('./commit-reader-runner.ts', import.meta.url),
});

/** A file read out of a commit. */
export class CommitReader extends Step<CommitReaderProps, z.output<typeof schema>> {
  /** The file's content. */
  readonly output: Artifact<'blob'>;

  constructor(scope: Construct, id: string, props: CommitReaderProps) {
    super(scope, id, commitReaderKind, props);
    this.output = this.addOutput('output', 'blob', {});
  }
}
