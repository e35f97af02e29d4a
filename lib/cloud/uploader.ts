/**
 * The uploader contract: what a cloud's `uploader.ts` exports (`export default defineUploader(
 * platform, { lookup, upload })`) and what the Upload runner calls. A cloud looks an image up by its
 * content digest (cheap: it is the Upload node's fingerprint) and uploads it idempotently: whatever
 * already exists in the cloud with that digest is reused, so a run killed half-way resumes.
 */
import type { Arch } from '../artifacts.ts';
import { FcosError } from '../errors.ts';
import type { ToolExec } from '../exec.ts';
import type { Platform } from '../platform.ts';
import type { ArtifactMetadata } from '../runner.ts';

/** What a lookup by digest is given. */
export interface CloudLookupContext<Options> {
  /** Construct path of the Upload node (for errors). */
  readonly nodePath: string;
  /** The platform's upload options, parsed (defaults applied). */
  readonly options: Options;
  /** sha256 of the platform image file: the tag or label every cloud object carries. */
  readonly digest: string;
  /** Architecture of the image. */
  readonly arch: Arch;
  /** Cancels the lookup. */
  readonly signal: AbortSignal;
}

/** What an upload is given. */
export interface CloudUploadContext<Options> extends CloudLookupContext<Options> {
  /** The platform image file: read-only (a cache blob). */
  readonly imagePath: string;
  /** An empty scratch directory (for a decompressed image). */
  readonly workDir: string;
  /** Appends a line to the node's log; lines must not carry secrets. */
  readonly log: (line: string) => void;
  /** Runs a tool (argument array, no shell), logged and cancelled with the node (decompression). */
  readonly exec: ToolExec;
}

/**
 * An image registered in a cloud, as the output's metadata: the fields cosa's meta.json uses
 * (`amis`, `gcp`, `azure`) and the platform, arch and source digest.
 */
export type CloudImage = ArtifactMetadata;

/** What a lookup by digest found. */
export type CloudLookup =
  /** Everything an upload would create exists: the image as the upload would report it. */
  | { readonly state: 'complete'; readonly image: CloudImage }
  /** Some of it exists (staged object, snapshot, image in some regions): an upload resumes. */
  | { readonly state: 'partial'; readonly found: string }
  /** Nothing with this digest exists. */
  | { readonly state: 'absent' };

/** What {@link defineUploader} takes besides the platform: the cloud's two operations. */
export interface UploaderDefinition<Parsed> {
  /** Finds the image (and its intermediate objects) by digest; read-only and cheap. */
  lookup(context: CloudLookupContext<Parsed>): Promise<CloudLookup>;
  /** Uploads and registers the image, reusing what exists; returns the cloud image. */
  upload(context: CloudUploadContext<Parsed>): Promise<CloudImage>;
}

/** A cloud's uploader as an uploader module exports it (its options type erased). */
export interface CloudUploader {
  /** The cloud: the name of the platform it uploads. */
  readonly cloud: string;
  /** Validates and defaults upload options with the platform's schema (throws a zod error). */
  parseOptions(options: unknown): unknown;
  /** Finds the image by digest; `options` must come from {@link CloudUploader.parseOptions}. */
  lookup(context: CloudLookupContext<unknown>): Promise<CloudLookup>;
  /** Uploads the image; `options` must come from {@link CloudUploader.parseOptions}. */
  upload(context: CloudUploadContext<unknown>): Promise<CloudImage>;
}

const UPLOADER_MARK = Symbol.for('fcos-cdk.uploader');

/** The uploader of a cloud `platform`: an uploader module's `export default`. */
export function defineUploader<Options, Parsed>(
  platform: Platform<Options, Parsed>,
  definition: UploaderDefinition<Parsed>,
): CloudUploader {
  const schema = platform.upload?.options;
  if (!schema) {
    throw new FcosError(`platform ${platform.name} has no upload definition: an uploader needs one`, {
      field: 'upload',
    });
  }
  // The typed functions get options parsed by the platform's own schema (parseOptions), as the
  // Upload runner always does before calling them.
  const uploader: CloudUploader = {
    cloud: platform.name,
    parseOptions: (options) => schema.parse(options),
    lookup: (context) => definition.lookup(context as CloudLookupContext<Parsed>),
    upload: (context) => definition.upload(context as CloudUploadContext<Parsed>),
  };
  Object.defineProperty(uploader, UPLOADER_MARK, { value: true });
  return Object.freeze(uploader);
}

/** Whether `value` was made by {@link defineUploader} (works across duplicate copies of this module). */
export function isUploader(value: unknown): value is CloudUploader {
  return typeof value === 'object' && value !== null && UPLOADER_MARK in value;
}
