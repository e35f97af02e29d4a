/**
 * The construct side of a node kind's contract: its name, version, props schema, resources and
 * where its runner lives. A stage's `index.ts` calls {@link defineKind}; its `runner.ts` calls
 * `defineRunner` with the same kind. Synthesis records the runner's module but never loads it,
 * so a program (and a consumer's type check) reads only schemas, never tools or cloud SDKs.
 */
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { FcosError } from './errors.ts';

/** Scheduling classes of the executor: each has its own capacity. */
export const RESOURCE_CLASSES = ['cpu', 'io', 'net', 'vm'] as const;
/** One of {@link RESOURCE_CLASSES}. */
export type ResourceClass = (typeof RESOURCE_CLASSES)[number];

/** What a node needs from the machine while it runs. */
export interface ResourceRequest {
  /** Pool the node is scheduled in. */
  readonly class: ResourceClass;
  /**
   * Memory the node holds while running, in MiB; counted against the `vm` budget.
   * @default undefined (not counted)
   */
  readonly memoryMiB?: number;
}

/** What {@link defineKind} takes. */
export interface KindDefinition<Props, Parsed> {
  /** Kind name, recorded in pipeline.json (`DiskImage`). */
  readonly kind: string;
  /** Bumped whenever the runner's output for the same inputs changes; part of the action key. */
  readonly version: number;
  /** Validates and defaults the props; artifacts stay artifacts (they become input references). */
  readonly schema: z.ZodType<Parsed, Props>;
  /**
   * Resources a node of this kind needs, from its parsed props.
   * @default { class: 'cpu' }
   */
  readonly resources?: (props: Parsed) => ResourceRequest;
  /**
   * The module whose default export is this kind's runner (`defineRunner`), usually
   * `new URL('./runner.ts', import.meta.url)`. Only its location is recorded; it is loaded by the
   * executor, never by synthesis.
   */
  readonly runner: URL | string;
}

/** A node kind: the static description its constructs and its runner share. */
export interface Kind<Props, Parsed> {
  /** Kind name. */
  readonly kind: string;
  /** Kind version. */
  readonly version: number;
  /** Props schema. */
  readonly schema: z.ZodType<Parsed, Props>;
  /** Resources of a node, from its parsed props. */
  readonly resources: (props: Parsed) => ResourceRequest;
  /** Absolute path of the runner's module. */
  readonly runnerFile: string;
}

/** Declares a node kind; the result is handed to `Step`'s constructor and to `defineRunner`. */
export function defineKind<Props, Parsed>(definition: KindDefinition<Props, Parsed>): Kind<Props, Parsed> {
  if (!/^[A-Z][A-Za-z0-9]*$/.test(definition.kind)) {
    throw new FcosError(`kind name '${definition.kind}' must be PascalCase letters and digits`, {
      field: 'kind',
    });
  }
  if (!Number.isInteger(definition.version) || definition.version < 0) {
    throw new FcosError(`kind ${definition.kind}: version must be a non-negative integer`, {
      field: 'version',
    });
  }
  const runner = String(definition.runner);
  return Object.freeze({
    kind: definition.kind,
    version: definition.version,
    schema: definition.schema,
    resources: definition.resources ?? (() => ({ class: 'cpu' as const })),
    runnerFile: runner.startsWith('file:') ? fileURLToPath(runner) : runner,
  });
}
