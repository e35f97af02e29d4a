/**
 * The engines `fcos-synth --emit` knows, where each one's file goes, and how it is written: whole
 * or not at all (a temporary file in the same directory, renamed into place). The renderers (and
 * the YAML library) are imported only when an export is asked for, so plain synthesis starts as
 * fast as before.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Assembly } from '../assembly.ts';
import type { EmitOptions } from './job-commands.ts';
import { planJobs } from './job-plan.ts';

/** Names accepted by `--emit`. */
export const EMIT_ENGINES = ['github-actions', 'tekton'] as const;

/** One engine name. */
export type EmitEngine = (typeof EMIT_ENGINES)[number];

/** Whether `name` is an engine `--emit` accepts. */
export function isEmitEngine(name: string): name is EmitEngine {
  return (EMIT_ENGINES as readonly string[]).includes(name);
}

/** A rendered export: its file and content. */
export interface EmittedFile {
  /** Absolute path of the file. */
  readonly file: string;
  /** Its bytes, as text. */
  readonly content: string;
  /** How many jobs (or tasks) it has. */
  readonly jobs: number;
}

/** Where an export's files go. */
export interface EmitLocations {
  /** The project directory (holds the pipeline program); GitHub workflows go below it. */
  readonly projectDir: string;
  /** The synthesis output directory (fcos.out); the Tekton PipelineRun goes below it. */
  readonly outdir: string;
}

/** Renders `engine`'s export of `assembly` in memory (nothing is written). */
export async function renderEmit(
  engine: EmitEngine,
  assembly: Assembly,
  options: EmitOptions,
  locations: EmitLocations,
): Promise<EmittedFile> {
  const jobs = planJobs(assembly).jobs.length;
  if (engine === 'github-actions') {
    const { githubActionsWorkflowPath, renderGithubActionsWorkflow } = await import('./github-actions.ts');
    return {
      file: githubActionsWorkflowPath(locations.projectDir, assembly),
      content: renderGithubActionsWorkflow(assembly, options),
      jobs,
    };
  }
  const { renderTektonPipelineRun, tektonPipelineRunPath } = await import('./tekton.ts');
  return {
    file: tektonPipelineRunPath(locations.outdir),
    content: renderTektonPipelineRun(assembly, options),
    jobs,
  };
}

/** Writes `emitted` whole: a reader sees the old file or the new one, never a part. */
export async function writeEmittedFile(emitted: EmittedFile): Promise<void> {
  const directory = path.dirname(emitted.file);
  await mkdir(directory, { recursive: true });
  const temporary = path.join(directory, `.${path.basename(emitted.file)}.${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(temporary, emitted.content);
    await rename(temporary, emitted.file);
  } finally {
    await rm(temporary, { force: true });
  }
}
