/**
 * AWS: a streamOptimized vmdk (lsilogic), uploaded to S3, imported as an EBS snapshot and
 * registered as an AMI.
 */
import { z } from 'zod';
import type { PlatformTarget } from '../lib/platform.ts';

/** Options of an Upload to AWS. */
export interface AwsUploadOptions {
  /** Region the image is imported into. */
  readonly region: string;
  /** S3 bucket the vmdk is staged in. */
  readonly bucket: string;
  /**
   * Key prefix of the staged object.
   * @default ''
   */
  readonly prefix?: string;
  /**
   * IAM role the VM Import service assumes.
   * @default 'vmimport'
   */
  readonly roleName?: string;
  /**
   * Further regions the AMI is copied to.
   * @default []
   */
  readonly copyToRegions?: readonly string[];
  /**
   * Make the AMI public.
   * @default false
   */
  readonly public?: boolean;
  /**
   * Accounts granted launch permission.
   * @default []
   */
  readonly launchPermissionAccounts?: readonly string[];
  /**
   * Register with `ImdsSupport=v2.0` (IMDSv2 only).
   * @default false
   */
  readonly imdsV2Only?: boolean;
  /**
   * Keep the staged S3 object after the import.
   * @default false
   */
  readonly keepObject?: boolean;
  /**
   * Extra tags on the snapshot and AMI.
   * @default {}
   */
  readonly tags?: Readonly<Record<string, string>>;
  /**
   * Endpoint override for S3 and EC2 (tests, S3-compatible stores).
   * @default the SDK's regional endpoint
   */
  readonly endpoint?: string;
}

const awsUploadOptionsSchema = z
  .object({
    region: z.string().min(1),
    bucket: z.string().min(3),
    prefix: z.string().default(''),
    roleName: z.string().min(1).default('vmimport'),
    copyToRegions: z.array(z.string().min(1)).default([]),
    public: z.boolean().default(false),
    launchPermissionAccounts: z
      .array(z.string().regex(/^\d{12}$/, 'an AWS account id is 12 digits'))
      .default([]),
    imdsV2Only: z.boolean().default(false),
    keepObject: z.boolean().default(false),
    tags: z.record(z.string(), z.string()).default({}),
    endpoint: z.url().optional(),
  })
  .strict();

/** The aws platform. */
export const aws: PlatformTarget = {
  name: 'aws',
  format: 'vmdk',
  extension: 'vmdk',
  arches: ['x86_64', 'aarch64'],
  sectorSizes: [512],
  compressions: ['none', 'gzip', 'xz', 'zstd'],
  defaultCompression: 'none',
  uploadOptions: awsUploadOptionsSchema,
};
