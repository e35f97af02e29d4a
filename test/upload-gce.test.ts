/**
 * Upload to GCE through the real SDK clients: Cloud Storage, Compute and the metadata server that
 * Application Default Credentials take tokens from are a stateful test double speaking their
 * JSON/REST protocols (the access token it issues is the canary). fcos-run runs in a child process
 * with an environment the test controls entirely.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GcpTestDouble } from './doubles/gcp-test-double.ts';
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

const PROJECT = 'fcos-test-project';
const BUCKET = 'fcos-gce-images';
const CANARY_TOKEN = `ya29.canary-${randomBytes(12).toString('hex')}`;
const MIB = 1024 * 1024;

let gcp: GcpTestDouble;
let endpoint: string;

beforeAll(async () => {
  gcp = new GcpTestDouble({ project: PROJECT, buckets: [BUCKET], accessToken: CANARY_TOKEN });
  endpoint = await gcp.start();
});

afterAll(async () => {
  await gcp?.stop();
});

/** A fake image tarball of `mib` MiB (a gzip magic, then random bytes). */
async function fakeTarball(mib: number, magic = Buffer.from([0x1f, 0x8b])): Promise<string> {
  const file = path.join(await makeTempDir('fcos-gce-'), 'fedora-coreos-gcp.x86_64.tar.gz');
  const bytes = randomBytes(mib * MIB);
  magic.copy(bytes, 0);
  await writeFile(file, bytes);
  return file;
}

/** Upload options pointing at the double. */
function options(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    project: PROJECT,
    bucket: BUCKET,
    endpoint,
    pollIntervalSeconds: 0.05,
    waitTimeoutMinutes: 1,
    ...extra,
  };
}

/** The child's environment: Application Default Credentials from the (double's) metadata server. */
async function credentialsEnvironment(): Promise<Record<string, string>> {
  return {
    ...(await baseEnvironment()),
    METADATA_SERVER_DETECTION: 'ping-only',
    GCE_METADATA_HOST: endpoint.replace('http://', ''),
  };
}

