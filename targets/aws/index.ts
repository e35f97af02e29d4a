/**
 * AWS: a streamOptimized vmdk (lsilogic), uploaded to S3, imported as an EBS snapshot and
 * registered as an AMI. The uploader (below the data) tags every object it creates with the
 * image's digest, so that a run finds and reuses what an earlier one made.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { EC2Client, Image, Snapshot, Tag } from '@aws-sdk/client-ec2';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { Arch } from '../../lib/artifacts.ts';
import {
  CloudCredentialsError,
  type CloudImage,
  type CloudLookup,
  type CloudLookupContext,
  CloudPermissionError,
  CloudTaskFailedError,
  type CloudUploadContext,
  CloudUploadError,
  commonUploadOptionsShape,
  defineUploader,
  describeCloudError,
  imageObjectName,
  pollUntil,
  uncompressedImage,
} from '../../lib/cloud/upload.ts';
import { toStreamOptimizedVmdk } from '../../lib/disk/formats/conversions.ts';
import type { PlatformTarget } from '../../lib/platform.ts';

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
    s3Endpoint: z.url().optional(),
    ...commonUploadOptionsShape({ pollIntervalSeconds: 15, maxPrefixLength: 60 }),
  })
  .strict();

/** Parsed options of an Upload to AWS. */
type AwsOptions = z.output<typeof awsUploadOptionsSchema>;

/** The aws platform. */
export const aws: PlatformTarget = {
  name: 'aws',
  format: 'vmdk',
  extension: 'vmdk',
  arches: ['x86_64', 'aarch64'],
  sectorSizes: [512],
  compressions: ['none', 'gzip', 'xz', 'zstd'],
  defaultCompression: 'none',
  convert: toStreamOptimizedVmdk,
  uploadOptions: awsUploadOptionsSchema,
  uploader: defineUploader<AwsOptions>('aws', lookupAws, uploadAws),
};

// ---------------------------------------------------------------------------------------------
// The uploader: S3 (multipart, streamed) -> ImportSnapshot -> RegisterImage -> copies, permissions.
// ---------------------------------------------------------------------------------------------

/** Tag holding the image's content digest on the staged object's metadata, snapshots, tasks and AMIs. */
export const AWS_DIGEST_TAG = 'fcos-cdk:digest';
/** S3 object metadata key holding the digest. */
const OBJECT_DIGEST_METADATA = 'fcos-digest';
/** Attempts of each API call (the SDK's standard retry mode: throttling and 5xx, with backoff). */
const CALL_ATTEMPTS = 8;
/** Attempts of each lookup call: the lookup is the fingerprint, and must stay cheap. */
const LOOKUP_ATTEMPTS = 2;
/** Parts in flight during the S3 upload (memory is about this many parts). */
const UPLOAD_QUEUE_SIZE = 4;
/** Smallest S3 part; larger images get larger parts to stay within 10,000 parts. */
const MIN_PART_BYTES = 8 * 1024 * 1024;

/** The AWS SDK modules, loaded on first use (synthesis and cache hits never load them). */
async function loadAwsSdk() {
  const [ec2, s3, storage] = await Promise.all([
    import('@aws-sdk/client-ec2'),
    import('@aws-sdk/client-s3'),
    import('@aws-sdk/lib-storage'),
  ]);
  return { ec2, s3, storage };
}

/** The loaded SDK modules. */
type AwsSdk = Awaited<ReturnType<typeof loadAwsSdk>>;

