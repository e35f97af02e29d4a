/**
 * Upload to AWS through the real SDK clients: S3 is s3rver (a real server speaking S3, behind a
 * recording proxy), EC2 is a stateful test double speaking the EC2 Query protocol. fcos-run runs in
 * a child process with fake credentials in its environment, one of which is a canary secret.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import S3rver from 's3rver';
import { DUMMY_ACCOUNT } from 's3rver/lib/models/account.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ec2TestDouble } from './doubles/ec2-test-double.ts';
import { RecordingProxy } from './doubles/http-double.ts';
import { makeTempDir, nodesWith, readEvents } from './helpers/temp-project.ts';
import {
  baseEnvironment,
  cloudImageOf,
  filesContaining,
  runChild,
  startRun,
  uploadProject,
  withoutWarnings,
} from './helpers/upload-harness.ts';

const ACCESS_KEY_ID = 'AKIDFCOSCDKTEST01';
const CANARY_SECRET = `canary-secret-${randomBytes(8).toString('hex')}`;
const CANARY_SESSION_TOKEN = `canary-token-${randomBytes(8).toString('hex')}`;
const BUCKET = 'fcos-images';

let s3rver: S3rver;
let s3Directory: string;
let proxy: RecordingProxy;
let ec2: Ec2TestDouble;
let ec2Url: string;
let s3Url: string;

beforeAll(async () => {
  s3Directory = await makeTempDir('fcos-s3rver-');
  DUMMY_ACCOUNT.createKeyPair(ACCESS_KEY_ID, CANARY_SECRET);
  s3rver = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: s3Directory,
    configureBuckets: [{ name: BUCKET }],
  });
  const { port } = await s3rver.run();
  proxy = new RecordingProxy(`http://127.0.0.1:${port}`);
  s3Url = await proxy.start();
  ec2 = new Ec2TestDouble({
    readObject: (bucket, key) => readFile(objectFile(bucket, key)).catch(() => undefined),
  });
  ec2Url = await ec2.start();
});

afterAll(async () => {
  await ec2?.stop();
  await proxy?.stop();
  s3rver?.httpServer?.closeAllConnections();
  await s3rver?.close();
});

/** Where s3rver keeps an object's bytes. */
function objectFile(bucket: string, key: string): string {
  return path.join(
    s3Directory,
    bucket,
    ...key.split('/').slice(0, -1),
    `${key.split('/').pop()}._S3rver_object`,
  );
}

/** A fake streamOptimized vmdk of `mib` MiB (the VMDK magic, then random bytes). */
async function fakeVmdk(mib: number, magic = 'KDMV'): Promise<string> {
  const file = path.join(await makeTempDir('fcos-vmdk-'), 'fedora-coreos-aws.x86_64.vmdk');
  const bytes = randomBytes(mib * 1024 * 1024);
  bytes.write(magic, 0, 'latin1');
  await writeFile(file, bytes);
  return file;
}

/** Upload options pointing at the local servers. */
function options(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    region: 'us-east-1',
    bucket: BUCKET,
    prefix: 'builds/',
    endpoint: ec2Url,
    s3Endpoint: s3Url,
    pollIntervalSeconds: 0.05,
    waitTimeoutMinutes: 1,
    ...extra,
  };
}

/** The child's environment: credentials (with the canary) through the SDK's default chain. */
async function credentialsEnvironment(): Promise<Record<string, string>> {
  return {
    ...(await baseEnvironment()),
    AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: CANARY_SECRET,
    AWS_SESSION_TOKEN: CANARY_SESSION_TOKEN,
  };
}

