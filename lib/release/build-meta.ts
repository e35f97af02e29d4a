/**
 * The part of coreos-assembler's meta.json (`schema/cosa-meta-v1.schema.json`) that release
 * documents are made from: version, arch, commit, image files and cloud images. A zod schema so a
 * meta.json read from disk is checked where it is read; unknown keys are kept (`.loose()`) since
 * cosa's schema has many more.
 */
import { z } from 'zod';
import { sha256Schema } from './formats.ts';

/** One file of a build (`images.<name>`): path relative to the arch directory, digests, sizes. */
export const buildImageSchema = z
  .object({
    path: z.string().min(1),
    sha256: sha256Schema,
    size: z.number().int().nonnegative().optional(),
    'uncompressed-sha256': sha256Schema.optional(),
    'uncompressed-size': z.number().int().nonnegative().optional(),
  })
  .loose();
/** One file of a build. */
export type BuildImage = z.infer<typeof buildImageSchema>;

/** An AMI in one region (`amis[]`). */
export const buildAmiSchema = z
  .object({ name: z.string().min(1), hvm: z.string().min(1), snapshot: z.string() })
  .loose();

/** The GCE image (`gcp`). */
export const buildGcpImageSchema = z
  .object({
    image: z.string().min(1),
    url: z.string(),
    project: z.string().optional(),
    family: z.string().optional(),
  })
  .loose();

/** The Azure image (`azure`): cosa's `cloudartifact`. */
export const buildAzureImageSchema = z.object({ image: z.string().optional(), url: z.string() }).loose();

/** An Aliyun image in one region (`aliyun[]`). */
export const buildAliyunImageSchema = z.object({ name: z.string().min(1), id: z.string().min(1) }).loose();

/** A container image (`kubevirt`, `base-oscontainer`): cosa's `primary-image`, a name and its digest. */
export const buildContainerImageSchema = z
  .object({ image: z.string().min(1), digest: z.string().optional() })
  .loose();

/** A build's meta.json, as far as release documents read it. */
export const buildMetaSchema = z
  .object({
    buildid: z.string().min(1),
    name: z.string().min(1),
    'ostree-commit': sha256Schema,
    'ostree-version': z.string().min(1),
    'ostree-timestamp': z.string().min(1),
    'coreos-assembler.basearch': z.string().min(1),
    images: z.record(z.string().min(1), buildImageSchema).optional(),
    amis: z.array(buildAmiSchema).optional(),
    gcp: buildGcpImageSchema.optional(),
    azure: buildAzureImageSchema.optional(),
    aliyun: z.array(buildAliyunImageSchema).optional(),
    kubevirt: buildContainerImageSchema.optional(),
    'base-oscontainer': buildContainerImageSchema.optional(),
    'fedora-coreos.parent-version': z.string().optional(),
    'fedora-coreos.parent-commit': z.string().optional(),
  })
  .loose();
/** A build's meta.json, as far as release documents read it. */
export type BuildMeta = z.infer<typeof buildMetaSchema>;