/** Everything one AWS upload or lookup works with. */
interface AwsSession {
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
async function openSession(
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
function ec2Of(session: AwsSession, region: string): EC2Client {
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
function s3Of(session: AwsSession): S3Client {
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
async function awsCall<T>(
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
function awsError(nodePath: string, call: string, error: unknown): CloudUploadError {
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
function imageTags(session: AwsSession): Tag[] {
  return [
    ...Object.entries(session.options.tags).map(([Key, Value]) => ({ Key, Value })),
    { Key: 'Name', Value: session.name },
    { Key: AWS_DIGEST_TAG, Value: session.digest },
  ];
}

/** The filter selecting objects tagged with this image's digest. */
function digestFilter(session: AwsSession) {
  return { Name: `tag:${AWS_DIGEST_TAG}`, Values: [session.digest] };
}

/** States of an AMI that will never become available. */
const DEAD_IMAGE_STATES = new Set(['deregistered', 'failed', 'error', 'invalid', 'disabled']);

/** The AMI tagged with this digest in `region`, if any (pending or available). */
async function findImage(session: AwsSession, region: string): Promise<Image | undefined> {
  const { DescribeImagesCommand } = session.sdk.ec2;
  const result = await awsCall(session, 'DescribeImages', region, () =>
    ec2Of(session, region).send(
      new DescribeImagesCommand({ Owners: ['self'], Filters: [digestFilter(session)] }),
      { abortSignal: session.signal },
    ),
  );
  return (result.Images ?? []).find((image) => !DEAD_IMAGE_STATES.has(image.State ?? ''));
}

/** The completed snapshot tagged with this digest in the main region, if any. */
async function findSnapshot(session: AwsSession): Promise<Snapshot | undefined> {
  const { DescribeSnapshotsCommand } = session.sdk.ec2;
  const region = session.options.region;
  const result = await awsCall(session, 'DescribeSnapshots', region, () =>
    ec2Of(session, region).send(
      new DescribeSnapshotsCommand({
        OwnerIds: ['self'],
        Filters: [digestFilter(session), { Name: 'status', Values: ['completed'] }],
      }),
      { abortSignal: session.signal },
    ),
  );
  return result.Snapshots?.[0];
}

/** The root snapshot of an AMI. */
function snapshotOf(image: Image): string {
  return image.BlockDeviceMappings?.find((mapping) => mapping.Ebs?.SnapshotId)?.Ebs?.SnapshotId ?? '';
}

/** The cloud image as cosa's meta.json has it, from the AMI of each region. */
function awsCloudImage(
  session: AwsSession,
  images: ReadonlyArray<{ region: string; image: Image }>,
): CloudImage {
  return {
    platform: 'aws',
    arch: session.arch,
    sourceDigest: session.digest,
    name: session.name,
    amis: images.map(({ region, image }) => ({
      name: region,
      hvm: image.ImageId ?? '',
      snapshot: snapshotOf(image),
    })),
  };
}

/** Looks the AMIs (then the snapshot) up by digest in every region: the Upload's fingerprint. */
async function lookupAws(context: CloudLookupContext<AwsOptions>): Promise<CloudLookup> {
  const session = await openSession(context, () => {}, LOOKUP_ATTEMPTS);
  const found: Array<{ region: string; image: Image }> = [];
  for (const region of [context.options.region, ...context.options.copyToRegions]) {
    const image = await findImage(session, region);
    if (image?.State === 'available') found.push({ region, image });
    else if (image) return { state: 'partial', found: `AMI ${image.ImageId} (${image.State}) in ${region}` };
    else if (found.length > 0) return { state: 'partial', found: `AMI in ${found.length} region(s)` };
    else break;
  }
  if (found.length === 1 + context.options.copyToRegions.length) {
    return { state: 'complete', image: awsCloudImage(session, found) };
  }
  const snapshot = await findSnapshot(session);
  return snapshot ? { state: 'partial', found: `snapshot ${snapshot.SnapshotId}` } : { state: 'absent' };
}

/** Uploads the image to AWS, reusing the AMIs, snapshot, import task or staged object it finds. */
async function uploadAws(context: CloudUploadContext<AwsOptions>): Promise<CloudImage> {
  const session = await openSession(context, context.log, CALL_ATTEMPTS);
  const { region } = context.options;
  let image = await findImage(session, region);
  if (image) {
    context.log(`reusing AMI ${image.ImageId} in ${region} (tagged with the image digest)`);
  } else {
    let snapshotId = (await findSnapshot(session))?.SnapshotId;
    if (snapshotId) context.log(`resuming from snapshot ${snapshotId} (imported by an earlier run)`);
    else snapshotId = await importSnapshot(session, context);
    image = await registerImage(session, snapshotId);
  }
  const images = [{ region, image: await waitForImage(session, region, image.ImageId!) }];
  for (const target of context.options.copyToRegions) {
    images.push({ region: target, image: await copyImage(session, images[0]!.image, target) });
  }
  await grantLaunchPermissions(session, images);
  if (!context.options.keepObject) await deleteStagedObject(session);
  return awsCloudImage(session, images);
}

/** The S3 key the vmdk is staged under. */
function objectKey(session: AwsSession): string {
  return `${session.options.prefix}${session.name}.vmdk`;
}

/** Imports the vmdk as a snapshot: resumes a running import, or stages the object and starts one. */
async function importSnapshot(session: AwsSession, context: CloudUploadContext<AwsOptions>): Promise<string> {
  const { ImportSnapshotCommand } = session.sdk.ec2;
  const region = session.options.region;
  let taskId = await findImportTask(session);
  if (taskId) {
    context.log(`resuming import task ${taskId} (started by an earlier run)`);
  } else {
    await stageObject(session, context);
    const result = await awsCall(session, 'ImportSnapshot', region, () =>
      ec2Of(session, region).send(
        new ImportSnapshotCommand({
          Description: session.name,
          DiskContainer: {
            Description: session.name,
            Format: 'VMDK',
            UserBucket: { S3Bucket: session.options.bucket, S3Key: objectKey(session) },
          },
          RoleName: session.options.roleName,
          TagSpecifications: [{ ResourceType: 'import-snapshot-task', Tags: imageTags(session) }],
        }),
        { abortSignal: session.signal },
      ),
    );
    taskId = result.ImportTaskId!;
    context.log(`import task ${taskId} started (role ${session.options.roleName})`);
  }
  const snapshotId = await waitForImportTask(session, taskId);
  const { CreateTagsCommand } = session.sdk.ec2;
  await awsCall(session, 'CreateTags', region, () =>
    ec2Of(session, region).send(
      new CreateTagsCommand({ Resources: [snapshotId], Tags: imageTags(session) }),
      {
        abortSignal: session.signal,
      },
    ),
  );
  context.log(`snapshot ${snapshotId} imported and tagged`);
  return snapshotId;
}

/**
 * The id of an import task for this digest that is still running, or that completed into a
 * snapshot that still exists (a run killed before it tagged the snapshot).
 */
async function findImportTask(session: AwsSession): Promise<string | undefined> {
  const { paginateDescribeImportSnapshotTasks, DescribeSnapshotsCommand } = session.sdk.ec2;
  const region = session.options.region;
  const active: string[] = [];
  const completed: Array<{ taskId: string; snapshotId: string }> = [];
  await awsCall(session, 'DescribeImportSnapshotTasks', region, async () => {
    for await (const page of paginateDescribeImportSnapshotTasks({ client: ec2Of(session, region) }, {})) {
      for (const task of page.ImportSnapshotTasks ?? []) {
        const ours = task.Tags?.some((tag) => tag.Key === AWS_DIGEST_TAG && tag.Value === session.digest);
        const detail = task.SnapshotTaskDetail;
        if (!ours || !task.ImportTaskId) continue;
        if (detail?.Status === 'active') active.push(task.ImportTaskId);
        if (detail?.Status === 'completed' && detail.SnapshotId)
          completed.push({ taskId: task.ImportTaskId, snapshotId: detail.SnapshotId });
      }
    }
  });
  if (active[0]) return active[0];
  for (const { taskId, snapshotId } of completed) {
    const exists = await ec2Of(session, region)
      .send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }), { abortSignal: session.signal })
      .then((result) => (result.Snapshots ?? []).length > 0)
      .catch(() => false);
    if (exists) return taskId;
  }
  return undefined;
}

/** Streams the vmdk to S3 (multipart, aborted on cancel), unless an object with this digest is there. */
async function stageObject(session: AwsSession, context: CloudUploadContext<AwsOptions>): Promise<void> {
  const { HeadObjectCommand } = session.sdk.s3;
  const { bucket, region } = session.options;
  const key = objectKey(session);
  const file = await uncompressedImage(context, `${session.name}.vmdk`);
  const { size } = await stat(file);
  const existing = await s3Of(session)
    .send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: session.signal })
    .catch((error: unknown) => {
      const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
      if (status === 404) return undefined;
      if (session.signal.aborted) throw session.signal.reason;
      throw awsError(session.nodePath, `HeadObject s3://${bucket}/${key} (${region})`, error);
    });
  if (existing?.Metadata?.[OBJECT_DIGEST_METADATA] === session.digest && existing.ContentLength === size) {
    context.log(`reusing staged object s3://${bucket}/${key}`);
    return;
  }
  await abortStaleMultipartUploads(session, key);
  const partSize = Math.max(MIN_PART_BYTES, Math.ceil(size / 9_000));
  const upload = new session.sdk.storage.Upload({
    client: s3Of(session),
    params: {
      Bucket: bucket,
      Key: key,
      Body: createReadStream(file, { highWaterMark: 1024 * 1024 }),
      ContentLength: size,
      Metadata: { [OBJECT_DIGEST_METADATA]: session.digest },
    },
    partSize,
    queueSize: UPLOAD_QUEUE_SIZE,
    leavePartsOnError: false,
  });
  let reported = 0;
  upload.on('httpUploadProgress', (progress) => {
    const percent = Math.floor(((progress.loaded ?? 0) / Math.max(size, 1)) * 100);
    if (percent >= reported + 10 || percent === 100) {
      reported = percent;
      context.log(`uploading s3://${bucket}/${key}: ${percent}% of ${size} bytes`);
    }
  });
  // Ctrl-C: lib-storage stops sending parts and aborts the multipart upload (no parts left to bill).
  const onAbort = () => void upload.abort();
  session.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await awsCall(session, `PutObject s3://${bucket}/${key}`, region, () => upload.done());
  } finally {
    session.signal.removeEventListener('abort', onAbort);
  }
  context.log(`uploaded s3://${bucket}/${key} (${size} bytes, ${partSize}-byte parts)`);
}

