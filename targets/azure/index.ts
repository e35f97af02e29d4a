/**
 * Azure: a fixed VHD (size 1 MiB-aligned), uploaded as a page blob and turned into a managed image
 * or a gallery image version. This file is the platform's data (loaded at synthesis: zod only);
 * the uploader and the Azure SDK are in uploader.ts and its helpers, loaded by the Upload runner.
 */
import { z } from 'zod';
import { commonUploadOptionsShape } from '../../lib/cloud/common-options.ts';
import { definePlatform } from '../../lib/platform.ts';

/** Options of an Upload to Azure. */
export interface AzureUploadOptions {
  /** Subscription holding the resource group. */
  readonly subscriptionId: string;
  /** Resource group of the image. */
  readonly resourceGroup: string;
  /** Region of the image. */
  readonly location: string;
  /** Storage account the VHD is uploaded to. */
  readonly storageAccount: string;
  /** Blob container. */
  readonly container: string;
  /**
   * Publish into this Shared Image Gallery instead of creating a managed image.
   * @default undefined (managed image)
   */
  readonly gallery?: {
    readonly name: string;
    readonly imageDefinition: string;
    /**
     * Version of the image in the gallery (`MAJOR.MINOR.PATCH`).
     * @default `1.<first 24 bits of the digest>.<next 24 bits>` (one version per image content)
     */
    readonly version?: string;
  };
  /**
   * Resource group of the storage account (a gallery version names the account by resource id).
   * @default `resourceGroup`
   */
  readonly storageResourceGroup?: string;
  /**
   * First part of the blob and image names (`<prefix>-<arch>-<digest 12>`).
   * @default 'fedora-coreos'
   */
  readonly namePrefix?: string;
  /**
   * Seconds between two polls of a long-running Resource Manager operation.
   * @default 5
   */
  readonly pollIntervalSeconds?: number;
  /**
   * Time limit of each wait for a Resource Manager operation, in minutes.
   * @default 120
   */
  readonly waitTimeoutMinutes?: number;
  /**
   * Blob endpoint override (tests: azurite).
   * @default https://<storageAccount>.blob.core.windows.net
   */
  readonly blobEndpoint?: string;
  /**
   * Resource Manager endpoint override.
   * @default https://management.azure.com
   */
  readonly managementEndpoint?: string;
}

/** Validates and defaults the options of an Upload to Azure. */
export const azureUploadOptionsSchema = z
  .object({
    subscriptionId: z.string().min(1),
    resourceGroup: z.string().min(1),
    location: z.string().min(1),
    storageAccount: z
      .string()
      .regex(/^[a-z0-9]{3,24}$/, 'a storage account name is 3-24 lowercase letters and digits'),
    container: z.string().min(3),
    gallery: z
      .object({
        name: z.string().min(1),
        imageDefinition: z.string().min(1),
        version: z
          .string()
          .regex(/^\d+\.\d+\.\d+$/, 'a gallery image version is MAJOR.MINOR.PATCH')
          .optional(),
      })
      .strict()
      .optional(),
    storageResourceGroup: z.string().min(1).optional(),
    blobEndpoint: z.url().optional(),
    managementEndpoint: z.url().optional(),
    ...commonUploadOptionsShape({ pollIntervalSeconds: 5, maxPrefixLength: 60 }),
  })
  .strict();

/** Parsed options of an Upload to Azure. */
export type AzureOptions = z.output<typeof azureUploadOptionsSchema>;

declare module '../../lib/platform.ts' {
  /** Upload's `options` for an azure image. */
  interface UploadOptionsByPlatform {
    /** Options of an Upload to Azure. */
    azure: AzureUploadOptions;
  }
}

/** The azure platform. */
export const azure = definePlatform<AzureUploadOptions, AzureOptions>({
  name: 'azure',
  format: 'vhd',
  extension: 'vhd',
  arches: ['x86_64', 'aarch64'],
  sectorSizes: [512],
  compressions: ['none', 'gzip', 'xz', 'zstd'],
  defaultCompression: 'none',
  upload: {
    options: azureUploadOptionsSchema,
    // -c azure.subscription, azure.resourceGroup, azure.storageAccount (required),
    // azure.location (default eastus), azure.container (default images).
    optionsFromContext: (context) => ({
      subscriptionId: context.required('azure.subscription'),
      resourceGroup: context.required('azure.resourceGroup'),
      location: context.optional('azure.location') ?? 'eastus',
      storageAccount: context.required('azure.storageAccount'),
      container: context.optional('azure.container') ?? 'images',
    }),
    uploader: new URL('./uploader.ts', import.meta.url),
  },
});
