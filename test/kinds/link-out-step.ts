/**
 * Test-only node kind that publishes its file input into a directory of the project the way the
 * Publish kind does (a DirectoryDestination, which hardlinks the cache's blob), for the executor's
 * tests of blobs linked out of the cache by a runner.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { Step } from '../../lib/step.ts';

/** Props of {@link LinkOutStep}. */
export interface LinkOutStepProps {
  /** The file published. */
  readonly input: Artifact<'blob'>;
  /** The destination directory, relative to the project. */
  readonly directory: string;
  /**
   * Link without the context's `keepInputsTrusted` (what the Publish kind did before it used it).
   * @default false
   */
  readonly plainLink?: boolean;
}

const schema = z
  .object({
    input: artifactSchema('blob'),
    directory: z.string(),
    plainLink: z.boolean().default(false),
  })
  .strict();

/** Parsed props of {@link LinkOutStep}. */
export type LinkOutStepConfig = z.output<typeof schema>;

/** The LinkOutStep kind. */
export const linkOutStepKind = defineKind({
  kind: 'LinkOutStep',
  version: 1,
  schema,
  runner: new URL('./link-out-step-runner.ts', import.meta.url),
});

/** A node that publishes its input into a directory; its output is the published key's digest. */
export class LinkOutStep extends Step<LinkOutStepProps, LinkOutStepConfig> {
  /** A small record of what was published. */
  readonly output: Artifact<'blob'>;

  constructor(scope: Construct, id: string, props: LinkOutStepProps) {
    super(scope, id, linkOutStepKind, props);
    this.output = this.addOutput('output', 'blob', {});
  }
}