/**
 * Aborts the multipart uploads of `key` a killed run left behind (their parts are billed until
 * aborted). Best effort: a store that cannot list them (or a caller not allowed to) is only logged.
 */
async function abortStaleMultipartUploads(session: AwsSession, key: string): Promise<void> {
  const { ListMultipartUploadsCommand, AbortMultipartUploadCommand } = session.sdk.s3;
  const { bucket } = session.options;
  try {
    const listed = await s3Of(session).send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }),
      {
        abortSignal: session.signal,
      },
    );
    for (const upload of listed.Uploads ?? []) {
      if (upload.Key !== key || !upload.UploadId) continue;
      await s3Of(session).send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId }),
        { abortSignal: session.signal },
      );
      session.log(
        `aborted multipart upload ${upload.UploadId} of s3://${bucket}/${key} left by an earlier run`,
      );
    }
  } catch (error) {
    if (session.signal.aborted) throw session.signal.reason;
    session.log(`could not look for multipart uploads left by earlier runs: ${describeCloudError(error)}`);
  }
}

/** Waits for an import task; its snapshot id, or a clear error with the task's status message. */
async function waitForImportTask(session: AwsSession, taskId: string): Promise<string> {
  const { DescribeImportSnapshotTasksCommand } = session.sdk.ec2;
  const region = session.options.region;
  let lastStatus = '';
  return pollUntil(
    waitOptions(session, `DescribeImportSnapshotTasks ${taskId}`, `import task ${taskId}`),
    async () => {
      const result = await awsCall(session, 'DescribeImportSnapshotTasks', region, () =>
        ec2Of(session, region).send(new DescribeImportSnapshotTasksCommand({ ImportTaskIds: [taskId] }), {
          abortSignal: session.signal,
        }),
      );
      const detail = result.ImportSnapshotTasks?.[0]?.SnapshotTaskDetail;
      const status = `${detail?.Status ?? 'unknown'}${detail?.StatusMessage ? ` (${detail.StatusMessage})` : ''}`;
      if (status !== lastStatus)
        session.log(`import task ${taskId}: ${status}${detail?.Progress ? `, ${detail.Progress}%` : ''}`);
      lastStatus = status;
      if (detail?.Status === 'completed' && detail.SnapshotId) return detail.SnapshotId;
      if (detail?.Status === 'active' || detail?.Status === undefined) return undefined;
      throw new CloudTaskFailedError(
        'aws',
        `ImportSnapshot (${region})`,
        `import task ${taskId} of s3://${session.options.bucket}/${objectKey(session)} failed: ${detail.Status}: ${detail.StatusMessage ?? 'no status message'}`,
        session.nodePath,
      );
    },
  );
}

