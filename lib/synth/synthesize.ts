/**
 * Synthesis: construct tree → {@link Assembly}. Pure and deterministic: it reads no clock, no
 * environment and runs no tool; paths are recorded relative to the project directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { IConstruct } from 'constructs';
import { Artifact } from '../artifacts.ts';
import { CycleError, ValidationError, type ValidationIssue } from '../errors.ts';
import type { Pipeline } from '../pipeline.ts';
import { Step } from '../step.ts';
import { canonicalize, canonicalStringify } from '../util/canonical-json.ts';
import { portableModuleSpec } from '../util/package-root.ts';
import {
  ASSEMBLY_SCHEMA_VERSION,
  type Assembly,
  type AssemblyNode,
  type InputReference,
} from './assembly.ts';
import { findCycle, graphFromPredecessors, toDot, toMermaid } from './graph.ts';
import { currentProjectDir, toProjectPath } from './session.ts';

/** Options of {@link synthesize}. */
export interface SynthesizeOptions {
  /**
   * Directory that project paths are relative to.
   * @default the session's project directory, else the working directory
   */
  readonly projectDir?: string;
  /**
   * The program file, recorded relative to the project directory.
   * @default 'pipeline.ts'
   */
  readonly app?: string;
  /**
   * Where pipeline.json will be written; only used to record the project directory relative to it.
   * @default '<projectDir>/fcos.out'
   */
  readonly outdir?: string;
}

/** Synthesizes the tree under `pipeline` into an assembly, or throws a typed error. */
export function synthesize(pipeline: Pipeline, options: SynthesizeOptions = {}): Assembly {
  const projectDir = path.resolve(options.projectDir ?? currentProjectDir());
  const outdir = path.resolve(projectDir, options.outdir ?? pipeline.outdir ?? 'fcos.out');
  const steps = pipeline.node.findAll().filter((construct): construct is Step => Step.isStep(construct));
  const issues: ValidationIssue[] = [];
  const nodes: Record<string, AssemblyNode> = {};
  for (const step of steps) {
    issues.push(...step.validateNode());
    const inputs: Record<string, InputReference> = {};
    const props = replaceArtifacts(step.props, [], (artifact, field) => {
      if (artifact.producer.node.root !== pipeline) {
        issues.push({
          constructPath: step.node.path,
          field,
          message: `${artifact.describe()} is from another pipeline`,
        });
      }
      inputs[field] = { node: artifact.producer.node.path, output: artifact.output, type: artifact.type };
      return { $input: field };
    });
    const outputs: AssemblyNode['outputs'] = {};
    for (const [name, output] of step.outputs) {
      outputs[name] = {
        type: output.type,
        attributes: canonicalize(output.attributes) as Record<string, never>,
      };
    }
    nodes[step.node.path] = {
      kind: step.kind,
      kindVersion: step.kindVersion,
      runner: portableModuleSpec(step.runnerFile, projectDir),
      props: props as Record<string, never>,
      inputs,
      dependsOn: explicitDependencies(step),
      resources: { ...step.resources },
      outputs,
    };
  }
  if (issues.length > 0) throw new ValidationError(sortIssues(issues));
  const needs = new Map<string, string[]>();
  for (const [nodePath, node] of Object.entries(nodes)) {
    needs.set(nodePath, [...Object.values(node.inputs).map((input) => input.node), ...node.dependsOn]);
  }
  const cycle = findCycle(graphFromPredecessors(needs));
  if (cycle) throw new CycleError(cycle);
  return canonicalize({
    schemaVersion: ASSEMBLY_SCHEMA_VERSION,
    pipeline: {
      name: pipeline.name,
      context: pipeline.context,
      project: toProjectPath(projectDir, outdir),
      app: toProjectPath(options.app ?? 'pipeline.ts', projectDir),
    },
    nodes,
  }) as Assembly;
}

/** Replaces every artifact inside `value` with what `onArtifact` returns for it and its field. */
function replaceArtifacts(
  value: unknown,
  at: readonly string[],
  onArtifact: (artifact: Artifact, field: string) => unknown,
): unknown {
  if (Artifact.isArtifact(value)) return onArtifact(value, at.join('.'));
  if (Array.isArray(value))
    return value.map((item, index) => replaceArtifacts(item, [...at, String(index)], onArtifact));
  if (value !== null && typeof value === 'object') {
    const result: Record<string, unknown> = {};
    for (const [key, member] of Object.entries(value))
      result[key] = replaceArtifacts(member, [...at, key], onArtifact);
    return result;
  }
  return value;
}

/**
 * The Steps `step` depends on explicitly: `addDependency` on the step or any scope above it,
 * each target expanded to the Steps it contains (CDK's semantics for dependencies on groups).
 */
function explicitDependencies(step: Step): string[] {
  const result = new Set<string>();
  for (const scope of step.node.scopes) {
    for (const target of scope.node.dependencies) {
      for (const dependency of stepsWithin(target)) {
        if (dependency !== step) result.add(dependency.node.path);
      }
    }
  }
  return [...result].sort();
}

/** The Steps in the subtree rooted at `construct`. */
function stepsWithin(construct: IConstruct): Step[] {
  return construct.node.findAll().filter((child): child is Step => Step.isStep(child));
}

/** Issues in construct-path order, so error output is as deterministic as the assembly. */
function sortIssues(issues: ValidationIssue[]): ValidationIssue[] {
  return issues.sort(
    (a, b) => a.constructPath.localeCompare(b.constructPath) || (a.field ?? '').localeCompare(b.field ?? ''),
  );
}

/** Files of a synthesized output directory, by name. */
export function renderAssembly(assembly: Assembly, options: { dot?: boolean } = {}): Map<string, string> {
  const files = new Map<string, string>([
    ['pipeline.json', `${canonicalStringify(assembly, 2)}\n`],
    ['graph.mmd', toMermaid(assembly)],
  ]);
  if (options.dot) files.set('graph.dot', toDot(assembly));
  return files;
}

/**
 * Writes `files` into `outdir`: all of them first into a private staging directory inside it,
 * then each renamed into place, so a failure leaves the previous synthesis untouched.
 */
export async function writeOutputFiles(outdir: string, files: ReadonlyMap<string, string>): Promise<void> {
  await mkdir(outdir, { recursive: true });
  const staging = path.join(outdir, `.synth-${randomBytes(6).toString('hex')}`);
  await mkdir(staging);
  try {
    for (const [name, content] of files) await writeFile(path.join(staging, name), content);
    for (const name of files.keys()) await rename(path.join(staging, name), path.join(outdir, name));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
