/**
 * The release formats Fedora CoreOS tooling reads, as zod schemas: builds.json, release.json,
 * releases.json (the release index), stream metadata (streams/<stream>.json) and update metadata
 * (updates/<stream>.json). Field for field from the reference documents in
 * `../shared/reference/` (stream-metadata-go's fixtures, fedora-coreos-streams): keys we do not
 * produce but real documents carry are accepted (`.loose()`), so a real document round-trips.
 * zod rather than hand-written checks: one declaration gives the parser, the TypeScript type and
 * the path of a bad field for the error message.
 */
import { z } from 'zod';
import { DIGEST_PATTERN } from '../cache/hash.ts';

/** A `YYYY-MM-DDTHH:MM:SSZ` time, as the `last-modified` and `timestamp` fields carry it. */
export const utcTimeSchema = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/, {
  error: 'expected a UTC time like 2020-12-17T14:18:43Z',
});

/** A lowercase hex sha256. */
export const sha256Schema = z.string().regex(DIGEST_PATTERN, { error: 'expected a lowercase hex sha256' });

/** An ostree commit checksum (a sha256). */
export const commitChecksumSchema = sha256Schema;

/** One build in builds.json: its id (the version) and the arches built so far. */
export const buildsEntrySchema = z
  .object({ id: z.string().min(1), arches: z.array(z.string().min(1)) })
  .loose();

/** `builds/builds.json`: every build of a stream, newest first. */
export const buildsIndexSchema = z
  .object({
    'schema-version': z.literal('1.0.0'),
    builds: z.array(buildsEntrySchema),
    timestamp: utcTimeSchema,
  })
  .loose();
/** `builds/builds.json`. */
export type BuildsIndex = z.infer<typeof buildsIndexSchema>;

/** One downloadable file of a release: where, its detached signature, its digests. */
export const releaseFileSchema = z
  .object({
    location: z.string().min(1),
    signature: z.string().min(1),
    sha256: sha256Schema,
    'uncompressed-sha256': sha256Schema.optional(),
  })
  .loose();
/** One downloadable file of a release. */
export type ReleaseFile = z.infer<typeof releaseFileSchema>;

/**
 * The files of one format: `disk` for a disk image or ISO; `kernel`, `initramfs`, `rootfs` for
 * PXE. Keyed by role so a format with several files (PXE) fits the same shape.
 */
export const releaseFormatSchema = z.record(z.string().min(1), releaseFileSchema);
/** The files of one format, by role (`disk`, `kernel` ...). */
export type ReleaseFormat = z.infer<typeof releaseFormatSchema>;

/** A cloud image in one region (`images.<region>` of the aws media). */
export const regionImageSchema = z.object({ image: z.string().min(1) }).loose();

/** What a release ships for one platform: its files by format, and cloud images. */
export const releaseMediaSchema = z
  .object({
    artifacts: z.record(z.string().min(1), releaseFormatSchema).optional(),
    /** Per-region cloud images (aws, aliyun). */
    images: z.record(z.string().min(1), regionImageSchema).optional(),
    /** A single cloud image (gcp: project, family, name; kubevirt: image). */
    image: z.record(z.string(), z.string()).optional(),
  })
  .loose();
/** What a release ships for one platform. */
export type ReleaseMedia = z.infer<typeof releaseMediaSchema>;

/** One arch of a release: its ostree commit and media by platform. */
export const releaseArchSchema = z
  .object({
    commit: commitChecksumSchema,
    media: z.record(z.string().min(1), releaseMediaSchema),
  })
  .loose();
/** One arch of a release. */
export type ReleaseArch = z.infer<typeof releaseArchSchema>;

/** `builds/<version>/release.json`: one release, every arch. */
export const releaseSchema = z
  .object({
    release: z.string().min(1),
    stream: z.string().min(1),
    architectures: z.record(z.string().min(1), releaseArchSchema),
  })
  .loose();
/** `builds/<version>/release.json`. */
export type Release = z.infer<typeof releaseSchema>;

/** One commit of a release index entry. */
export const releaseIndexCommitSchema = z
  .object({ architecture: z.string().min(1), checksum: commitChecksumSchema })
  .loose();

/** One release in the index: its version, release.json URL and commit per arch. */
export const releaseIndexEntrySchema = z
  .object({
    version: z.string().min(1),
    metadata: z.string().min(1),
    commits: z.array(releaseIndexCommitSchema),
  })
  .loose();
/** One release in the index. */
export type ReleaseIndexEntry = z.infer<typeof releaseIndexEntrySchema>;

/** `<stream>/releases.json`: the stream's releases, oldest first, append-only. */
export const releaseIndexSchema = z
  .object({
    stream: z.string().min(1),
    metadata: z.object({ 'last-modified': utcTimeSchema }).loose(),
    releases: z.array(releaseIndexEntrySchema),
  })
  .loose();
/** `<stream>/releases.json`. */
export type ReleaseIndex = z.infer<typeof releaseIndexSchema>;

/** One platform's artifacts in stream metadata: the release they come from, files by format. */
export const streamArtifactsSchema = z
  .object({ release: z.string().min(1), formats: z.record(z.string().min(1), releaseFormatSchema) })
  .loose();