/** Poll options of the session's waits. */
function waitOptions(session: AwsSession, call: string, what: string) {
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

/** Registers the AMI from the snapshot (hvm, gp3 root, ENA, UEFI), tagged at creation. */
async function registerImage(session: AwsSession, snapshotId: string): Promise<Image> {
  const { RegisterImageCommand } = session.sdk.ec2;
  const region = session.options.region;
  const aarch64 = session.arch === 'aarch64';
  const result = await awsCall(session, 'RegisterImage', region, () =>
    ec2Of(session, region).send(
      new RegisterImageCommand({
        Name: session.name,
        Description: `Fedora CoreOS ${session.arch} (sha256 ${session.digest})`,
        Architecture: aarch64 ? 'arm64' : 'x86_64',
        VirtualizationType: 'hvm',
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: { SnapshotId: snapshotId, VolumeType: 'gp3', DeleteOnTermination: true },
          },
        ],
        EnaSupport: true,
        SriovNetSupport: 'simple',
        BootMode: aarch64 ? 'uefi' : 'uefi-preferred',
        ...(session.options.imdsV2Only ? { ImdsSupport: 'v2.0' as const } : {}),
        TagSpecifications: [{ ResourceType: 'image', Tags: imageTags(session) }],
      }),
      { abortSignal: session.signal },
    ),
  );
  session.log(`registered AMI ${result.ImageId} in ${region} from snapshot ${snapshotId}`);
  return { ImageId: result.ImageId!, State: 'pending' };
}

