/**
 * GCE: `disk.raw` in an oldgnu sparse tarball, gzip-compressed, uploaded to Cloud Storage and
 * created as an image.
 */
import { z } from 'zod';
import type { PlatformTarget } from '../lib/platform.ts';

/** Options of an Upload to GCE. */
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
}

const gceUploadOptionsSchema = z
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
  })
  .strict();

/** The gce platform. */
export const gce: PlatformTarget = {
  name: 'gce',
  format: 'gce-tar',
  extension: 'tar.gz',
  arches: ['x86_64', 'aarch64'],
  sectorSizes: [512],
  compressions: ['none'],
  defaultCompression: 'none',
  uploadOptions: gceUploadOptionsSchema,
};
