/**
 * Typed errors of the local cache. Each says which blob, record or lock is at fault and what the
 * user can do about it; all extend {@link FcosError} so that the CLI prints them without a stack.
 */
import { FcosError } from '../errors.ts';

/** Base class of the errors raised on purpose by the cache. */
export class CacheError extends FcosError {}

/** A string given as a sha256 digest is not 64 lowercase hex digits. */
export class InvalidDigestError extends CacheError {
  constructor(value: string) {
    super(`'${value}' is not a sha256 digest: expected 64 lowercase hex digits without a prefix`);
  }
}

/** A string given as an action key is not 64 lowercase hex digits. */
export class InvalidActionKeyError extends CacheError {
  constructor(value: string) {
    super(`'${value}' is not an action key: expected 64 lowercase hex digits (a sha256 of the key material)`);
  }
}

/** A blob the caller expected is not in the store (never stored, evicted, or removed by gc). */
export class BlobNotFoundError extends CacheError {
  /** Digest of the missing blob. */
  readonly digest: string;

  constructor(digest: string) {
    super(`blob ${digest} is not in the cache; it was evicted or never stored, so the action must be re-run`);
    this.digest = digest;
  }
}

/**
 * A blob's content does not match its digest (bit rot, an edit in place, a bad restore); it has
 * been evicted, so whatever produced it must be run again.
 */
export class CorruptBlobError extends CacheError {
  /** Digest the blob was stored under. */
  readonly digest: string;
  /** Path of the file in its tree, when the blob is a file of a tree. */
  readonly treePath: string | undefined;

  constructor(digest: string, treePath?: string) {
    super(
      `${treePath === undefined ? `blob ${digest}` : `the file '${treePath}' (blob ${digest})`} does not match its digest; it was evicted from the cache, so the action that produced it must be re-run`,
    );
    this.digest = digest;
    this.treePath = treePath;
  }
}

/** A path given to `putFile` or found by `putTree` is not something the store can hold. */
export class UnsupportedFileError extends CacheError {
  constructor(filePath: string, what: string) {
    super(
      `cannot store '${filePath}': it is ${what}; only regular files, directories and symlinks can be cached`,
    );
  }
}

/** A tree manifest blob does not parse, or lists a path that would escape the tree. */
export class CorruptTreeError extends CacheError {
  constructor(digest: string, reason: string) {
    super(
      `tree manifest ${digest} is corrupt (${reason}); run 'fcos-run cache verify' and re-run the action`,
    );
  }
}

/** An action record given to `ActionCache.put` does not match the record schema. */
export class InvalidActionRecordError extends CacheError {
  constructor(key: string, reason: string) {
    super(`action record ${key} is invalid: ${reason}`);
  }
}

/** A lock name is not usable as a file name. */
export class InvalidLockNameError extends CacheError {
  constructor(name: string) {
    super(
      `'${name}' is not a valid lock name: use letters, digits, dot, dash and underscore, starting with a letter or digit`,
    );
  }
}

/** Bytes offered as blob `expected` (a remote cache's download) hash to something else; they were refused. */
export class BlobDigestMismatchError extends CacheError {
  /** The digest the bytes were offered as. */
  readonly expected: string;
  /** What they hash to. */
  readonly actual: string;

  constructor(expected: string, actual: string) {
    super(`the bytes offered as blob ${expected} hash to ${actual}; they were refused`);
    this.expected = expected;
    this.actual = actual;
  }
}
