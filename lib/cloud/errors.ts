/**
 * Typed errors of cloud uploads: each names the cloud and the call (or step) that failed, says what
 * to set or grant, and is redacted of secrets. The Upload runner and every uploader throw these.
 */
import { FcosError } from '../errors.ts';
import { redactSecrets } from './redact.ts';

/** Base of every cloud upload failure: says which cloud and which call. */
export class CloudUploadError extends FcosError {
  /** The cloud (the platform's name: `aws`, `azure`, `gce` ...). */
  readonly cloud: string;
  /** The API call (or step) that failed. */
  readonly call: string;

  constructor(cloud: string, call: string, message: string, constructPath: string) {
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

/** A short description of an error safe to log: its name, code and redacted message. */
export function describeCloudError(error: unknown): string {
  if (!(error instanceof Error)) return redactSecrets(String(error));
  const code = (error as { code?: unknown } | null)?.code;
  const codeText = typeof code === 'string' || typeof code === 'number' ? ` ${code}` : '';
  const firstLine = error.message.split('\n')[0] ?? '';
  return redactSecrets(`${error.name}${codeText}: ${firstLine}`.slice(0, 500));
}
