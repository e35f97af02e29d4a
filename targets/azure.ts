/**
 * Azure: a fixed VHD (size 1 MiB-aligned), uploaded as a page blob and turned into a managed
 * image or a gallery image version.
 */
import { z } from 'zod';
import type { PlatformTarget } from '../lib/platform.ts';

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
  readonly gallery?: { readonly name: string; readonly imageDefinition: string };
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

const azureUploadOptionsSchema = z
  .object({
    subscriptionId: z.string().min(1),
    resourceGroup: z.string().min(1),
    location: z.string().min(1),
    storageAccount: z
      .string()
      .regex(/^[a-z0-9]{3,24}$/, 'a storage account name is 3-24 lowercase letters and digits'),
    container: z.string().min(3),
    gallery: z
      .object({ name: z.string().min(1), imageDefinition: z.string().min(1) })
      .strict()
      .optional(),
    blobEndpoint: z.url().optional(),
    managementEndpoint: z.url().optional(),
  })
  .strict();

/** The azure platform. */
export const azure: PlatformTarget = {
  name: 'azure',
  format: 'vhd',
  extension: 'vhd',
  arches: ['x86_64', 'aarch64'],
  sectorSizes: [512],
  compressions: ['none', 'gzip', 'xz', 'zstd'],
  defaultCompression: 'none',
  uploadOptions: azureUploadOptionsSchema,
};
