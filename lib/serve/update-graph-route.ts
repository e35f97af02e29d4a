/**
 * `GET /v1/graph`: the Cincinnati update graph Zincati polls, built from the published files:
 * `<root>/prod/streams/<stream>/releases.json` (required: no file, no stream) and
 * `<root>/updates/<stream>.json` (optional: without it no release is an update target), then
 * throttled for the asking client (its `rollout_wariness`, else a hash of its `node_uuid`) at the
 * server's clock. Zincati's other parameters (os_version, group, platform, os_checksum) are
 * accepted and ignored, as fedora-coreos-cincinnati does.
 *
 * The graph of a stream × basearch is built once per version of its two files (mtime, size and
 * inode of each), so a query costs two stats and the throttling pass; a publish that rewrites a
 * file is picked up by the next query.
 *
 * Errors are `{"kind", "value"}` with the kinds of the Cincinnati graph protocol (openshift/
 * cincinnati commons/src/errors.rs `GraphError`: `missing_params`, `invalid_params` 400,
 * `does_not_exist` 404, `failed_json_in` 500). fedora-coreos-cincinnati itself answers a bad or
 * unknown scope with a bare 400 or 404 and no body; Zincati only looks at the status.
 */
import type { BigIntStats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import {
  publishedPaths,
  type ReleaseIndex,
  releaseIndexSchema,
  type UpdateGraph,
  type UpdateMetadataDocument,
  updateMetadataSchema,
} from '../release/formats.ts';
import { parseRolloutWariness, rolloutWariness, throttleGraph } from '../release/rollout-throttle.ts';
import { buildUpdateGraph } from '../release/update-graph.ts';
import { ProtocolErrorResponse } from './protocol-error.ts';

/** The graph endpoint's path (v1). */
export const UPDATE_GRAPH_PATH = '/v1/graph';

/** A stream name that is one path segment (no `/`, no leading dot): it names files under the root. */
const STREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** A basearch as rpm names them (`x86_64`, `aarch64`, `ppc64le`, `s390x`). */
const BASEARCH_NAME = /^[A-Za-z0-9_]+$/;

/** One stream's parsed documents and the graphs built from them so far, for one version of its files. */
interface StreamEntry {
  /** Which version of the two files this entry was read from: mtime, size and inode of each. */
  readonly signature: string;
  /** The parsed documents (rejected when a file does not parse). */
  readonly documents: Promise<StreamDocuments>;
  /** The unthrottled graph of each basearch asked for so far. */
  readonly graphs: Map<string, UpdateGraph>;
}

/** A stream's release index and update metadata, parsed. */
interface StreamDocuments {
  readonly index: ReleaseIndex;
  readonly updates: UpdateMetadataDocument | undefined;
  /** Every basearch some release has a commit for. */
  readonly arches: ReadonlySet<string>;
}

/** The unthrottled graph of each stream × basearch, rebuilt only when a stream's files change. */
export class UpdateGraphCache {
  private readonly entries = new Map<string, StreamEntry>();

  constructor(private readonly root: string) {}

  /** The unthrottled graph of `stream` for `basearch`; throws a {@link ProtocolErrorResponse}. */
  async graph(stream: string, basearch: string): Promise<UpdateGraph> {
    const indexFile = path.join(this.root, publishedPaths.releaseIndex(stream));
    const updatesFile = path.join(this.root, publishedPaths.updateMetadata(stream));
    const [indexStats, updatesStats] = await Promise.all([
      statOrUndefined(indexFile),
      statOrUndefined(updatesFile),
    ]);
    if (indexStats === undefined) {
      throw new ProtocolErrorResponse(
        404,
        'does_not_exist',
        `unknown stream '${stream}': no ${publishedPaths.releaseIndex(stream)} is published`,
      );
    }
    const signature = `${fileSignature(indexStats)} ${updatesStats ? fileSignature(updatesStats) : 'none'}`;
    let entry = this.entries.get(stream);
    if (entry?.signature !== signature) {
      const documents = readStreamDocuments(stream, indexFile, updatesStats ? updatesFile : undefined);
      const created: StreamEntry = { signature, documents, graphs: new Map() };
      entry = created;
      this.entries.set(stream, created);
      // A failed read is not kept: the next query tries again (the file may be mid-rewrite).
      documents.catch(() => {
        if (this.entries.get(stream) === created) this.entries.delete(stream);
      });
    }
    const documents = await entry.documents;
    let graph = entry.graphs.get(basearch);
    if (graph === undefined) {
      if (!documents.arches.has(basearch)) {
        const known = [...documents.arches].sort().join(', ') || 'none';
        throw new ProtocolErrorResponse(
          400,
          'invalid_params',
          `invalid client parameters: unsupported basearch '${basearch}' for stream '${stream}' (its releases have: ${known})`,
        );
      }
      graph = buildUpdateGraph(documents.index, documents.updates, basearch);
      entry.graphs.set(basearch, graph);
    }
    return graph;
  }
}

/** Options of the graph endpoint. */
export interface UpdateGraphRouteOptions {
  /** The graphs of the served root. */
  readonly cache: UpdateGraphCache;
  /** The clock rollouts are throttled at, in milliseconds since the epoch (like `Date.now`). */
  readonly now: () => number;
}

/** Registers `GET /v1/graph` (and HEAD) on `server`; errors are thrown as {@link ProtocolErrorResponse}. */
export function registerUpdateGraphRoute(server: FastifyInstance, options: UpdateGraphRouteOptions): void {
  server.get(UPDATE_GRAPH_PATH, async (request, reply) => {
    const query = graphQuery(request.query as Record<string, unknown>);
    const graph = await options.cache.graph(query.stream, query.basearch);
    const wariness = rolloutWariness({
      ...(query.rolloutWariness !== undefined ? { rolloutWariness: query.rolloutWariness } : {}),
      ...(query.nodeUuid !== undefined ? { nodeUuid: query.nodeUuid } : {}),
    });
    return reply.type('application/json').send(throttleGraph(graph, wariness, options.now() / 1000));
  });
}

/** The parameters of a graph query that matter here. */
interface GraphQuery {
  readonly stream: string;
  readonly basearch: string;
  readonly rolloutWariness: number | undefined;
  readonly nodeUuid: string | undefined;
}

/** Checks and reads a graph query's parameters; throws `missing_params` / `invalid_params`. */
export function graphQuery(query: Readonly<Record<string, unknown>>): GraphQuery {
  const single = (name: string): string | undefined => {
    const value = query[name];
    if (Array.isArray(value)) {
      throw new ProtocolErrorResponse(
        400,
        'invalid_params',
        `invalid client parameters: ${name} given more than once`,
      );
    }
    return typeof value === 'string' ? value : undefined;
  };
  const basearch = single('basearch') ?? '';
  const stream = single('stream') ?? '';
  const missing = [basearch === '' ? 'basearch' : undefined, stream === '' ? 'stream' : undefined].filter(
    (name) => name !== undefined,
  );
  if (missing.length > 0) {
    throw new ProtocolErrorResponse(
      400,
      'missing_params',
      `mandatory client parameters missing: ${missing.join(', ')}`,
    );
  }
  if (!BASEARCH_NAME.test(basearch)) {
    throw new ProtocolErrorResponse(
      400,
      'invalid_params',
      `invalid client parameters: basearch '${basearch}' is not an architecture name`,
    );
  }
  if (!STREAM_NAME.test(stream)) {
    throw new ProtocolErrorResponse(
      400,
      'invalid_params',
      `invalid client parameters: stream '${stream}' is not a stream name`,
    );
  }
  // Zincati sends rollout_wariness only when configured; an empty one counts as not given.
  const warinessText = single('rollout_wariness');
  let rolloutWarinessValue: number | undefined;
  if (warinessText !== undefined && warinessText !== '') {
    rolloutWarinessValue = parseRolloutWariness(warinessText);
    if (rolloutWarinessValue === undefined) {
      throw new ProtocolErrorResponse(
        400,
        'invalid_params',
        `invalid client parameters: rollout_wariness '${warinessText}' is not a number (0.0 to 1.0)`,
      );
    }
  }
  return { stream, basearch, rolloutWariness: rolloutWarinessValue, nodeUuid: single('node_uuid') };
}

/** Reads and parses a stream's release index and (when it exists) its update metadata. */
async function readStreamDocuments(
  stream: string,
  indexFile: string,
  updatesFile: string | undefined,
): Promise<StreamDocuments> {
  const [index, updates] = await Promise.all([
    readDocument(indexFile, publishedPaths.releaseIndex(stream), releaseIndexSchema),
    updatesFile === undefined
      ? undefined
      : readDocument(updatesFile, publishedPaths.updateMetadata(stream), updateMetadataSchema),
  ]);
  const arches = new Set(
    index.releases.flatMap((release) => release.commits.map((commit) => commit.architecture)),
  );
  return { index, updates, arches };
}

/** Reads `file` and parses it with `schema`; a file that does not parse is the server's fault (500). */
async function readDocument<Schema extends z.ZodType>(
  file: string,
  shownAs: string,
  schema: Schema,
): Promise<z.infer<Schema>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ProtocolErrorResponse(
      500,
      'file_open_err',
      `failed to open ${shownAs}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ProtocolErrorResponse(
      500,
      'failed_json_in',
      `${shownAs} is not JSON: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new ProtocolErrorResponse(
      500,
      'failed_json_in',
      `${shownAs} is not a valid document${where}: ${issue?.message ?? 'invalid'}`,
      { cause: parsed.error },
    );
  }
  return parsed.data;
}

/** The stats of `file`, or undefined when it does not exist. */
async function statOrUndefined(file: string): Promise<BigIntStats | undefined> {
  try {
    const stats = await stat(file, { bigint: true });
    return stats.isFile() ? stats : undefined;
  } catch (error) {
    if (
      (error as NodeJS.ErrnoException).code === 'ENOENT' ||
      (error as NodeJS.ErrnoException).code === 'ENOTDIR'
    ) {
      return undefined;
    }
    throw error;
  }
}

/** Which version of a file `stats` describe: modification time (ns), size and inode. */
function fileSignature(stats: BigIntStats): string {
  return `${stats.mtimeNs}:${stats.size}:${stats.ino}`;
}
