/**
 * What the Upload runner needs from a cloud, and what the cloud modules in targets/ share. A cloud
 * looks an image up by its content digest (cheap: it is the Upload node's fingerprint) and uploads
 * it idempotently: whatever already exists in the cloud with that digest is reused, so a run that
 * was killed half-way resumes where it stopped. The helpers here give typed errors that name the
 * cloud, the call and what to set, keep secrets out of every message, bound every wait, retry
 * throttling with backoff, and write the cloud image output.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGunzip } from 'node:zlib';
import { z } from 'zod';
import type { Arch } from '../artifacts.ts';
import { FcosError } from '../errors.ts';
import type { ArtifactMetadata, RunnerOutput } from '../runner.ts';

/** The clouds images are uploaded to. */
export type CloudName = 'aws' | 'azure' | 'gce';

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

/** A cloud's upload implementation; each loads its SDK on first use. */
export interface CloudUploader<Options = Record<string, unknown>> {
  /** The cloud. */
  readonly cloud: CloudName;
  /** Finds the image (and its intermediate objects) by digest; read-only and cheap. */
  lookup(context: CloudLookupContext<Options>): Promise<CloudLookup>;
  /** Uploads and registers the image, reusing what exists; returns the cloud image. */
  upload(context: CloudUploadContext<Options>): Promise<CloudImage>;
}

/**
 * A cloud's uploader as the platform registry holds it: its options were validated by the cloud's
 * own schema when the Upload was constructed, so the typed functions receive them as parsed.
 */
export function defineUploader<Options>(
  cloud: CloudName,
  lookup: (context: CloudLookupContext<Options>) => Promise<CloudLookup>,
  upload: (context: CloudUploadContext<Options>) => Promise<CloudImage>,
): CloudUploader {
  return {
    cloud,
    lookup: (context) => lookup(context as CloudLookupContext<Options>),
    upload: (context) => upload(context as CloudUploadContext<Options>),
  };
}

/** Base of every cloud upload failure: says which cloud and which call. */
export class CloudUploadError extends FcosError {
  /** The cloud. */
  readonly cloud: CloudName;
  /** The API call (or step) that failed. */
  readonly call: string;

  constructor(cloud: CloudName, call: string, message: string, constructPath: string) {
    super(redactSecrets(`${cloud}: ${call}: ${message}`), { constructPath, field: 'options' });
    this.cloud = cloud;
    this.call = call;
  }
}

/** No credentials were found, or they were refused: the message says what to set. */
export class CloudCredentialsError extends CloudUploadError {}

/** The credentials lack a permission: the message names the call. */
export class CloudPermissionError extends CloudUploadError {}

/** A wait (import task, operation, image state) did not finish within its time limit. */
export class CloudWaitTimeoutError extends CloudUploadError {}

/** The cloud reported that an asynchronous step (import task, operation) failed. */
export class CloudTaskFailedError extends CloudUploadError {}

/** Names of environment variables whose values are secrets wherever they appear. */
const SECRET_NAME = /SECRET|TOKEN|PASSWORD|PASSWD|KEY|HEADER|CREDENTIAL|SAS|CONNECTION_STRING|SIGNATURE/i;
/** Shapes of secrets inside texts: signatures, keys and bearer tokens in headers and URLs. */
const SECRET_PATTERNS: readonly RegExp[] = [
  /(authorization["']?\s*[:=]\s*["']?)[^"',\r\n]+/gi,
  /(bearer\s+)[A-Za-z0-9._~+/=-]+/gi,
  /((?:x-amz-signature|x-amz-credential|x-amz-security-token|sig|signature|accountkey|sharedaccesssignature|access_token|refresh_token|client_secret)["']?\s*[=:]\s*["']?)[^&;"'\s]+/gi,
];

/** `text` with every secret environment value and every secret-looking token replaced by `***`. */
export function redactSecrets(text: string): string {
  let result = text;
  for (const [name, value] of Object.entries(process.env)) {
    if (value && value.length >= 8 && SECRET_NAME.test(name)) result = result.split(value).join('***');
  }
  for (const pattern of SECRET_PATTERNS) result = result.replace(pattern, '$1***');
  return result;
}

/** Where and how long a wait polls. */
export interface WaitOptions {
  /** The cloud, for errors. */
  readonly cloud: CloudName;
  /** The call polled (`DescribeImportSnapshotTasks import-snap-1`), for errors. */
  readonly call: string;
  /** Construct path, for errors. */
  readonly nodePath: string;
  /** Time between polls. */
  readonly intervalMs: number;
  /** Time limit of the whole wait. */
  readonly timeoutMs: number;
  /** Cancels the wait. */
  readonly signal: AbortSignal;
  /** What the wait is for (`the import of snapshot X`), for the timeout message. */
  readonly what: string;
}

/** Polls `check` until it returns a value; fails with {@link CloudWaitTimeoutError} past the limit. */
export async function pollUntil<T>(options: WaitOptions, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    options.signal.throwIfAborted();
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() + options.intervalMs > deadline) {
      throw new CloudWaitTimeoutError(
        options.cloud,
        options.call,
        `gave up waiting for ${options.what} after ${Math.round(options.timeoutMs / 1000)} s (options.waitTimeoutMinutes)`,
        options.nodePath,
      );
    }
    await sleep(options.intervalMs, undefined, { signal: options.signal });
  }
}