describe('Upload to GCE', () => {
  it('uploads resumably, creates the image with its features and IAM binding, and later runs reuse it', async () => {
    const file = await fakeTarball(17);
    const directory = await uploadProject({
      file,
      platform: 'gce',
      options: options({ family: 'fedora-coreos-testing', public: true }),
    });
    const env = await credentialsEnvironment();
    gcp.throttle.set('POST images', { status: 429, count: 2 });
    gcp.throttle.set('PUT upload', { status: 503, count: 1 });

    const first = await runChild(directory, env);
    expect(withoutWarnings(first.stderr)).toBe('');
    expect(first.code).toBe(0);
    const metadata = await cloudImageOf(directory);
    const name = String(metadata.name);
    expect(metadata).toMatchObject({
      platform: 'gce',
      gcp: {
        image: name,
        project: PROJECT,
        family: 'fedora-coreos-testing',
        url: `https://www.googleapis.com/compute/v1/projects/${PROJECT}/global/images/${name}`,
      },
    });
    const digest = String(metadata.sourceDigest);
    const image = gcp.images.get(`${PROJECT}/${name}`)!;
    expect(image.status).toBe('READY');
    expect(image.resource).toMatchObject({
      architecture: 'X86_64',
      family: 'fedora-coreos-testing',
      rawDisk: { source: `https://storage.googleapis.com/${BUCKET}/${name}.tar.gz` },
      labels: { 'fcos-sha256-a': digest.slice(0, 32), 'fcos-sha256-b': digest.slice(32) },
    });
    expect(
      (image.resource.guestOsFeatures as Array<{ type: string }>).map((feature) => feature.type),
    ).toEqual(['VIRTIO_SCSI_MULTIQUEUE', 'GVNIC', 'UEFI_COMPATIBLE', 'SEV_CAPABLE', 'SEV_SNP_CAPABLE']);
    expect(image.bindings).toEqual([{ role: 'roles/compute.imageUser', members: ['allAuthenticatedUsers'] }]);
    expect(gcp.count('POST', '/global/images')).toBe(3 + 1);
    expect(gcp.count('POST', '/upload/')).toBe(1);
    expect(gcp.count('PUT', '/upload/')).toBeGreaterThanOrEqual(3);
    expect(gcp.objects.has(`${BUCKET}/${name}.tar.gz`)).toBe(false);

    // The upload was keyed again by the image it made: the next run is served from the cache.
    const second = await runChild(directory, env);
    expect(second.code).toBe(0);
    let events = await readEvents(directory);
    expect(nodesWith(events, 'finish')).toEqual([]);
    expect(nodesWith(events, 'cached')).toEqual(['Image', 'Upload']);
    expect(gcp.count('POST', '/upload/')).toBe(1);
    expect(gcp.count('POST', '/global/images')).toBe(3 + 1);

    // Forced to run: it finds the image in the cloud, reuses it, and uploads nothing.
    const third = await runChild(directory, env, '--force', 'Upload');
    expect(third.code).toBe(0);
    events = await readEvents(directory);
    expect(nodesWith(events, 'finish')).toEqual(['Upload']);
    expect(gcp.count('POST', '/upload/')).toBe(1);
    expect(gcp.count('POST', '/global/images')).toBe(3 + 1);
    expect(await cloudImageOf(directory)).toEqual(metadata);
    expect(await readFile(path.join(directory, 'fcos.out/logs/Upload.log'), 'utf8')).toContain(
      `reusing image ${name} (READY, labelled with the image digest)`,
    );

    // Deleted in the cloud: uploaded again.
    gcp.images.delete(`${PROJECT}/${name}`);
    const fourth = await runChild(directory, env);
    expect(fourth.code).toBe(0);
    expect(gcp.count('POST', '/upload/')).toBe(2);
    expect(gcp.images.get(`${PROJECT}/${name}`)?.status).toBe('READY');
    expect(
      await filesContaining(directory, CANARY_TOKEN, [
        first.stdout,
        second.stdout,
        third.stdout,
        fourth.stdout,
      ]),
    ).toEqual([]);
  });

  it('resumes from the uploaded object after a crash before images.insert', async () => {
    const directory = await uploadProject({
      file: await fakeTarball(3),
      platform: 'gce',
      arch: 'aarch64',
      options: options(),
    });
    const env = await credentialsEnvironment();
    const sessions = gcp.count('POST', '/upload/');
    const run = startRun(directory, env);
    gcp.onCall = (call) => {
      if (!(call.method === 'POST' && call.path.endsWith('/global/images'))) return 'continue';
      run.child.kill('SIGKILL');
      return 'hang';
    };
    const crashed = await run.done;
    gcp.onCall = () => 'continue';
    expect(crashed.signal).toBe('SIGKILL');
    expect(gcp.count('POST', '/upload/')).toBe(sessions + 1);

    const resumed = await runChild(directory, env);
    expect(withoutWarnings(resumed.stderr)).toBe('');
    expect(resumed.code).toBe(0);
    expect(gcp.count('POST', '/upload/')).toBe(sessions + 1);
    expect(await readFile(path.join(directory, 'fcos.out/logs/Upload.log'), 'utf8')).toMatch(
      /reusing gs:\/\//,
    );
    const metadata = await cloudImageOf(directory);
    const image = gcp.images.get(`${PROJECT}/${String(metadata.name)}`)!;
    expect(image.resource.architecture).toBe('ARM64');
    expect(
      (image.resource.guestOsFeatures as Array<{ type: string }>).map((feature) => feature.type),
    ).toEqual(['VIRTIO_SCSI_MULTIQUEUE', 'GVNIC', 'UEFI_COMPATIBLE']);
  });

  it('reports a failed image creation with the operation errors', async () => {
    const directory = await uploadProject({
      file: await fakeTarball(1, Buffer.from('PK')),
      platform: 'gce',
      options: options({ keepObject: true }),
    });
    const run = await runChild(directory, await credentialsEnvironment());
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /\[FAILED\] Upload: gce: images\.insert: operation operation-\S+ failed: INVALID_IMAGE_FILE: The image file https:\/\/storage\.googleapis\.com\/\S+ is not a valid gzip-compressed tar archive/,
    );
  });

  it('says which call needs credentials and what to set when there are none', async () => {
    const directory = await uploadProject({
      file: await fakeTarball(1),
      platform: 'gce',
      options: options(),
    });
    const calls = gcp.calls.length;
    const run = await runChild(directory, await baseEnvironment());
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      'Upload: gce: images.get: no Google credentials were found: set GOOGLE_APPLICATION_CREDENTIALS',
    );
    expect(gcp.calls.length).toBe(calls);
  });
});
