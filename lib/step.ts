/**
 * The base construct of a DAG node. A stage declares a {@link Kind} with `defineKind` (kind name,
 * version, props schema, resources, where its runner lives) and subclasses {@link Step}; props are
 * validated when the construct is created, so a mistake is reported at the line that made it.
 */
import { Construct } from 'constructs';
import type { z } from 'zod';
import { Artifact, type ArtifactAttributeMap, type ArtifactType } from './artifacts.ts';
import { DuplicateIdError, FcosError, ValidationError, type ValidationIssue } from './errors.ts';
import type { Kind, ResourceRequest } from './kind.ts';
import { currentProjectDir } from './synth/session.ts';

/** A declared output: its type and what is known of it at synthesis time. */
export interface DeclaredOutput {
  /** Artifact type. */
  readonly type: ArtifactType;
  /** Synthesis-time attributes (arch, platform ...). */
  readonly attributes: Readonly<Record<string, unknown>>;
}

const STEP_MARK = Symbol.for('fcos-cdk.step');

/** A node of the pipeline DAG. */
export abstract class Step<Props = unknown, Parsed = Props> extends Construct {
  /** Whether `value` is a Step (works across duplicate copies of this module). */
  static isStep(value: unknown): value is Step {
    return typeof value === 'object' && value !== null && STEP_MARK in value;
  }

  /** Kind name. */
  readonly kind: string;
  /** Kind version. */
  readonly kindVersion: number;
  /** Absolute path of the kind's runner module (recorded as a portable spec at synthesis, never loaded). */
  readonly runnerFile: string;
  /** Props after validation and defaults. */
  readonly props: Parsed;
  /** Resources the node needs. */
  readonly resources: ResourceRequest;
  /**
   * The project directory when the construct was created: project paths in props are relative to
   * it, and checks (which run at synthesis, after the program's session closed) resolve them here.
   */
  protected readonly projectDir: string = currentProjectDir();
  private readonly declaredOutputs = new Map<string, DeclaredOutput>();
  private readonly checks: Array<() => ValidationIssue[]> = [];

  constructor(scope: Construct, id: string, definition: Kind<Props, Parsed>, props: Props) {
    super(assertUniqueId(scope, id), id);
    Object.defineProperty(this, STEP_MARK, { value: true });
    this.kind = definition.kind;
    this.kindVersion = definition.version;
    this.runnerFile = definition.runnerFile;
    this.props = parseProps(definition.schema, props, this.node.path, definition.kind);
    this.resources = definition.resources(this.props);
  }

  /** Declares output `name` and returns the artifact reference that consumers receive. */
  protected addOutput<T extends ArtifactType>(
    name: string,
    type: T,
    attributes: ArtifactAttributeMap[T],
  ): Artifact<T> {
    if (this.declaredOutputs.has(name)) {
      throw new FcosError(`output '${name}' declared twice`, { constructPath: this.node.path, field: name });
    }
    this.declaredOutputs.set(name, { type, attributes: { ...attributes } });
    return new Artifact(this, name, type, attributes);
  }

  /** Registers a cross-node check run at synthesis, after the whole program has built the tree. */
  protected addCheck(check: () => ValidationIssue[]): void {
    this.checks.push(check);
  }

  /** A validation issue about `field` of this node, for checks. */
  protected issue(field: string | undefined, message: string): ValidationIssue {
    return { constructPath: this.node.path, ...(field === undefined ? {} : { field }), message };
  }

  /** Outputs declared so far, by name. */
  get outputs(): ReadonlyMap<string, DeclaredOutput> {
    return this.declaredOutputs;
  }

  /** Runs this node's cross-node checks and the constructs library's validations. */
  validateNode(): ValidationIssue[] {
    const issues = this.checks.flatMap((check) => check());
    for (const message of this.node.validate()) issues.push(this.issue(undefined, message));
    return issues;
  }
}

/** Throws a typed error before the constructs library would throw an untyped one. */
function assertUniqueId(scope: Construct, id: string): Construct {
  if (scope.node.tryFindChild(id) !== undefined) throw new DuplicateIdError(scope.node.path, id);
  return scope;
}

/** Parses props with the kind's schema, turning zod issues into a ValidationError with fields. */
export function parseProps<Props, Parsed>(
  schema: z.ZodType<Parsed, Props>,
  props: Props,
  constructPath: string,
  kind: string,
): Parsed {
  const result = schema.safeParse(props ?? {});
  if (result.success) return result.data;
  const issues: ValidationIssue[] = [];
  for (const zodIssue of result.error.issues) {
    const base = zodIssue.path.map(String);
    if (zodIssue.code === 'unrecognized_keys') {
      for (const key of zodIssue.keys) {
        issues.push({ constructPath, field: [...base, key].join('.'), message: `unknown prop of ${kind}` });
      }
    } else {
      const field = base.join('.');
      issues.push({ constructPath, ...(field ? { field } : {}), message: zodIssue.message });
    }
  }
  throw new ValidationError(issues);
}
