/**
 * The root construct of a pipeline program: its name, its context (defaults from the program,
 * overridden by `-c key=value`) and where it is synthesized to.
 */
import { Construct, type IConstruct } from 'constructs';
import { FcosError, MissingContextError } from './errors.ts';
import { currentSession } from './synth/session.ts';

/** Props of {@link Pipeline}. */
export interface PipelineProps {
  /**
   * Name of the pipeline, recorded in pipeline.json and used in image names.
   * @default 'fedora-coreos'
   */
  readonly name?: string;
  /**
   * Default context values; `-c key=value` on the command line overrides them.
   * @default {}
   */
  readonly context?: Readonly<Record<string, string>>;
  /**
   * Output directory of synthesis, relative to the working directory of `fcos-synth`.
   * @default 'fcos.out' (or `--out`)
   */
  readonly outdir?: string;
}

const PIPELINE_MARK = Symbol.for('fcos-cdk.pipeline');

/** The root of a construct tree that synthesizes to one pipeline.json. */
export class Pipeline extends Construct {
  /** Whether `value` is a Pipeline (works across duplicate copies of this module). */
  static isPipeline(value: unknown): value is Pipeline {
    return typeof value === 'object' && value !== null && PIPELINE_MARK in value;
  }

  /** The Pipeline at the root of `construct`'s tree. */
  static of(construct: IConstruct): Pipeline {
    const root = construct.node.root;
    if (!Pipeline.isPipeline(root)) {
      throw new FcosError(`'${construct.node.path}' is not inside a Pipeline`, {
        constructPath: construct.node.path,
      });
    }
    return root;
  }

  /** Name of the pipeline. */
  readonly name: string;
  /** Output directory requested by the program, if any. */
  readonly outdir: string | undefined;
  /** The effective context: program defaults overridden by the command line. */
  readonly context: Readonly<Record<string, string>>;

  constructor(props: PipelineProps = {}) {
    // The root's id is empty so that construct paths read `stable/x86_64/Disk`, as CDK apps do.
    super(undefined as unknown as Construct, '');
    Object.defineProperty(this, PIPELINE_MARK, { value: true });
    this.name = props.name ?? 'fedora-coreos';
    this.outdir = props.outdir;
    const session = currentSession();
    this.context = Object.freeze({ ...(props.context ?? {}), ...(session?.context ?? {}) });
    for (const [key, value] of Object.entries(this.context)) this.node.setContext(key, value);
    session?.pipelines.push(this);
  }

  /** The context value `key`, or undefined when neither given nor defaulted. */
  tryGetContext(key: string): string | undefined {
    return this.context[key];
  }

  /** The context value `key`; a {@link MissingContextError} naming `scope` when absent. */
  requireContext(key: string, scope: IConstruct = this, hint?: string): string {
    const value = this.context[key];
    if (value === undefined || value === '')
      throw new MissingContextError(key, scope.node.path || 'the pipeline program', hint);
    return value;
  }

  /** The context value `key`, which must be one of `allowed`. */
  contextChoice<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const value = this.context[key] ?? fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      throw new FcosError(`context '${key}' is '${value}', expected one of: ${allowed.join(', ')}`, {
        constructPath: '<root>',
        field: `context.${key}`,
      });
    }
    return value as T;
  }

  /** The context value `key` as a comma-separated list, each item one of `allowed`. */
  contextList<T extends string>(key: string, allowed: readonly T[], fallback: readonly T[]): T[] {
    const raw = this.context[key];
    if (raw === undefined) return [...fallback];
    const items = raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
    const unknown = items.filter((item) => !(allowed as readonly string[]).includes(item));
    if (unknown.length > 0 || items.length === 0) {
      throw new FcosError(
        `context '${key}' is '${raw}': ${unknown.length > 0 ? `unknown ${unknown.map((u) => `'${u}'`).join(', ')}` : 'empty'}; expected a comma-separated list of: ${allowed.join(', ')}`,
        { constructPath: '<root>', field: `context.${key}` },
      );
    }
    return items as T[];
  }
}
