/**
 * Where a release is published: a directory or an S3 bucket, holding the same keys
 * (`prod/streams/<stream>/...`, `streams/<stream>.json`, see `publishedPaths`). Every write is
 * whole or absent (a directory renames a finished temporary file, S3 stores an object only once
 * its upload completes), and every stored object's sha256 can be read back cheaply, so a
 * publisher skips what is already there and a publish killed midway leaves no half object.
 */

/** What the destination holds under one key. */
export interface StoredObject {
  /** sha256 of its content (lowercase hex); undefined when the store does not know it (an object written by someone else). */
  readonly sha256: string | undefined;
  /** Size in bytes. */
  readonly size: number;
}

/** What a write sends: bytes in memory, or a local file. */
export type ObjectContent =
  | { readonly bytes: Uint8Array | string }
  | { readonly file: string; readonly size: number };

/** A publish destination: objects by key, written atomically, with their digests. */
export interface PublishDestination {
  /** The destination as messages name it: a directory path or `s3://bucket/prefix`. */
  readonly description: string;
  /** The digest and size of `key`, or undefined when it is absent. */
  stat(key: string): Promise<StoredObject | undefined>;
  /** The content of `key` (small documents only), or undefined when it is absent. */
  read(key: string): Promise<Buffer | undefined>;
  /** Copies `key` to the local `file`; false when it is absent. */
  download(key: string, file: string): Promise<boolean>;
  /** Stores `content` under `key`, whole or not at all; `sha256` is recorded with it. */
  write(key: string, content: ObjectContent, sha256: string): Promise<void>;
  /** Every key below `prefix` (which ends with `/`). */
  list(prefix: string): Promise<Set<string>>;
  /**
   * The local directory behind `key` when the destination is a local directory (tools such as
   * ostree then work in it directly); undefined for a remote store.
   */
  localPath(key: string): string | undefined;
}

/** The byte count of `content`. */
export function contentSize(content: ObjectContent): number {
  if ('file' in content) return content.size;
  return typeof content.bytes === 'string' ? Buffer.byteLength(content.bytes) : content.bytes.byteLength;
}
