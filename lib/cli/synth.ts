/**
 * `fcos-synth`: run the pipeline program and write fcos.out/ (pipeline.json, graph.mmd and,
 * with `--graph dot`, graph.dot) and, with `--emit`, a CI engine's file of the same DAG.
 * Argument parsing, messages and exit codes only.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FcosError } from '../errors.ts';
import type { Assembly } from '../synth/assembly.ts';
import {
  EMIT_ENGINES,
  type EmittedFile,
  isEmitEngine,
  renderEmit,
  writeEmittedFile,
} from '../synth/emit/engines.ts';
import { graphOfAssembly } from '../synth/graph.ts';
import { loadPipeline } from '../synth/program-loader.ts';
import { renderAssembly, synthesize, writeOutputFiles } from '../synth/synthesize.ts';
import { type CliIo, isUsageError, processIo, UsageError } from './io.ts';

const USAGE = `Usage: fcos-synth [options]

Runs the pipeline program and writes its DAG to the output directory.

Options:
  --app FILE            pipeline program (default: pipeline.ts)
  -c, --context K=V     context value, repeatable (e.g. -c profile=fedora -c config=../fcc)
  --out DIR             output directory (default: fcos.out)
  --list                print the node paths and exit without writing
  --graph FORMAT        also write graph.dot when FORMAT is dot (graph.mmd is always written)
  --emit ENGINE         also write the DAG for a CI engine, one job per node (chains joined):
                          github-actions: <project>/.github/workflows/fcos-<pipeline name>.yml
                          tekton:         <out>/tekton/pipelinerun.yaml (a PipelineRun)
  --debug               print stack traces of errors
  -q, --quiet           print nothing on success
  -h, --help            this text
`;

/** Parses `K=V` context arguments. */
export function parseContextArguments(values: readonly string[]): Record<string, string> {
  const context: Record<string, string> = {};
  for (const value of values) {
    const equals = value.indexOf('=');
    if (equals <= 0) throw new UsageError(`context '${value}' is not KEY=VALUE`);
    context[value.slice(0, equals)] = value.slice(equals + 1);
  }
  return context;
}

/** Runs fcos-synth with `argv`; resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let debug = argv.includes('--debug');
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        app: { type: 'string' },
        context: { type: 'string', short: 'c', multiple: true },
        out: { type: 'string' },
        list: { type: 'boolean' },
        graph: { type: 'string' },
        emit: { type: 'string' },
        debug: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    debug = values.debug ?? false;
    if (values.help) {
      io.stdout(USAGE);
      return 0;
    }
    if (values.graph !== undefined && !['dot', 'mermaid'].includes(values.graph)) {
      throw new UsageError(`--graph takes dot or mermaid, not '${values.graph}'`);
    }
    if (values.emit !== undefined && !isEmitEngine(values.emit)) {
      throw new UsageError(`--emit takes ${EMIT_ENGINES.join(' or ')}, not '${values.emit}'`);
    }
    const context = parseContextArguments(values.context ?? []);
    const app = path.resolve(values.app ?? 'pipeline.ts');
    const pipeline = await loadPipeline({ app, context });
    const outdir = path.resolve(values.out ?? pipeline.outdir ?? 'fcos.out');
    const assembly = synthesize(pipeline, { projectDir: path.dirname(app), app, outdir });
    if (values.list) {
      io.stdout(`${Object.keys(assembly.nodes).join('\n')}\n`);
      return 0;
    }
    // Rendered before anything is written, so that an export that fails leaves every file as it was.
    const emitted: EmittedFile | undefined =
      values.emit !== undefined && isEmitEngine(values.emit)
        ? await renderEmit(values.emit, assembly, { context }, { projectDir: path.dirname(app), outdir })
        : undefined;
    await writeOutputFiles(outdir, renderAssembly(assembly, { dot: values.graph === 'dot' }));
    if (emitted) await writeEmittedFile(emitted);
    if (!values.quiet) {
      io.stdout(summarize(assembly, displayPath(outdir)));
      if (emitted) io.stdout(`  -> ${displayPath(emitted.file)} (${values.emit}, ${emitted.jobs} jobs)\n`);
    }
    return 0;
  } catch (error) {
    return reportError(error, io, debug);
  }
}

/** Prints an error as one paragraph (a stack only with --debug) and returns the exit code. */
function reportError(error: unknown, io: CliIo, debug: boolean): number {
  if (isUsageError(error)) {
    io.stderr(`fcos-synth: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (error instanceof FcosError) {
    io.stderr(`fcos-synth: error: ${error.message}\n`);
    if (debug && error.stack) io.stderr(`${error.stack}\n`);
    return 1;
  }
  io.stderr(`fcos-synth: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
  if (debug && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
  return 1;
}

/** `file` relative to the working directory when it is below it, else absolute. */
function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative === '' ? '.' : relative.startsWith('..') ? file : relative;
}

/** The success summary: nodes per kind, edges, where the assembly went. */
function summarize(assembly: Assembly, outdir: string): string {
  const perKind = new Map<string, number>();
  for (const node of Object.values(assembly.nodes)) perKind.set(node.kind, (perKind.get(node.kind) ?? 0) + 1);
  const graph = graphOfAssembly(assembly);
  let edges = 0;
  for (const list of graph.predecessors.values()) edges += list.length;
  const kinds = [...perKind.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, count]) => `${count} ${kind}`)
    .join(', ');
  const total = Object.keys(assembly.nodes).length;
  return `Synthesized pipeline '${assembly.pipeline.name}': ${total} node${total === 1 ? '' : 's'} (${kinds}), ${edges} edge${edges === 1 ? '' : 's'}\n  -> ${outdir}/pipeline.json, ${outdir}/graph.mmd\n`;
}
