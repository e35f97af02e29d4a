/**
 * GCE: `disk.raw` in an oldgnu sparse tarball, gzip-compressed, uploaded to Cloud Storage and
 * created as an image. This file is the platform's data (loaded at synthesis: zod only); the
 * uploader and the Google Cloud SDK are in uploader.ts and its helpers, loaded by the Upload runner.
 */
import { z } from 'zod';
import { commonUploadOptionsShape } from '../../lib/cloud/common-options.ts';
import { definePlatform } from '../../lib/platform.ts';

export interface GceUploadOptions {
  /** Project the image is created in. */
  readonly project: string;
  /** Cloud Storage bucket the tarball is uploaded to. */
  readonly bucket: string;
  /**
   * Image family.
   * @default undefined (no family)
   */
  readonly family?: string;
  /**
   * Grant `allAuthenticatedUsers` the image user role.
   * @default false
   */
  readonly public?: boolean;
  /**
   * Endpoint override for Cloud Storage and Compute (tests).
   * @default Google's endpoints
   */
  readonly endpoint?: string;
  /**
   * Keep the tarball in Cloud Storage after the image is created.
   * @default false
   */
  readonly keepObject?: boolean;
  /**
   * First part of the image and object names (`<prefix>-<arch>-<digest 12>`).
   * @default 'fedora-coreos'
   */
  readonly namePrefix?: string;
  /**
   * Seconds between two polls of a global operation.
   * @default 5
   */
  readonly pollIntervalSeconds?: number;
  /**
   * Time limit of each wait for a global operation, in minutes.
   * @default 120
   */
  readonly waitTimeoutMinutes?: number;
}

/** Validates and defaults the options of an Upload to GCE. */
export const gceUploadOptionsSchema = z
  .object({
    project: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/,
        'a GCP project id is 6-30 lowercase letters, digits and dashes',
      ),
    bucket: z.string().min(3),
    family: z
      .string()
      .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'an image family is lowercase letters, digits and dashes')
      .optional(),
    public: z.boolean().default(false),
    endpoint: z.url().optional(),
    keepObject: z.boolean().default(false),
    ...commonUploadOptionsShape({ pollIntervalSeconds: 5, maxPrefixLength: 40 }),
  })
  .strict();

/** Parsed options of an Upload to GCE. */
export type GceOptions = z.output<typeof gceUploadOptionsSchema>;

declare module '../../lib/platform.ts' {
  /** Upload's `options` for a gce image. */
  interface UploadOptionsByPlatform {
    /** Options of an Upload to GCE. */
    gce: GceUploadOptions;
  }
}

/** The gce platform. */
export const gce = definePlatform<GceUploadOptions, GceOptions>({
  name: 'gce',
  format: 'gce-tar',
  extension: 'tar.gz',
  arches: ['x86_64', 'aarch64'],
  sectorSizes: [512],
  compressions: ['none'],
  defaultCompression: 'none',
  ignitionPlatformId: 'gcp',
  upload: {
    options: gceUploadOptionsSchema,
    // -c gcp.project, gcp.bucket (required); the image family is the stream's (and arch's).
    optionsFromContext: (context, stream, arch) => ({
      project: context.required('gcp.project'),
      bucket: context.required('gcp.bucket'),
      family: `fedora-coreos-${stream}${arch === 'x86_64' ? '' : `-${arch.replace('_', '-')}`}`,
    }),
    uploader: new URL('./uploader.ts', import.meta.url),
  },
});
