/**
 * AWS sessions: the SDK loaded on first use, EC2 clients per region and the S3 client with the
 * credentials of the SDK's default chain, and every call turned into a typed error that names the
 * call and what to set or allow. Shared by the lookup and the upload steps.
 */
import type { EC2Client, Tag } from '@aws-sdk/client-ec2';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Arch } from '../../lib/artifacts.ts';
import { imageObjectName } from '../../lib/cloud/common-options.ts';
import {
  CloudCredentialsError,
  CloudPermissionError,
  CloudUploadError,
  describeCloudError,
} from '../../lib/cloud/errors.ts';
import type { WaitOptions } from '../../lib/cloud/polling.ts';
import type { CloudLookupContext } from '../../lib/cloud/uploader.ts';
import type { AwsOptions } from './index.ts';

/** Tag holding the image's content digest on the staged object's metadata, snapshots, tasks and AMIs. */
export const AWS_DIGEST_TAG = 'fcos-cdk:digest';
/** Attempts of each API call (the SDK's standard retry mode: throttling and 5xx, with backoff). */
export const CALL_ATTEMPTS = 8;
/** Attempts of each lookup call: the lookup is the fingerprint, and must stay cheap. */
export const LOOKUP_ATTEMPTS = 2;

/** The AWS SDK modules, loaded on first use (synthesis and cache hits never load them). */
export async function loadAwsSdk() {
  const [ec2, s3, storage] = await Promise.all([
    import('@aws-sdk/client-ec2'),
    import('@aws-sdk/client-s3'),
    import('@aws-sdk/lib-storage'),
  ]);
  return { ec2, s3, storage };
}

/** The loaded SDK modules. */
export type AwsSdk = Awaited<ReturnType<typeof loadAwsSdk>>;

/** Everything one AWS upload or lookup works with. */
export interface AwsSession {
  readonly sdk: AwsSdk;
  readonly options: AwsOptions;
  readonly nodePath: string;
  readonly digest: string;
  readonly arch: Arch;
  readonly name: string;
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
  /** EC2 clients by region (created on first use). */
  readonly ec2Clients: Map<string, EC2Client>;
  /** The S3 client (created on first use). */
  s3Client?: S3Client;
  readonly attempts: number;
}

/** Opens a session: loads the SDK; clients come with the credentials of the SDK's default chain. */
export async function openSession(
  context: CloudLookupContext<AwsOptions>,
  log: (line: string) => void,
  attempts: number,
): Promise<AwsSession> {
  return {
    sdk: await loadAwsSdk(),
    options: context.options,
    nodePath: context.nodePath,
    digest: context.digest,
    arch: context.arch,
    name: imageObjectName(context.options.namePrefix, context.arch, context.digest),
    signal: context.signal,
    log,
    ec2Clients: new Map(),
    attempts,
  };
}

/** The EC2 client of `region` (endpoint override applies to every region). */
export function ec2Of(session: AwsSession, region: string): EC2Client {
  let client = session.ec2Clients.get(region);
  if (!client) {
    client = new session.sdk.ec2.EC2Client({
      region,
      maxAttempts: session.attempts,
      retryMode: 'standard',
      ...(session.options.endpoint ? { endpoint: session.options.endpoint } : {}),
    });
    session.ec2Clients.set(region, client);
  }
  return client;
}

/** The S3 client of the main region (path-style when an endpoint is overridden). */
export function s3Of(session: AwsSession): S3Client {
  const endpoint = session.options.s3Endpoint ?? session.options.endpoint;
  session.s3Client ??= new session.sdk.s3.S3Client({
    region: session.options.region,
    maxAttempts: session.attempts,
    retryMode: 'standard',
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
  });
  return session.s3Client;
}

/** Runs one AWS call, turning its failure into a typed error that names the call and what to set. */
export async function awsCall<T>(
  session: AwsSession,
  call: string,
  region: string,
  send: () => Promise<T>,
): Promise<T> {
  try {
    return await send();
  } catch (error) {
    if (session.signal.aborted) throw session.signal.reason;
    throw awsError(session.nodePath, `${call} (${region})`, error);
  }
}

/** Error codes meaning the credentials are missing, wrong or expired. */
const CREDENTIAL_CODES = new Set([
  'AuthFailure',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestExpired',
  'UnrecognizedClientException',
]);
/** Error codes meaning the caller lacks a permission. */
const PERMISSION_CODES = new Set([
  'UnauthorizedOperation',
  'AccessDenied',
  'AccessDeniedException',
  'Forbidden',
]);

/** The typed error of a failed AWS call: credentials, permission, or the service's own error. */
export function awsError(nodePath: string, call: string, error: unknown): CloudUploadError {
  const name = error instanceof Error ? error.name : 'Error';
  const code = (error as { Code?: string } | null)?.Code ?? name;
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(String(error))) {
    return new CloudCredentialsError(
      'aws',
      call,
      'no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE ' +
        '(a profile of ~/.aws/config), or AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (web identity)',
      nodePath,
    );
  }
  if (CREDENTIAL_CODES.has(code)) {
    return new CloudCredentialsError(
      'aws',
      call,
      `the AWS credentials were refused (${code}): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, and that a session token has not expired`,
      nodePath,
    );
  }
  if (PERMISSION_CODES.has(code) || status === 403) {
    const action = call.split(' ')[0]!;
    const service = /Object|Multipart|Part/.test(action) ? 's3' : 'ec2';
    return new CloudPermissionError(
      'aws',
      call,
      `permission denied (${code}): allow ${service}:${action} to the caller's IAM identity`,
      nodePath,
    );
  }
  return new CloudUploadError('aws', call, describeCloudError(error), nodePath);
}

/** The tags of every object of this image. */
export function imageTags(session: AwsSession): Tag[] {
  return [
    ...Object.entries(session.options.tags).map(([Key, Value]) => ({ Key, Value })),
    { Key: 'Name', Value: session.name },
    { Key: AWS_DIGEST_TAG, Value: session.digest },
  ];
}

/** The filter selecting objects tagged with this image's digest. */
export function digestFilter(session: AwsSession) {
  return { Name: `tag:${AWS_DIGEST_TAG}`, Values: [session.digest] };
}

/** Poll options of the session's waits. */
export function waitOptions(session: AwsSession, call: string, what: string): WaitOptions {
  return {
    cloud: 'aws' as const,
    call,
    what,
    nodePath: session.nodePath,
    intervalMs: session.options.pollIntervalSeconds * 1000,
    timeoutMs: session.options.waitTimeoutMinutes * 60_000,
    signal: session.signal,
  };
}
