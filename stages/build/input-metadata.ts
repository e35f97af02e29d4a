/**
 * What a Build reads of its inputs' metadata: the commit's (RpmOstreeCompose: ref, version, arch),
 * each platform image's (PlatformImage: cosa's `path/sha256/size/uncompressed-*` fields, the
 * platform's Ignition id, sector size, OS name, version, commit) and each cloud image's (Upload:
 * `amis`, `gcp` or `azure` as cosa's meta.json has them). zod schemas, so an input from another
 * producer is refused with the field that is missing.
 */
import { z } from 'zod';
import { buildAmiSchema, buildAzureImageSchema, buildGcpImageSchema } from '../../lib/release/build-meta.ts';
import { sha256Schema } from '../../lib/release/formats.ts';
import type { ArtifactMetadata } from '../../lib/runner.ts';
import { BuildError } from './errors.ts';

/** The commit's metadata (RpmOstreeCompose's `commit` output). */
export const commitMetadataSchema = z
  .object({ ref: z.string().min(1), version: z.string().min(1), arch: z.string().min(1) })
  .loose();
/** The commit's metadata. */
export type CommitMetadata = z.infer<typeof commitMetadataSchema>;

/** A platform image's metadata (PlatformImage's `image` output). */
export const platformImageMetadataSchema = z
  .object({
    path: z.string().min(1),
    sha256: sha256Schema,
    size: z.number().int().nonnegative(),
    'uncompressed-sha256': sha256Schema.optional(),
    'uncompressed-size': z.number().int().nonnegative().optional(),
    'skip-compression': z.boolean().optional(),
    platform: z.string().min(1),
    ignitionPlatformId: z.string().min(1),
    arch: z.string().min(1),
    sectorSize: z.union([z.literal(512), z.literal(4096)]),
    osName: z.string().min(1),
    version: z.string().min(1),
    commit: z.string().min(1),
  })
  .loose();
/** A platform image's metadata. */
export type PlatformImageMetadata = z.infer<typeof platformImageMetadataSchema>;

/** A cloud image's metadata (Upload's `cloudImage` output): one of `amis`, `gcp`, `azure`. */
export const cloudImageMetadataSchema = z
  .object({
    platform: z.string().min(1),
    arch: z.string().min(1),
    amis: z.array(buildAmiSchema).optional(),
    gcp: buildGcpImageSchema.optional(),
    azure: buildAzureImageSchema.optional(),
  })
  .loose();
/** A cloud image's metadata. */
export type CloudImageMetadata = z.infer<typeof cloudImageMetadataSchema>;

/** `metadata` parsed with `schema`; a BuildError naming the node, the field and the producer kind expected. */
export function parseInputMetadata<Schema extends z.ZodType>(
  schema: Schema,
  metadata: ArtifactMetadata,
  where: { readonly nodePath: string; readonly field: string; readonly producer: string },
): z.output<Schema> {
  const parsed = schema.safeParse(metadata);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new BuildError(
    `input '${where.field}' lacks ${where.producer} metadata (${issue?.path.join('.') || 'metadata'}: ${issue?.message}); it must come from a ${where.producer}`,
    { constructPath: where.nodePath, field: where.field },
  );
}
