/**
 * Upload to Azure through the real SDK clients: Blob storage is azurite (a real server speaking the
 * Blob protocol), Resource Manager is a stateful test double speaking ARM over TLS (its CA passed to
 * the child by NODE_EXTRA_CA_CERTS) with a managed identity endpoint whose secret header is the
 * canary. fcos-run runs in a child process with an environment the test controls entirely.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArmTestDouble } from './doubles/arm-test-double.ts';
import { makeTestCertificate } from './doubles/http-double.ts';
import { makeTempDir, nodesWith, REPO_ROOT, readEvents } from './helpers/temp-project.ts';
import {
  baseEnvironment,
  cloudImageOf,
  filesContaining,
  runChild,
  startRun,
  uploadProject,
  withoutWarnings,
} from './helpers/upload-harness.ts';

/** Azurite's well-known development account (public, documented). */
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const CANARY_IDENTITY_HEADER = `canary-identity-${randomBytes(8).toString('hex')}`;
const SUBSCRIPTION = '00000000-0000-0000-0000-0000000000aa';
const MIB = 1024 * 1024;

let azurite: ChildProcess;
let blobEndpoint: string;
let arm: ArmTestDouble;
let managementEndpoint: string;
let identityEndpoint: string;
let caFile: string;
let blobService: BlobServiceClient;

beforeAll(async () => {
  azurite = spawn(
    process.execPath,
    [
      path.join(REPO_ROOT, 'node_modules/azurite/dist/src/blob/main.js'),
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      '0',
      '--inMemoryPersistence',
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--loose',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  blobEndpoint = await new Promise<string>((resolve, reject) => {
    let output = '';
    azurite.stdout?.setEncoding('utf8').on('data', (text: string) => {
      output += text;
      const match = /listens on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) resolve(`${match[1]}/${ACCOUNT}`);
    });
    azurite.once('exit', (code) => reject(new Error(`azurite exited with ${code}: ${output}`)));
  });
  blobService = new BlobServiceClient(blobEndpoint, new StorageSharedKeyCredential(ACCOUNT, ACCOUNT_KEY));
  const certificate = makeTestCertificate();
  caFile = path.join(await makeTempDir('fcos-ca-'), 'ca.pem');
  await writeFile(caFile, certificate.caPem);
  arm = new ArmTestDouble({
    certificate,
    identityHeader: CANARY_IDENTITY_HEADER,
    galleryImages: ['fcosgallery/fedora-coreos-aarch64'],
    readBlobFooter: async (url) => {
      const blob = blobService
        .getContainerClient(url.split('/').at(-2)!)
        .getBlobClient(url.split('/').at(-1)!);
      const properties = await blob.getProperties().catch(() => undefined);
      if (!properties?.contentLength) return undefined;
      return blob.downloadToBuffer(properties.contentLength - 512, 512);
    },
  });
  ({ managementEndpoint, identityEndpoint } = await arm.start());
});

afterAll(async () => {
  await arm?.stop();
  if (azurite && azurite.exitCode === null) {
    const exited = new Promise((resolve) => azurite.once('exit', resolve));
    azurite.kill('SIGTERM');
    await exited;
  }
});

/** A fixed VHD: `mib` MiB of disk with two non-zero regions, then a footer (cookie `conectix`). */
async function fakeVhd(mib: number, cookie = 'conectix'): Promise<string> {
  const file = path.join(await makeTempDir('fcos-vhd-'), 'fedora-coreos-azure.x86_64.vhd');
  const bytes = Buffer.alloc(mib * MIB + 512);
  randomBytes(64 * 1024).copy(bytes, 0);
  randomBytes(100 * 1024).copy(bytes, 3 * MIB);
  bytes.write(cookie, mib * MIB, 'latin1');
  await writeFile(file, bytes);
  return file;
}