/** One arch of stream metadata: artifacts by platform, cloud images by cloud. */
export const streamArchSchema = z
  .object({
    artifacts: z.record(z.string().min(1), streamArtifactsSchema),
    images: z
      .record(
        z.string().min(1),
        z.union([
          z
            .object({
              regions: z.record(
                z.string().min(1),
                z.object({ release: z.string().min(1), image: z.string().min(1) }).loose(),
              ),
            })
            .loose(),
          z.object({ release: z.string().min(1) }).catchall(z.string()),
        ]),
      )
      .optional(),
  })
  .loose();
/** One arch of stream metadata. */
export type StreamArch = z.infer<typeof streamArchSchema>;

/** `streams/<stream>.json`: what installers and clouds read, generated from the newest release. */
export const streamMetadataSchema = z
  .object({
    stream: z.string().min(1),
    metadata: z.object({ 'last-modified': utcTimeSchema, generator: z.string().optional() }).loose(),
    architectures: z.record(z.string().min(1), streamArchSchema),
  })
  .loose();
/** `streams/<stream>.json`. */
export type StreamMetadata = z.infer<typeof streamMetadataSchema>;

/** A barrier: every update path to a later release goes through this one. */
export const barrierSchema = z.object({ reason: z.string().min(1) }).loose();
/** A dead-end: machines on this release get no update and are told why. */
export const deadendSchema = z.object({ reason: z.string().min(1) }).loose();
/**
 * A staged rollout: from `start_epoch` (seconds) the share of the fleet offered the release grows
 * from `start_percentage` (0–1) to 1 over `duration_minutes`. A finished rollout keeps only
 * `start_percentage: 1.0`.
 */
export const rolloutSchema = z
  .object({
    start_epoch: z.number().int().nonnegative().optional(),
    start_percentage: z.number().min(0).max(1),
    duration_minutes: z.number().int().nonnegative().optional(),
  })
  .loose();
/** A staged rollout. */
export type Rollout = z.infer<typeof rolloutSchema>;

/** What the update metadata says about one release. */
export const updateEntryMetadataSchema = z
  .object({
    barrier: barrierSchema.optional(),
    deadend: deadendSchema.optional(),
    rollout: rolloutSchema.optional(),
  })
  .loose();
/** What the update metadata says about one release. */
export type UpdateEntryMetadata = z.infer<typeof updateEntryMetadataSchema>;

/** One release of `updates/<stream>.json`. */
export const updateEntrySchema = z
  .object({ version: z.string().min(1), metadata: updateEntryMetadataSchema })
  .loose();
/** One release of `updates/<stream>.json`. */
export type UpdateEntry = z.infer<typeof updateEntrySchema>;

/** `updates/<stream>.json`: barriers, dead-ends and rollouts of a stream. */
export const updateMetadataSchema = z
  .object({
    stream: z.string().min(1),
    metadata: z.object({ 'last-modified': utcTimeSchema }).loose(),
    releases: z.array(updateEntrySchema),
  })
  .loose();
/** `updates/<stream>.json`. */
export type UpdateMetadataDocument = z.infer<typeof updateMetadataSchema>;

/** One node of an update graph (Cincinnati): a release of one arch. Metadata values are strings. */
export const graphNodeSchema = z.object({
  version: z.string().min(1),
  payload: z.string().min(1),
  metadata: z.record(z.string(), z.string()),
});
/** One node of an update graph. */
export type GraphNode = z.infer<typeof graphNodeSchema>;

/** An update graph as `GET /v1/graph` returns it: nodes, and edges as `[from, to]` node indexes. */
export const updateGraphSchema = z.object({
  nodes: z.array(graphNodeSchema),
  edges: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])),
});
/** An update graph. */
export type UpdateGraph = z.infer<typeof updateGraphSchema>;

/** Cincinnati's (and FleetLock's) error body: `{kind, value}` with a 4xx/5xx status. */
export const protocolErrorSchema = z.object({ kind: z.string().min(1), value: z.string() });
/** Cincinnati's error body. */
export type ProtocolError = z.infer<typeof protocolErrorSchema>;

/** The destination keys of a stream's published documents (see ARCHITECTURE.md, "Releases"). */
export const publishedPaths = {
  /** Everything of a stream below the base URL: `prod/streams/<stream>`. */
  streamRoot: (stream: string) => `prod/streams/${stream}`,
  /** `prod/streams/<stream>/builds/builds.json`. */
  buildsIndex: (stream: string) => `prod/streams/${stream}/builds/builds.json`,
  /** `prod/streams/<stream>/builds/<version>`. */
  buildDirectory: (stream: string, version: string) => `prod/streams/${stream}/builds/${version}`,
  /** `prod/streams/<stream>/builds/<version>/release.json`. */
  release: (stream: string, version: string) => `prod/streams/${stream}/builds/${version}/release.json`,
  /** `prod/streams/<stream>/builds/<version>/<arch>`: meta.json and the files. */
  archDirectory: (stream: string, version: string, arch: string) =>
    `prod/streams/${stream}/builds/${version}/${arch}`,
  /** `prod/streams/<stream>/releases.json`. */
  releaseIndex: (stream: string) => `prod/streams/${stream}/releases.json`,
  /** `prod/streams/<stream>/repo`: the stream's archive-mode ostree repository. */
  ostreeRepo: (stream: string) => `prod/streams/${stream}/repo`,
  /** `streams/<stream>.json`. */
  streamMetadata: (stream: string) => `streams/${stream}.json`,
  /** `updates/<stream>.json`. */
  updateMetadata: (stream: string) => `updates/${stream}.json`,
  /** `signing-key.asc`: the public key clients import to verify commits and files. */
  signingKey: 'signing-key.asc',
} as const;
