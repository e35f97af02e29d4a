/**
 * The UpdateMetadata runner: resolves the versions of the releases being built from their inputs'
 * metadata, reads the `from` document, and writes `<stream>.json` with
 * lib/release/update-metadata.ts. Its output depends on props, inputs and the `from` file only
 * (the fingerprint is the merged document's digest), never on the wall clock.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256Bytes } from '../../lib/cache/hash.ts';
import { FcosError } from '../../lib/errors.ts';
import { type UpdateMetadataDocument, updateMetadataSchema } from '../../lib/release/formats.ts';
import {
  buildUpdateMetadata,
  renderUpdateMetadata,
  type UpdateEntryInput,
} from '../../lib/release/update-metadata.ts';
import {
  defineRunner,
  type FingerprintContext,
  type InputReference,
  type NodeProps,
  requireInput,
} from '../../lib/runner.ts';
import { type UpdateMetadataConfig, updateMetadataKind } from './index.ts';

/** Props of an UpdateMetadata node as its runner receives them. */
export type UpdateMetadataNodeProps = NodeProps<UpdateMetadataConfig>;

/** The `from` document or a release input cannot be used. */
export class UpdateMetadataInputError extends FcosError {}

/** Whether a recorded version is a reference to a release input. */
function isInputReference(version: string | InputReference): version is InputReference {
  return typeof version === 'object' && version !== null && '$input' in version;
}

/** A rollout with its start resolved: given, or the release input's snapshot time. */
function resolveRollout(
  rollout: UpdateMetadataNodeProps['releases'][number]['rollout'] & object,
  snapshotTime: number | undefined,
  nodePath: string,
  index: number,
): UpdateEntryInput['rollout'] & object {
  const startEpoch = rollout.startEpoch ?? snapshotTime;
  if (startEpoch === undefined) {
    throw new UpdateMetadataInputError('the release records no snapshot time to start its rollout at', {
      constructPath: nodePath,
      field: `releases.${index}.rollout.startEpoch`,
    });
  }
  return { ...rollout, startEpoch };
}

/** The entries with each release input's version read from its metadata. */
function resolveEntries(context: FingerprintContext<UpdateMetadataNodeProps>): UpdateEntryInput[] {
  const { props, nodePath } = context;
  return props.releases.map((entry, index) => {
    let version: string;
    let snapshotTime: number | undefined;
    if (isInputReference(entry.version)) {
      const input = requireInput(context, entry.version);
      const field = `releases.${index}.version`;
      const recorded = input.metadata.version;
      if (typeof recorded !== 'string' || recorded === '') {
        throw new UpdateMetadataInputError(
          `input '${entry.version.$input}' (${input.type}) records no version in its metadata`,
          { constructPath: nodePath, field },
        );
      }
      const stream = input.metadata.stream;
      if (typeof stream === 'string' && stream !== props.stream) {
        throw new UpdateMetadataInputError(
          `release ${recorded} is of stream '${stream}', not '${props.stream}'`,
          {
            constructPath: nodePath,
            field,
          },
        );
      }
      version = recorded;
      if (typeof input.metadata.snapshotTime === 'number') snapshotTime = input.metadata.snapshotTime;
    } else {
      version = entry.version;
    }
    return {
      version,
      ...(entry.barrier ? { barrier: entry.barrier } : {}),
      ...(entry.deadend ? { deadend: entry.deadend } : {}),
      ...(entry.rollout ? { rollout: resolveRollout(entry.rollout, snapshotTime, nodePath, index) } : {}),
    };
  });
}

/** The `from` document, parsed and validated; undefined without `from`. */
async function readFromDocument(
  context: FingerprintContext<UpdateMetadataNodeProps>,
): Promise<UpdateMetadataDocument | undefined> {
  const from = context.props.from;
  if (from === undefined) return undefined;
  const errorOptions = { constructPath: context.nodePath, field: 'from' };
  let text: string;
  try {
    text = await readFile(path.resolve(context.projectDir, from), 'utf8');
  } catch (error) {
    if (context.props.allowMissingFrom && (error as NodeJS.ErrnoException).code === 'ENOENT')
      return undefined;
    throw new UpdateMetadataInputError(`cannot read update metadata '${from}': ${(error as Error).message}`, {
      ...errorOptions,
      cause: error,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UpdateMetadataInputError(`'${from}' is not JSON: ${(error as Error).message}`, errorOptions);
  }
  const result = updateMetadataSchema.safeParse(parsed);
  if (!result.success) {
    const first = result.error.issues[0]!;
    throw new UpdateMetadataInputError(
      `'${from}' is not update metadata: ${first.path.join('.')}: ${first.message}`,
      errorOptions,
    );
  }
  return result.data;
}

/** The document from the entries (release versions resolved) merged over the `from` document. */
async function mergedDocument(
  context: FingerprintContext<UpdateMetadataNodeProps>,
): Promise<UpdateMetadataDocument> {
  const from = await readFromDocument(context);
  return buildUpdateMetadata({
    stream: context.props.stream,
    entries: resolveEntries(context),
    ...(from ? { existing: from } : {}),
    ...(context.props.asOf === undefined ? {} : { asOf: context.props.asOf }),
    constructPath: context.nodePath,
  });
}

/** Writes `<stream>.json`. */
export default defineRunner(updateMetadataKind, {
  timeoutSeconds: 60,

  /**
   * The document this node would write, as a digest: when `from` is the destination's own
   * updates/<stream>.json, publishing our output changes that file but not the merged result, so
   * the next run stays cached instead of rebuilding an identical document.
   */
  async fingerprint(context) {
    if (context.props.from === undefined) return null;
    const document = await mergedDocument(context);
    return { document: sha256Bytes(renderUpdateMetadata(document)) };
  },

  /** Builds the document from the entries (release versions resolved) and the from document, and writes it. */
  async run(context) {
    const document = await mergedDocument(context);
    // What we write must read back as update metadata; a failure here is a bug, not a user error.
    updateMetadataSchema.parse(document);
    const file = path.join(context.workDir, `${context.props.stream}.json`);
    await writeFile(file, renderUpdateMetadata(document));
    context.log(`${document.releases.length} releases, last-modified ${document.metadata['last-modified']}`);
    return {
      updates: {
        storage: 'file',
        path: file,
        metadata: {
          stream: document.stream,
          'last-modified': document.metadata['last-modified'],
          versions: document.releases.map((entry) => entry.version),
        },
      },
    };
  },
});