/** Waits until the AMI is available; it, described. */
async function waitForImage(session: AwsSession, region: string, imageId: string): Promise<Image> {
  const { DescribeImagesCommand } = session.sdk.ec2;
  return pollUntil(
    waitOptions(session, `DescribeImages ${imageId}`, `AMI ${imageId} in ${region} to become available`),
    async () => {
      const result = await awsCall(session, 'DescribeImages', region, () =>
        ec2Of(session, region).send(new DescribeImagesCommand({ ImageIds: [imageId] }), {
          abortSignal: session.signal,
        }),
      );
      const image = result.Images?.[0];
      if (image?.State === 'available') return image;
      if (image && DEAD_IMAGE_STATES.has(image.State ?? '')) {
        throw new CloudTaskFailedError(
          'aws',
          `RegisterImage (${region})`,
          `AMI ${imageId} became ${image.State}: ${image.StateReason?.Message ?? 'no reason given'}`,
          session.nodePath,
        );
      }
      return undefined;
    },
  );
}

/** Copies the AMI into `region` (reusing a copy tagged with the digest) and waits for it. */
async function copyImage(session: AwsSession, source: Image, region: string): Promise<Image> {
  const { CopyImageCommand, CreateTagsCommand } = session.sdk.ec2;
  const existing = await findImage(session, region);
  let imageId = existing?.ImageId;
  if (imageId) {
    session.log(`reusing copy ${imageId} in ${region}`);
  } else {
    const result = await awsCall(session, 'CopyImage', region, () =>
      ec2Of(session, region).send(
        new CopyImageCommand({
          Name: session.name,
          Description: source.Description,
          SourceImageId: source.ImageId,
          SourceRegion: session.options.region,
          CopyImageTags: true,
          TagSpecifications: [{ ResourceType: 'image', Tags: imageTags(session) }],
        }),
        { abortSignal: session.signal },
      ),
    );
    imageId = result.ImageId!;
    session.log(`copying ${source.ImageId} to ${region} as ${imageId}`);
  }
  const image = await waitForImage(session, region, imageId);
  const snapshotId = snapshotOf(image);
  if (snapshotId) {
    await awsCall(session, 'CreateTags', region, () =>
      ec2Of(session, region).send(
        new CreateTagsCommand({ Resources: [snapshotId], Tags: imageTags(session) }),
        {
          abortSignal: session.signal,
        },
      ),
    );
  }
  return image;
}

/** Makes the AMIs public, or grants the named accounts launch permission, in every region. */
async function grantLaunchPermissions(
  session: AwsSession,
  images: ReadonlyArray<{ region: string; image: Image }>,
): Promise<void> {
  const grants = [
    ...(session.options.public ? [{ Group: 'all' as const }] : []),
    ...session.options.launchPermissionAccounts.map((UserId) => ({ UserId })),
  ];
  if (grants.length === 0) return;
  const { ModifyImageAttributeCommand } = session.sdk.ec2;
  for (const { region, image } of images) {
    await awsCall(session, 'ModifyImageAttribute', region, () =>
      ec2Of(session, region).send(
        new ModifyImageAttributeCommand({ ImageId: image.ImageId, LaunchPermission: { Add: grants } }),
        { abortSignal: session.signal },
      ),
    );
  }
  session.log(
    `launch permission: ${grants.map((grant) => ('Group' in grant ? 'public' : grant.UserId)).join(', ')}`,
  );
}

/** Deletes the staged vmdk (S3 deletes of a missing key succeed). */
async function deleteStagedObject(session: AwsSession): Promise<void> {
  const { DeleteObjectCommand } = session.sdk.s3;
  const { bucket, region } = session.options;
  const key = objectKey(session);
  await awsCall(session, `DeleteObject s3://${bucket}/${key}`, region, () =>
    s3Of(session).send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: session.signal,
    }),
  );
  session.log(`deleted the staged object s3://${bucket}/${key} (if it was still there)`);
}