/** A signal aborted by `signal` or after `timeoutMs`, whichever comes first. */
export function withTimeout(signal: AbortSignal, timeoutMs: number): AbortSignal {
  return AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
}

/** How {@link withRetries} retries. */
export interface RetryOptions {
  /** Whether an error is worth another attempt (throttling, 5xx, connection reset). */
  readonly isTransient: (error: unknown) => boolean;
  /** Cancels the retries (and the backoff sleeps). */
  readonly signal: AbortSignal;
  /**
   * Attempts in all.
   * @default 6
   */
  readonly attempts?: number;
  /**
   * First backoff, doubled each attempt (with jitter), capped at 20 s.
   * @default 500
   */
  readonly baseDelayMs?: number;
  /** Told about each retry (for the log). */
  readonly onRetry?: (attempt: number, error: unknown) => void;
}

/** Calls `call` until it succeeds or fails with a non-transient error or the attempts run out. */
export async function withRetries<T>(call: () => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = options.attempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= attempts || options.signal.aborted || !options.isTransient(error)) throw error;
      options.onRetry?.(attempt, error);
      const backoff = Math.min((options.baseDelayMs ?? 500) * 2 ** (attempt - 1), 20_000);
      await sleep(backoff / 2 + Math.random() * (backoff / 2), undefined, { signal: options.signal });
    }
  }
}

/** Compression of a file, from its first bytes. */
export type DetectedCompression = 'none' | 'gzip' | 'xz' | 'zstd';

/** The compression of `file`, from its magic bytes. */
export async function detectCompression(file: string): Promise<DetectedCompression> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(6);
    await handle.read(head, 0, 6, 0);
    if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (head.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await handle.close();
  }
}

/**
 * The image file as the cloud takes it: `imagePath` itself, or (for a compressed PlatformImage)
 * a decompressed copy in the work directory, streamed so that memory stays flat.
 */
export async function uncompressedImage(context: CloudUploadContext<unknown>, name: string): Promise<string> {
  const compression = await detectCompression(context.imagePath);
  if (compression === 'none') return context.imagePath;
  const target = path.join(context.workDir, name);
  context.log(`decompressing the ${compression} image to upload it`);
  if (compression === 'gzip') {
    await pipeline(createReadStream(context.imagePath), createGunzip(), createWriteStream(target), {
      signal: context.signal,
    });
  } else {
    await decompressWithTool(compression === 'xz' ? 'xz' : 'zstd', context.imagePath, target, context.signal);
  }
  return target;
}

/** Runs `tool -dc input` with its standard output written to `output`; killed when `signal` aborts. */
async function decompressWithTool(tool: string, input: string, output: string, signal: AbortSignal) {
  const out = await open(output, 'w');
  try {
    const child = spawn(tool, ['-dc', '--', input], { stdio: ['ignore', out.fd, 'pipe'], signal });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr = (stderr + text).slice(-2000);
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    if (code !== 0) throw new FcosError(`${tool} -dc ${input} failed (exit code ${code}): ${stderr.trim()}`);
  } finally {
    await out.close();
  }
}

/** The file name of the cloud image output. */
export const CLOUD_IMAGE_FILE = 'cloud-image.json';

/** Writes the cloud image as `cloud-image.json` and returns it as the Upload's output. */
export async function cloudImageOutput(workDir: string, image: CloudImage): Promise<RunnerOutput> {
  const file = path.join(workDir, CLOUD_IMAGE_FILE);
  await writeFile(file, `${JSON.stringify(image, null, 2)}\n`);
  return { storage: 'file', path: file, metadata: image };
}

/** A name for the cloud objects of an image: `<prefix>-<arch>-<first 12 hex digits of digest>`. */
export function imageObjectName(prefix: string, arch: Arch, digest: string): string {
  return `${prefix}-${arch.replace('_', '-')}-${digest.slice(0, 12)}`;
}

/** A short description of an error safe to log: its name, code and redacted message. */
export function describeCloudError(error: unknown): string {
  if (!(error instanceof Error)) return redactSecrets(String(error));
  const code = (error as { code?: unknown } | null)?.code;
  const codeText = typeof code === 'string' || typeof code === 'number' ? ` ${code}` : '';
  const firstLine = error.message.split('\n')[0] ?? '';
  return redactSecrets(`${error.name}${codeText}: ${firstLine}`.slice(0, 500));
}

/**
 * The upload options every cloud has, as a zod shape to spread into its schema: the prefix of the
 * names of what it creates, how often it polls a long operation, and how long it waits at most.
 */
export function commonUploadOptionsShape(defaults: { pollIntervalSeconds: number; maxPrefixLength: number }) {
  return {
    namePrefix: z
      .string()
      .regex(
        new RegExp(`^[a-z][a-z0-9-]{0,${defaults.maxPrefixLength}}$`),
        'a name prefix is lowercase letters, digits and dashes',
      )
      .default('fedora-coreos'),
    pollIntervalSeconds: z.number().positive().max(600).default(defaults.pollIntervalSeconds),
    waitTimeoutMinutes: z
      .number()
      .positive()
      .max(24 * 60)
      .default(120),
  };
}
