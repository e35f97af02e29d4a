/**
 * Test-only `RecomposedCommit` kind: a bootable OS commit made as a compose makes it, for the
 * executor tests of the cache's ostree repository: the tree of a commit of another repository (the
 * tiny OS fixture) is checked out and committed into the cache's repository with commitTree, so
 * that its objects are written by `ostree commit` (never hardlinked to the fixture's) and a rerun
 * behaves as a recompose does. Its runner is recomposed-commit-runner.ts.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Arch, type Artifact, archSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { Step } from '../../lib/step.ts';

const schema = z
  .object({
    sourceRepo: z.string().min(1),
    checksum: z.string().regex(/^[0-9a-f]{64}$/),
    ref: z.string().min(1),
    version: z.string().min(1),
    kernelVersion: z.string().min(1),
    arch: archSchema.default('x86_64'),
    timestamp: z.number().int().nonnegative().default(1_700_000_000),
  })
  .strict();

/** Props of {@link RecomposedCommit}. */
export interface RecomposedCommitProps {
  /** The archive repository holding the commit whose tree is committed again (absolute). */
  readonly sourceRepo: string;
  /** That commit. */
  readonly checksum: string;
  /** The ref of the new commit. */
  readonly ref: string;
  /** Its `version`. */
  readonly version: string;
  /** The kernel version of the tree (output metadata, as RpmOstreeCompose gives it). */
  readonly kernelVersion: string;
  /**
   * Architecture.
   * @default 'x86_64'
   */
  readonly arch?: Arch;
  /**
   * Commit timestamp, seconds since the epoch.
   * @default 1700000000
   */
  readonly timestamp?: number;
}

/** The RecomposedCommit kind. */
export const recomposedCommitKind = defineKind({
  kind: 'RecomposedCommit',
  version: 1,
  schema,
  runner: new URL('./recomposed-commit-runner.ts', import.meta.url),
});

/** A bootable commit of the tree of another repository's commit, written by `ostree commit`. */
export class RecomposedCommit extends Step<RecomposedCommitProps, z.output<typeof schema>> {
  /** The commit. */
  readonly commit: Artifact<'ostree-commit'>;

  constructor(scope: Construct, id: string, props: RecomposedCommitProps) {
    super(scope, id, recomposedCommitKind, props);
    this.commit = this.addOutput('commit', 'ostree-commit', { arch: this.props.arch });
  }
}
