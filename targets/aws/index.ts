/**
 * AWS: a streamOptimized vmdk (lsilogic), uploaded to S3, imported as an EBS snapshot and
 * registered as an AMI. This file is the platform's data (loaded at synthesis: zod only); the
 * uploader and the AWS SDK are in uploader.ts and its helpers, loaded by the Upload runner.
 */
import { z } from 'zod';
import { commonUploadOptionsShape } from '../../lib/cloud/common-options.ts';
import { definePlatform } from '../../lib/platform.ts';

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
   * Endpoint override for EC2 (every region) and S3 (tests, private endpoints).
   * @default the SDK's regional endpoints
   */
  readonly endpoint?: string;
  /**
   * Endpoint override for S3 alone (an S3-compatible store; path-style addressing is used).
   * @default `endpoint`
   */
  readonly s3Endpoint?: string;
  /**
   * First part of the AMI, snapshot and object names (`<prefix>-<arch>-<digest 12>`).
   * @default 'fedora-coreos'
   */
  readonly namePrefix?: string;
  /**
   * Seconds between two polls of an import task or an AMI's state.
   * @default 15
   */
  readonly pollIntervalSeconds?: number;
  /**
   * Time limit of each wait (import task, AMI available, copy), in minutes.
   * @default 120
   */
  readonly waitTimeoutMinutes?: number;
}

/** Validates and defaults the options of an Upload to AWS. */
export const awsUploadOptionsSchema = z
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
    s3Endpoint: z.url().optional(),
    ...commonUploadOptionsShape({ pollIntervalSeconds: 15, maxPrefixLength: 60 }),
  })
  .strict();

/** Parsed options of an Upload to AWS. */
export type AwsOptions = z.output<typeof awsUploadOptionsSchema>;

declare module '../../lib/platform.ts' {
  /** Upload's `options` for an aws image. */
  interface UploadOptionsByPlatform {
    /** Options of an Upload to AWS. */
    aws: AwsUploadOptions;
  }
}

/** The aws platform. */
export const aws = definePlatform<AwsUploadOptions, AwsOptions>({
  name: 'aws',
  format: 'vmdk',
  extension: 'vmdk',
  arches: ['x86_64', 'aarch64'],
  sectorSizes: [512],
  compressions: ['none', 'gzip', 'xz', 'zstd'],
  defaultCompression: 'none',
  upload: {
    options: awsUploadOptionsSchema,
    // -c aws.bucket=NAME (required), -c aws.region=REGION (default us-east-1).
    optionsFromContext: (context) => ({
      region: context.optional('aws.region') ?? 'us-east-1',
      bucket: context.required('aws.bucket'),
    }),
    uploader: new URL('./uploader.ts', import.meta.url),
  },
});
