/**
 * What an upload that fails on this machine means for a run: the node is built and in the local
 * cache, so only a required remote that went away stops the run; a local failure while packing
 * the upload (here a commit's archive, whose commit is not in the repository) is a warning naming
 * the node, and the record is not written to the remote, so no other machine finds a record
 * without its blobs.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTION_RECORD_SCHEMA_VERSION } from '../lib/cache/action-cache.ts';
import { HttpRemoteCache } from '../lib/cache/remote/http-remote-cache.ts';
import { runTool } from '../lib/exec.ts';
import { ArtifactStore } from '../lib/run/artifact-store.ts';
import { RemoteArtifacts } from '../lib/run/remote-artifacts.ts';
import { ensureArchiveRepository } from '../lib/tools/ostree.ts';
import { makeTempDir } from './helpers/temp-project.ts';

describe('an upload that fails on this machine', () => {
  let server: Server;
  let base: string;
  const requests: string[] = [];

  beforeAll(async () => {
    // A remote that has nothing and takes everything: every failure below is local.
    server = createServer((request, response) => {
      requests.push(`${request.method} ${request.url}`);
      request.resume();
      request.on('end', () => {
        response.statusCode = request.method === 'PUT' ? 200 : 404;
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cache`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('is a warning naming the node, and the record stays off the remote', async () => {
    const store = new ArtifactStore(await makeTempDir('fcos-upload-failure-'));
    await store.init();
    await ensureArchiveRepository(runTool, store.ostreeRepo);
    const warnings: string[] = [];
    const remote = new RemoteArtifacts(
      new HttpRemoteCache(new URL(base), undefined),
      store,
      {
        warning: (node, message) => warnings.push(`${node}: ${message}`),
        transfer: () => {},
      },
      { mode: 'readwrite' },
    );
    const missingCommit = 'c'.repeat(64);
    const key = 'a'.repeat(64);
    const record = await store.actions.put({
      schemaVersion: ACTION_RECORD_SCHEMA_VERSION,
      key,
      node: 'Pipeline/Compose',
      kind: 'RpmOstreeCompose',
      outputs: { commit: { digest: missingCommit, storage: 'ostree-commit', size: 0 } },
      startedAt: '2026-11-30T00:00:00.000Z',
      finishedAt: '2026-11-30T00:00:01.000Z',
      durationMs: 1000,
      keyMaterial: {},
    });
    remote.upload(record);
    await expect(remote.drain()).resolves.toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      new RegExp(`^Pipeline/Compose: could not upload to the remote cache .*: .*${missingCommit}`),
    );
    expect(requests.filter((request) => request.startsWith('PUT'))).toEqual([]);
  });
});