describe('Upload to AWS', () => {
  it('streams to S3, imports, registers, copies and shares the AMI; later runs reuse it', async () => {
    const file = await fakeVmdk(11);
    const directory = await uploadProject({
      file,
      platform: 'aws',
      options: options({
        copyToRegions: ['eu-west-1'],
        public: true,
        imdsV2Only: true,
        tags: { stream: 'testing' },
      }),
    });
    const env = await credentialsEnvironment();
    ec2.throttle.set('RegisterImage', 2);
    let throttledParts = 1;
    proxy.intercept = (request) => {
      if (request.method === 'PUT' && request.url.includes('partNumber=') && throttledParts > 0) {
        throttledParts--;
        return {
          status: 503,
          body: '<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>',
        };
      }
      return undefined;
    };

    const first = await runChild(directory, env);
    expect(withoutWarnings(first.stderr)).toBe('');
    expect(first.code).toBe(0);
    const metadata = await cloudImageOf(directory);
    const [main, copy] = ec2.images('us-east-1').concat(ec2.images('eu-west-1'));
    expect(metadata).toMatchObject({
      platform: 'aws',
      arch: 'x86_64',
      amis: [
        { name: 'us-east-1', hvm: main!.id, snapshot: main!.snapshotId },
        { name: 'eu-west-1', hvm: copy!.id, snapshot: copy!.snapshotId },
      ],
    });
    expect(main).toMatchObject({
      architecture: 'x86_64',
      virtualizationType: 'hvm',
      rootDeviceName: '/dev/xvda',
      volumeType: 'gp3',
      deleteOnTermination: true,
      enaSupport: true,
      sriovNetSupport: 'simple',
      bootMode: 'uefi-preferred',
      imdsSupport: 'v2.0',
      launchPermissions: ['all'],
    });
    const digest = String(metadata.sourceDigest);
    expect(main!.tags).toEqual(
      expect.arrayContaining([
        { key: 'fcos-cdk:digest', value: digest },
        { key: 'stream', value: 'testing' },
      ]),
    );
    expect(copy!.tags).toEqual(expect.arrayContaining([{ key: 'fcos-cdk:digest', value: digest }]));
    expect(copy!.launchPermissions).toEqual(['all']);
    expect(ec2.count('ImportSnapshot')).toBe(1);
    expect(ec2.count('RegisterImage')).toBe(3);
    expect(throttledParts).toBe(0);
    expect(proxy.requests.filter((request) => request.url.includes('partNumber=')).length).toBe(3);
    expect(new Set(ec2.calls.map((call) => call.accessKeyId))).toEqual(new Set([ACCESS_KEY_ID]));
    expect(existsSync(objectFile(BUCKET, `builds/${String(metadata.name)}.vmdk`))).toBe(false);
    const log = await readFile(path.join(directory, 'fcos.out/logs/Upload.log'), 'utf8');
    expect(log).toMatch(/uploading s3:\/\/fcos-images\/builds\/.*: 100% of 11534336 bytes/);

    // The upload was keyed again by the AMI it made: the next run is served from the cache.
    const second = await runChild(directory, env);
    expect(second.code).toBe(0);
    let events = await readEvents(directory);
    expect(nodesWith(events, 'finish')).toEqual([]);
    expect(nodesWith(events, 'cached')).toEqual(['Image', 'Upload']);
    expect(ec2.count('ImportSnapshot')).toBe(1);
    expect(ec2.count('RegisterImage')).toBe(3);
    expect(await cloudImageOf(directory)).toEqual(metadata);

    // Forced to run: it finds the AMIs in the cloud, reuses them, and imports nothing.
    const third = await runChild(directory, env, '--force', 'Upload');
    expect(third.code).toBe(0);
    events = await readEvents(directory);
    expect(nodesWith(events, 'finish')).toEqual(['Upload']);
    expect(ec2.count('ImportSnapshot')).toBe(1);
    expect(ec2.count('RegisterImage')).toBe(3);
    expect(await cloudImageOf(directory)).toEqual(metadata);
    expect(await readFile(path.join(directory, 'fcos.out/logs/Upload.log'), 'utf8')).toContain('reusing AMI');

    // Deleted in the cloud: uploaded again.
    ec2.deleteImage('us-east-1', main!.id);
    const fourth = await runChild(directory, env);
    expect(fourth.code).toBe(0);
    expect(ec2.count('ImportSnapshot')).toBe(2);
    expect(ec2.images('us-east-1')).toHaveLength(1);
    expect(
      await filesContaining(directory, CANARY_SECRET, [
        first.stdout,
        second.stdout,
        third.stdout,
        fourth.stdout,
      ]),
    ).toEqual([]);
    expect(await filesContaining(directory, CANARY_SESSION_TOKEN)).toEqual([]);
  });

  it('resumes from the snapshot after a crash between the import and the registration', async () => {
    const directory = await uploadProject({
      file: await fakeVmdk(6),
      platform: 'aws',
      arch: 'aarch64',
      options: options(),
    });
    const env = await credentialsEnvironment();
    const imports = ec2.count('ImportSnapshot');
    const uploads = proxy.requests.filter((request) => request.method === 'PUT').length;
    const run = startRun(directory, env);
    ec2.onCall = (action) => {
      if (action !== 'RegisterImage') return 'continue';
      run.child.kill('SIGKILL');
      return 'hang';
    };
    const crashed = await run.done;
    ec2.onCall = () => 'continue';
    expect(crashed.signal).toBe('SIGKILL');
    expect(ec2.count('ImportSnapshot')).toBe(imports + 1);
    const uploadsBeforeResume = proxy.requests.filter((request) => request.method === 'PUT').length;
    expect(uploadsBeforeResume).toBeGreaterThan(uploads);

    const resumed = await runChild(directory, env);
    expect(withoutWarnings(resumed.stderr)).toBe('');
    expect(resumed.code).toBe(0);
    expect(ec2.count('ImportSnapshot')).toBe(imports + 1);
    expect(proxy.requests.filter((request) => request.method === 'PUT').length).toBe(uploadsBeforeResume);
    expect(await readFile(path.join(directory, 'fcos.out/logs/Upload.log'), 'utf8')).toMatch(
      /resuming from snapshot snap-/,
    );
    const metadata = await cloudImageOf(directory);
    const image = ec2
      .images('us-east-1')
      .find((candidate) => candidate.id === (metadata.amis as Array<{ hvm: string }>)[0]!.hvm);
    expect(image).toMatchObject({ architecture: 'arm64', bootMode: 'uefi' });
    expect(image!.imdsSupport).toBeUndefined();
  });

  it('reports a failed import task with its status message', async () => {
    const directory = await uploadProject({
      file: await fakeVmdk(1, 'NOPE'),
      platform: 'aws',
      options: options({ keepObject: true }),
    });
    const run = await runChild(directory, await credentialsEnvironment());
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /\[FAILED\] Upload: aws: ImportSnapshot \(us-east-1\): import task import-snap-\w+ of s3:\/\/fcos-images\/builds\/fedora-coreos-x86-64-\w{12}\.vmdk failed: deleted: ClientError: Disk validation failed \[Unsupported VMDK File Format\]/,
    );
  });

  it('says which call needs credentials and what to set when there are none', async () => {
    const directory = await uploadProject({ file: await fakeVmdk(1), platform: 'aws', options: options() });
    const calls = ec2.calls.length;
    const run = await runChild(directory, await baseEnvironment());
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      'Upload: aws: DescribeImages (us-east-1): no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
    expect(ec2.calls.length).toBe(calls);
    const events = await readEvents(directory);
    expect(nodesWith(events, 'fail')).toEqual(['Upload']);
  });

  it('says which permission is missing', async () => {
    const directory = await uploadProject({ file: await fakeVmdk(1), platform: 'aws', options: options() });
    ec2.denied.add('DescribeImages');
    const run = await runChild(directory, await credentialsEnvironment());
    ec2.denied.clear();
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      "Upload: aws: DescribeImages (us-east-1): permission denied (UnauthorizedOperation): allow ec2:DescribeImages to the caller's IAM identity",
    );
  });

  it('Ctrl-C aborts the multipart upload instead of leaving its parts to bill', async () => {
    const directory = await uploadProject({ file: await fakeVmdk(40), platform: 'aws', options: options() });
    const run = startRun(directory, await credentialsEnvironment());
    const before = proxy.requests.length;
    let interrupted = false;
    proxy.intercept = (request) => {
      if (request.method === 'DELETE' && request.url.includes('uploadId=')) return { status: 204 };
      if (!(request.method === 'PUT' && request.url.includes('partNumber='))) return undefined;
      if (!interrupted) {
        interrupted = true;
        run.child.kill('SIGINT');
      }
      return { status: 0, delayMs: 300 };
    };
    const stopped = await run.done;
    proxy.intercept = () => undefined;
    expect(stopped.code).toBe(130);
    const requests = proxy.requests.slice(before);
    const aborts = requests.filter(
      (request) => request.method === 'DELETE' && request.url.includes('uploadId='),
    );
    expect(aborts).toHaveLength(1);
    expect(requests.some((request) => request.method === 'POST' && request.url.includes('uploadId='))).toBe(
      false,
    );
  });
});
