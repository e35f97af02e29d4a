/**
 * The Release runner: checks the gates (a failed test in any report stops it: gate.ts), then writes
 * release.json from the builds' meta.json (lib/release/release-document.ts) and checks it against
 * the release.json schema. A failing KolaTest already fails itself, so the executor never starts a
 * Release after it; the check here is for reports of tests that tolerate failures.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type BuildMeta, buildMetaSchema } from '../../lib/release/build-meta.ts';
import { ReleaseDocumentError } from '../../lib/release/errors.ts';
import { releaseSchema } from '../../lib/release/formats.ts';
import { releaseFromBuilds } from '../../lib/release/release-document.ts';
import { defineRunner, type NodeProps, type RunnerContext, requireInput } from '../../lib/runner.ts';
import { canonicalStringify } from '../../lib/util/canonical-json.ts';
import { ReleaseError } from './errors.ts';
import { checkGates } from './gate.ts';
import { type ReleaseConfig, releaseKind } from './index.ts';

/** Props of the node as its runner receives them. */
type ReleaseNodeProps = NodeProps<ReleaseConfig>;

/** The file name of the Release's output. */
export const RELEASE_FILE = 'release.json';

/** The meta.json of build input `field`, parsed; a ReleaseError naming the field when it is not one. */
async function readBuild(file: string, field: string, nodePath: string): Promise<BuildMeta> {
  const parsed = buildMetaSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ReleaseError(
    `input '${field}' is not a Build's meta.json (${issue?.path.join('.')}: ${issue?.message})`,
    { constructPath: nodePath, field },
  );
}

/** The newest commit timestamp of the builds, Unix seconds: when the release's content was taken. */
function snapshotTime(builds: readonly BuildMeta[]): number {
  return Math.max(...builds.map((build) => Date.parse(build['ostree-timestamp']) / 1000));
}

/** Checks the gates and writes release.json. */
async function runRelease(context: RunnerContext<ReleaseNodeProps>) {
  const { props, nodePath } = context;
  const gates = props.tests.map((reference) => ({
    field: reference.$input,
    path: requireInput(context, reference).path,
  }));
  const tested = await checkGates(gates, nodePath);
  context.log(`gates: ${gates.length} report${gates.length === 1 ? '' : 's'}, ${tested} tests, none failed`);
  const builds: BuildMeta[] = [];
  for (const reference of props.builds) {
    const input = requireInput(context, reference);
    if (input.metadata.stream !== undefined && input.metadata.stream !== props.stream) {
      throw new ReleaseError(
        `input '${reference.$input}' is a build of stream '${String(input.metadata.stream)}', not '${props.stream}'`,
        { constructPath: nodePath, field: reference.$input },
      );
    }
    builds.push(await readBuild(input.path, reference.$input, nodePath));
  }
  let document: ReturnType<typeof releaseFromBuilds>;
  try {
    document = releaseSchema.parse(
      releaseFromBuilds(builds, { stream: props.stream, baseUrl: props.baseUrl }),
    );
  } catch (error) {
    if (!(error instanceof ReleaseDocumentError)) throw error;
    throw new ReleaseError(error.message, { constructPath: nodePath, field: 'builds', cause: error });
  }
  const file = path.join(context.workDir, RELEASE_FILE);
  await writeFile(file, `${canonicalStringify(document, 2)}\n`);
  const arches = Object.keys(document.architectures);
  context.log(`release.json: ${props.stream} ${document.release} (${arches.join(', ')})`);
  return {
    release: {
      storage: 'file' as const,
      path: file,
      metadata: {
        version: document.release,
        stream: props.stream,
        arches,
        snapshotTime: snapshotTime(builds),
      },
    },
  };
}

export default defineRunner(releaseKind, { run: runRelease });