/** Upload options pointing at the local servers. */
function options(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    subscriptionId: SUBSCRIPTION,
    resourceGroup: 'fcos-images',
    location: 'eastus',
    storageAccount: ACCOUNT,
    container: 'vhds',
    blobEndpoint,
    managementEndpoint,
    pollIntervalSeconds: 0.05,
    waitTimeoutMinutes: 1,
    ...extra,
  };
}

/** The child's environment: a managed identity (secret header: the canary) and the storage key. */
async function credentialsEnvironment(): Promise<Record<string, string>> {
  return {
    ...(await baseEnvironment()),
    NODE_EXTRA_CA_CERTS: caFile,
    IDENTITY_ENDPOINT: identityEndpoint,
    IDENTITY_HEADER: CANARY_IDENTITY_HEADER,
    AZURE_STORAGE_KEY: ACCOUNT_KEY,
  };
}

/** The blob client of a blob URL in azurite. */
function blobOf(url: string) {
  const parts = url.split('/');
  return blobService.getContainerClient(parts.at(-2)!).getPageBlobClient(parts.at(-1)!);
}

describe('Upload to Azure', () => {
  it('writes only the non-zero pages, creates a V2 managed image, and later runs reuse it', async () => {
    const file = await fakeVhd(6);
    const directory = await uploadProject({ file, platform: 'azure', options: options() });
    const env = await credentialsEnvironment();
    arm.throttle.set('PUT images', 2);

    const first = await runChild(directory, env);
    expect(withoutWarnings(first.stderr)).toBe('');
    expect(first.code).toBe(0);
    const metadata = await cloudImageOf(directory);
    const name = String(metadata.name);
    const url = `${blobEndpoint}/vhds/${name}.vhd`;
    const resourceId = `/subscriptions/${SUBSCRIPTION}/resourceGroups/fcos-images/providers/Microsoft.Compute/images/${name}`;
    expect(metadata).toMatchObject({
      platform: 'azure',
      azure: { image: name, url },
      resourceId,
      location: 'eastus',
    });
    const image = arm.resources.get(resourceId.toLowerCase())!;
    expect(image.provisioningState).toBe('Succeeded');
    expect(image.tags['fcos-cdk-digest']).toBe(metadata.sourceDigest);
    expect(image.properties).toMatchObject({
      hyperVGeneration: 'V2',
      storageProfile: { osDisk: { osType: 'Linux', osState: 'Generalized', blobUri: url } },
    });
    expect(arm.count('PUT', '/images/')).toBe(3);
    const blob = blobOf(url);
    expect((await blob.downloadToBuffer()).equals(await readFile(file))).toBe(true);
    const ranges = (await blob.getPageRanges()).pageRange ?? [];
    // The SDK reports inclusive ends as `count` (end - start).
    expect(ranges.map((range) => [range.offset, range.offset + (range.count ?? 0) + 1])).toEqual([
      [0, 64 * 1024],
      [3 * MIB, 3 * MIB + 100 * 1024],
      [6 * MIB, 6 * MIB + 512],
    ]);
    const { etag } = await blob.getProperties();

    // The upload was keyed again by the image it made: the next run is served from the cache.
    const second = await runChild(directory, env);
    expect(second.code).toBe(0);
    let events = await readEvents(directory);
    expect(nodesWith(events, 'finish')).toEqual([]);
    expect(nodesWith(events, 'cached')).toEqual(['Image', 'Upload']);
    expect(arm.count('PUT', '/images/')).toBe(3);
    expect((await blob.getProperties()).etag).toBe(etag);

    // Forced to run: it finds the image in the cloud and reuses it without touching the blob.
    const third = await runChild(directory, env, '--force', 'Upload');
    expect(third.code).toBe(0);
    events = await readEvents(directory);
    expect(nodesWith(events, 'finish')).toEqual(['Upload']);
    expect(arm.count('PUT', '/images/')).toBe(3);
    expect((await blob.getProperties()).etag).toBe(etag);
    expect(await cloudImageOf(directory)).toEqual(metadata);
    expect(await readFile(path.join(directory, 'fcos.out/logs/Upload.log'), 'utf8')).toContain(
      `reusing ${resourceId} (tagged with the image digest)`,
    );

    // Deleted in the cloud: created again (from the complete blob the first run left).
    arm.deleteResource(resourceId);
    const fourth = await runChild(directory, env);
    expect(fourth.code).toBe(0);
    expect(arm.count('PUT', '/images/')).toBe(4);
    expect(arm.resources.get(resourceId.toLowerCase())?.provisioningState).toBe('Succeeded');
    expect(await readFile(path.join(directory, 'fcos.out/logs/Upload.log'), 'utf8')).toContain(
      'reusing blob',
    );
    for (const secret of [CANARY_IDENTITY_HEADER, ...arm.issuedTokens]) {
      expect(
        await filesContaining(directory, secret, [first.stdout, second.stdout, third.stdout, fourth.stdout]),
      ).toEqual([]);
    }
  });

  it('publishes aarch64 to a gallery, resuming from the blob after a crash before the version', async () => {
    const file = await fakeVhd(2);
    const directory = await uploadProject({
      file,
      platform: 'azure',
      arch: 'aarch64',
      options: options({ gallery: { name: 'fcosgallery', imageDefinition: 'fedora-coreos-aarch64' } }),
    });
    const env = await credentialsEnvironment();
    const run = startRun(directory, env);
    arm.onCall = (call) => {
      if (!(call.method === 'PUT' && call.path.includes('/versions/'))) return 'continue';
      run.child.kill('SIGKILL');
      return 'hang';
    };
    const crashed = await run.done;
    arm.onCall = () => 'continue';
    expect(crashed.signal).toBe('SIGKILL');
    const names: string[] = [];
    for await (const item of blobService
      .getContainerClient('vhds')
      .listBlobsFlat({ prefix: 'fedora-coreos-aarch64-' }))
      names.push(item.name);
    expect(names).toHaveLength(1);
    const blob = blobOf(`${blobEndpoint}/vhds/${names[0]}`);
    const { etag } = await blob.getProperties();

    const resumed = await runChild(directory, env);
    expect(withoutWarnings(resumed.stderr)).toBe('');
    expect(resumed.code).toBe(0);
    expect((await blob.getProperties()).etag).toBe(etag);
    const metadata = await cloudImageOf(directory);
    const digest = String(metadata.sourceDigest);
    const version = `1.${Number.parseInt(digest.slice(0, 6), 16)}.${Number.parseInt(digest.slice(6, 12), 16)}`;
    expect(metadata).toMatchObject({ azure: { image: version, url: blob.url } });
    const created = arm.resources.get(String(metadata.resourceId).toLowerCase())!;
    expect(created.properties).toMatchObject({
      publishingProfile: { targetRegions: [{ name: 'eastus' }] },
      storageProfile: {
        osDiskImage: {
          source: {
            uri: blob.url,
            storageAccountId: `/subscriptions/${SUBSCRIPTION}/resourceGroups/fcos-images/providers/Microsoft.Storage/storageAccounts/${ACCOUNT}`,
          },
        },
      },
    });
  });

  it('reports a failed image operation with the service error', async () => {
    const directory = await uploadProject({
      file: await fakeVhd(1, 'garbage!'),
      platform: 'azure',
      options: options(),
    });
    const run = await runChild(directory, await credentialsEnvironment());
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /\[FAILED\] Upload: azure: images\.createOrUpdate: the operation failed: .*is not a supported VHD/,
    );
  });

  it('says which call needs credentials and what to set when there are none', async () => {
    const directory = await uploadProject({ file: await fakeVhd(1), platform: 'azure', options: options() });
    const env = { ...(await baseEnvironment()), NODE_EXTRA_CA_CERTS: caFile, AZURE_TOKEN_CREDENTIALS: 'dev' };
    const run = await runChild(directory, env);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      'Upload: azure: images.get: no Azure credentials were found: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET',
    );
  });
});
