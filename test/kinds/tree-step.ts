/**
 * Test-only node kind producing a tree output, the shape of a package repository, for the
 * executor's tests of tree outputs and inputs: `TreeStep` writes the files it is given and, when
 * it has an input repository, the `sha256sum` of every file of that input (a real process reading
 * the materialized input).
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { Step } from '../../lib/step.ts';

/** Props of {@link TreeStep}. */
export interface TreeStepProps {
  /** Files of the output tree: relative path → content. */
  readonly files: Readonly<Record<string, string>>;
  /**
   * A repository whose files are checksummed into the output's `checksums.txt`.
   * @default none
   */
  readonly input?: Artifact<'rpm-repo'>;
}

const schema = z
  .object({
    files: z.record(z.string(), z.string()),
    input: artifactSchema('rpm-repo').optional(),
  })
  .strict();

/** Parsed props of {@link TreeStep}. */
export type TreeStepConfig = z.output<typeof schema>;

/** The TreeStep kind. */
export const treeStepKind = defineKind({
  kind: 'TreeStep',
  version: 1,
  schema,
  runner: new URL('./tree-step-runner.ts', import.meta.url),
});

/** A node whose output is a directory (stored as a tree). */
export class TreeStep extends Step<TreeStepProps, TreeStepConfig> {
  /** The written directory. */
  readonly repo: Artifact<'rpm-repo'>;

  constructor(scope: Construct, id: string, props: TreeStepProps) {
    super(scope, id, treeStepKind, props);
    this.repo = this.addOutput('repo', 'rpm-repo', { name: id });
  }
}
