/**
 * fcos-serve over real HTTP on 127.0.0.1: the update graph built from a published releases.json
 * and updates/<stream>.json (throttled per client at a fixed clock, every error kind), FleetLock's
 * semaphores, the static tree (404s, no escape from the root), an ostree client pulling a
 * GPG-signed archive repo through it (and refusing unsigned or foreign-signed commits), and the
 * real bin started, queried and stopped by SIGTERM.
 */

import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTool, ToolError } from '../lib/exec.ts';
import type { ReleaseIndex, UpdateGraph, UpdateMetadataDocument } from '../lib/release/formats.ts';
import { rolloutWariness, throttleGraph } from '../lib/release/rollout-throttle.ts';
import { buildUpdateGraph } from '../lib/release/update-graph.ts';
import { main, parseServeArguments } from '../lib/serve/cli.ts';
import { type RunningServer, startServer } from '../lib/serve/server.ts';

const REPO_ROOT = path.resolve(import.meta.dirname, '..');

/** A response as the tests look at it. */
interface Response {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/**
 * Sends one request with node:http, which neither normalizes the path (`..` reaches the server
 * as written) nor adds a Content-Type of its own (Zincati sends none).
 */
function request(
  base: string,
  method: string,
  requestPath: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      base,
      { method, path: requestPath, headers: options.headers ?? {} },
      (incoming) => {
        let body = '';
        incoming.setEncoding('utf8');
        incoming.on('data', (chunk: string) => {
          body += chunk;
        });
        incoming.on('end', () =>
          resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body }),
        );
      },
    );
    outgoing.on('error', reject);
    if (options.body !== undefined) outgoing.write(options.body);
    outgoing.end();
  });
}

/** A 64-hex commit checksum made of one repeated digit. */
function checksum(digit: string): string {
  return digit.repeat(64);
}

/** Unix seconds at which the fixture's staged rollout starts. */
const ROLLOUT_START = 1_760_000_000;
const RELEASE_VERSIONS = ['39.20240101.2.0', '39.20240201.2.0', '39.20240301.2.0'] as const;

/** The fixture's release index: three releases, the middle one without aarch64. */
const releaseIndex: ReleaseIndex = {
  stream: 'testing',
  metadata: { 'last-modified': '2024-03-01T00:00:00Z' },
  releases: [
    {
      version: RELEASE_VERSIONS[0],
      metadata: `http://127.0.0.1:8080/prod/streams/testing/builds/${RELEASE_VERSIONS[0]}/release.json`,
      commits: [
        { architecture: 'x86_64', checksum: checksum('0') },
        { architecture: 'aarch64', checksum: checksum('a') },
      ],
    },
    {
      version: RELEASE_VERSIONS[1],
      metadata: `http://127.0.0.1:8080/prod/streams/testing/builds/${RELEASE_VERSIONS[1]}/release.json`,
      commits: [{ architecture: 'x86_64', checksum: checksum('1') }],
    },
    {
      version: RELEASE_VERSIONS[2],
      metadata: `http://127.0.0.1:8080/prod/streams/testing/builds/${RELEASE_VERSIONS[2]}/release.json`,
      commits: [
        { architecture: 'x86_64', checksum: checksum('2') },
        { architecture: 'aarch64', checksum: checksum('b') },
      ],
    },
  ],
};

/** The fixture's update metadata: the middle release fully rolled out, the newest rolling out over an hour. */
const updateMetadata: UpdateMetadataDocument = {
  stream: 'testing',
  metadata: { 'last-modified': '2024-03-01T00:00:00Z' },
  releases: [
    { version: RELEASE_VERSIONS[1], metadata: { rollout: { start_percentage: 1 } } },
    {
      version: RELEASE_VERSIONS[2],
      metadata: { rollout: { start_epoch: ROLLOUT_START, start_percentage: 0, duration_minutes: 60 } },
    },
  ],
};

/** Writes `content` (JSON unless a string) to `root/relative`, creating directories. */
async function writeUnder(root: string, relative: string, content: unknown): Promise<string> {
  const file = path.join(root, relative);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
  return file;
}

/** A node UUID whose computed wariness is below (`low`) or above the rollout's halfway threshold. */
function nodeUuidWith(side: 'low' | 'high'): string {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const uuid = `0f6b1c2a9d3e4f50a1b2c3d4e5f6${String(attempt).padStart(4, '0')}`;
    const wariness = rolloutWariness({ nodeUuid: uuid });
    if (side === 'low' ? wariness < 0.4 : wariness > 0.6) return uuid;
  }
  throw new Error(`no ${side} node UUID found`);
}

describe('fcos-serve', () => {
  let temp: string;
  let root: string;
  let server: RunningServer;
  let nowMs = (ROLLOUT_START + 30 * 60) * 1000;
  const logLines: string[] = [];

  beforeAll(async () => {
    temp = await mkdtemp(path.join(os.tmpdir(), 'fcos-serve-'));
    root = path.join(temp, 'publish');
    await writeUnder(root, 'prod/streams/testing/releases.json', releaseIndex);
    await writeUnder(root, 'updates/testing.json', updateMetadata);
    await writeUnder(root, 'streams/testing.json', { stream: 'testing', architectures: {} });
    await writeUnder(root, `prod/streams/testing/builds/${RELEASE_VERSIONS[2]}/release.json`, {
      release: RELEASE_VERSIONS[2],
    });
    await writeUnder(root, 'signing-key.asc', '-----BEGIN PGP PUBLIC KEY BLOCK-----\n...\n');
    await writeUnder(root, '.hidden', 'not for clients\n');
    await writeFile(path.join(temp, 'secret.txt'), 'outside the root\n');
    server = await startServer({
      root,
      port: 0,
      now: () => nowMs,
      fleetLock: { defaultSlots: 2, groupSlots: { solo: 1 } },
      log: (line) => logLines.push(line),
    });
  });

  afterAll(async () => {
    await server?.close();
    if (temp) await rm(temp, { recursive: true, force: true });
  });

  /** GET /v1/graph with `query`. */
  const graphRequest = (query: string) => request(server.url, 'GET', `/v1/graph?${query}`);

  /** GET /v1/graph with `query`, expecting a graph. */
  async function graph(query: string): Promise<UpdateGraph> {
    const response = await graphRequest(query);
    expect(response.status, response.body).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    return JSON.parse(response.body) as UpdateGraph;
  }

  /** Expects an error response of `status` and `kind` whose value matches `value`; returns the value. */
  function expectError(response: Response, status: number, kind: string, value: RegExp): void {
    expect(response.status, response.body).toBe(status);
    const body = JSON.parse(response.body) as { kind: string; value: string };
    expect(body.kind).toBe(kind);
    expect(body.value).toMatch(value);
  }

  describe('GET /v1/graph', () => {
    it('serves the graph of the published files, throttled by rollout_wariness at the server clock', async () => {
      nowMs = (ROLLOUT_START + 30 * 60) * 1000; // halfway: the rollout is offered to wariness <= 0.5
      const eager = await graph('basearch=x86_64&stream=testing&rollout_wariness=0.25');
      expect(eager.nodes.map((node) => [node.version, node.payload])).toEqual([
        [RELEASE_VERSIONS[0], checksum('0')],
        [RELEASE_VERSIONS[1], checksum('1')],
        [RELEASE_VERSIONS[2], checksum('2')],
      ]);
      expect(eager.nodes[2]?.metadata).toMatchObject({
        'org.fedoraproject.coreos.releases.age_index': '2',
        'org.fedoraproject.coreos.scheme': 'checksum',
        'org.fedoraproject.coreos.updates.rollout': 'true',
        'org.fedoraproject.coreos.updates.start_epoch': String(ROLLOUT_START),
        'org.fedoraproject.coreos.updates.duration_minutes': '60',
      });
      expect(eager.edges).toEqual([
        [0, 2],
        [1, 2],
        [0, 1],
      ]);
      // The same as the library computes in-process.
      const unthrottled = buildUpdateGraph(releaseIndex, updateMetadata, 'x86_64');
      expect(eager).toEqual(throttleGraph(unthrottled, 0.25, nowMs / 1000));

      const wary = await graph('basearch=x86_64&stream=testing&rollout_wariness=0.75');
      expect(wary.nodes).toEqual(eager.nodes);
      expect(wary.edges).toEqual([[0, 1]]);

      // Before the start nobody wary at all gets it; after the end everybody does.
      nowMs = (ROLLOUT_START - 60) * 1000;
      expect((await graph('basearch=x86_64&stream=testing&rollout_wariness=0.01')).edges).toEqual([[0, 1]]);
      nowMs = (ROLLOUT_START + 61 * 60) * 1000;
      expect((await graph('basearch=x86_64&stream=testing&rollout_wariness=1')).edges).toEqual(eager.edges);
    });

    it("derives a client's wariness from its node_uuid, and accepts every parameter Zincati sends", async () => {
      nowMs = (ROLLOUT_START + 30 * 60) * 1000;
      const zincati = (uuid: string) =>
        `basearch=x86_64&stream=testing&os_version=${RELEASE_VERSIONS[0]}&group=default&node_uuid=${uuid}&platform=qemu&os_checksum=${checksum('0')}`;
      const early = await graph(zincati(nodeUuidWith('low')));
      const late = await graph(zincati(nodeUuidWith('high')));
      expect(early.edges).toEqual([
        [0, 2],
        [1, 2],
        [0, 1],
      ]);
      expect(late.edges).toEqual([[0, 1]]);
      // Stable: the same node gets the same answer every time.
      expect(await graph(zincati(nodeUuidWith('high')))).toEqual(late);
      // An explicit wariness wins over the UUID; out of range is clamped.
      expect((await graph(`${zincati(nodeUuidWith('high'))}&rollout_wariness=0`)).edges).toEqual(early.edges);
      expect((await graph('basearch=x86_64&stream=testing&rollout_wariness=7')).edges).toEqual(late.edges);
    });

    it('builds one graph per basearch: nodes of releases with a commit for it, age_index from the index', async () => {
      const aarch64 = await graph('basearch=aarch64&stream=testing&rollout_wariness=0');
      expect(
        aarch64.nodes.map((node) => [
          node.payload,
          node.metadata['org.fedoraproject.coreos.releases.age_index'],
        ]),
      ).toEqual([
        [checksum('a'), '0'],
        [checksum('b'), '2'],
      ]);
      expect(aarch64.edges).toEqual([[0, 1]]);
    });

    it('answers every bad request in the protocol shape, with a 4xx', async () => {
      expectError(await graphRequest(''), 400, 'missing_params', /missing: basearch, stream$/);
      expectError(await graphRequest('stream=testing'), 400, 'missing_params', /missing: basearch$/);
      expectError(await graphRequest('basearch=x86_64&stream='), 400, 'missing_params', /missing: stream$/);
      expectError(
        await graphRequest('basearch=x86_64&stream=nope'),
        404,
        'does_not_exist',
        /unknown stream 'nope'/,
      );
      expectError(
        await graphRequest('basearch=ppc64le&stream=testing'),
        400,
        'invalid_params',
        /unsupported basearch 'ppc64le' for stream 'testing' \(its releases have: aarch64, x86_64\)/,
      );
      expectError(
        await graphRequest('basearch=x86_64&stream=testing&rollout_wariness=eager'),
        400,
        'invalid_params',
        /rollout_wariness 'eager' is not a number/,
      );
      expectError(
        await graphRequest('basearch=x86_64&stream=..'),
        400,
        'invalid_params',
        /stream '\.\.' is not a stream name/,
      );
      expectError(
        await graphRequest('basearch=x86_64&stream=..%2Fprod%2Fstreams%2Ftesting'),
        400,
        'invalid_params',
        /is not a stream name/,
      );
      expectError(await graphRequest('basearch=x86%2F64&stream=testing'), 400, 'invalid_params', /basearch/);
      expectError(
        await graphRequest('basearch=x86_64&stream=testing&stream=next'),
        400,
        'invalid_params',
        /stream given more than once/,
      );
    });

    it('answers a releases.json that does not parse with a 5xx, and keeps serving', async () => {
      await writeUnder(root, 'prod/streams/broken/releases.json', '{"stream": "broken", ');
      expectError(
        await graphRequest('basearch=x86_64&stream=broken'),
        500,
        'failed_json_in',
        /releases\.json is not JSON/,
      );
      const invalid = structuredClone(releaseIndex);
      invalid.releases[1]!.commits[0]!.checksum = 'not-a-checksum';
      await writeUnder(root, 'prod/streams/invalid/releases.json', invalid);
      expectError(
        await graphRequest('basearch=x86_64&stream=invalid'),
        500,
        'failed_json_in',
        /prod\/streams\/invalid\/releases\.json is not a valid document at releases\.1\.commits\.0\.checksum/,
      );
      await writeUnder(root, 'prod/streams/badupdates/releases.json', releaseIndex);
      await writeUnder(root, 'updates/badupdates.json', '[');
      expectError(
        await graphRequest('basearch=x86_64&stream=badupdates'),
        500,
        'failed_json_in',
        /updates\/badupdates\.json/,
      );
      expect(logLines.some((line) => line.includes('500 failed_json_in'))).toBe(true);
      expect((await graph('basearch=x86_64&stream=testing')).nodes).toHaveLength(3);
    });

    it('rebuilds a graph only when a file changes (mtime, size), and sees updates/<stream>.json appear', async () => {
      const single = (version: string): ReleaseIndex => ({
        stream: 'cached',
        metadata: { 'last-modified': '2024-03-01T00:00:00Z' },
        releases: [
          {
            version: RELEASE_VERSIONS[0],
            metadata: 'x',
            commits: [{ architecture: 'x86_64', checksum: checksum('0') }],
          },
          { version, metadata: 'x', commits: [{ architecture: 'x86_64', checksum: checksum('3') }] },
        ],
      });
      const file = await writeUnder(root, 'prod/streams/cached/releases.json', single('39.20240401.2.0'));
      const mtime = 1_750_000_000;
      await utimes(file, mtime, mtime);
      const first = await graph('basearch=x86_64&stream=cached');
      expect(first.nodes.map((node) => node.version)).toEqual([RELEASE_VERSIONS[0], '39.20240401.2.0']);
      expect(first.edges).toEqual([]); // no updates/cached.json: no release is an update target

      // Same size, same mtime: the cached graph is served, the file is not read again.
      await writeUnder(root, 'prod/streams/cached/releases.json', single('39.20240401.2.9'));
      await utimes(file, mtime, mtime);
      expect((await graph('basearch=x86_64&stream=cached')).nodes[1]?.version).toBe('39.20240401.2.0');

      // A new mtime: rebuilt.
      await utimes(file, mtime + 1, mtime + 1);
      expect((await graph('basearch=x86_64&stream=cached')).nodes[1]?.version).toBe('39.20240401.2.9');

      await writeUnder(root, 'updates/cached.json', {
        stream: 'cached',
        metadata: { 'last-modified': '2024-03-01T00:00:00Z' },
        releases: [
          { version: '39.20240401.2.9', metadata: { barrier: { reason: 'https://example.invalid/why' } } },
        ],
      });
      expect((await graph('basearch=x86_64&stream=cached')).edges).toEqual([[0, 1]]);
    });
  });

  describe('FleetLock', () => {
    /** POSTs a FleetLock request for node `id` of `group`, the way Zincati does (no Content-Type). */
    const fleetLock = (endpoint: 'pre-reboot' | 'steady-state', id: string, group: string) =>
      request(server.url, 'POST', `/v1/${endpoint}`, {
        headers: { 'fleet-lock-protocol': 'true' },
        body: JSON.stringify({ client_params: { id, group } }),
      });

    it('gives a 1-slot group to one node at a time: idempotent re-lock, unlock of a non-holder is a no-op', async () => {
      expect((await fleetLock('pre-reboot', 'node-a', 'solo')).status).toBe(200);
      expectError(
        await fleetLock('pre-reboot', 'node-b', 'solo'),
        409,
        'failed_lock',
        /all 1 semaphore slots currently locked/,
      );
      expect((await fleetLock('pre-reboot', 'node-a', 'solo')).status).toBe(200);
      expect(server.fleetLock.holders('solo')).toEqual(['node-a']);
      // node-b holds nothing: releasing succeeds and changes nothing.
      expect((await fleetLock('steady-state', 'node-b', 'solo')).status).toBe(200);
      expect(server.fleetLock.holders('solo')).toEqual(['node-a']);
      expectError(await fleetLock('pre-reboot', 'node-b', 'solo'), 409, 'failed_lock', /currently locked/);
      expect((await fleetLock('steady-state', 'node-a', 'solo')).status).toBe(200);
      expect((await fleetLock('pre-reboot', 'node-b', 'solo')).status).toBe(200);
      expect(server.fleetLock.holders('solo')).toEqual(['node-b']);
      expect(logLines).toContain("fleet-lock: node-b holds a slot of group 'solo' (1/1 held)");
    });

    it('gives other groups the default slots, each group counted on its own', async () => {
      expect((await fleetLock('pre-reboot', 'node-1', 'workers')).status).toBe(200);
      expect((await fleetLock('pre-reboot', 'node-2', 'workers')).status).toBe(200);
      expectError(
        await fleetLock('pre-reboot', 'node-3', 'workers'),
        409,
        'failed_lock',
        /all 2 semaphore slots/,
      );
      expect((await fleetLock('pre-reboot', 'node-3', 'default')).status).toBe(200);
      expect(server.fleetLock.holders('workers')).toEqual(['node-1', 'node-2']);
    });

    it('accepts a JSON Content-Type too (curl, other clients)', async () => {
      const response = await request(server.url, 'POST', '/v1/pre-reboot', {
        headers: { 'fleet-lock-protocol': 'true', 'content-type': 'application/json' },
        body: JSON.stringify({ client_params: { id: 'node-json', group: 'json' } }),
      });
      expect(response.status).toBe(200);
      expect(server.fleetLock.holders('json')).toEqual(['node-json']);
    });

    it('refuses requests that are not FleetLock requests with a client identity', async () => {
      const body = JSON.stringify({ client_params: { id: 'node-x', group: 'refused' } });
      const post = (headers: Record<string, string>, text: string | undefined, endpoint = 'pre-reboot') =>
        request(server.url, 'POST', `/v1/${endpoint}`, {
          headers,
          ...(text === undefined ? {} : { body: text }),
        });
      expectError(await post({}, body), 400, 'invalid_client_identity', /wrong 'fleet-lock-protocol' header/);
      expectError(
        await post({}, body, 'steady-state'),
        400,
        'invalid_client_identity',
        /fleet-lock-protocol/,
      );
      expectError(
        await post({ 'fleet-lock-protocol': 'false' }, body),
        400,
        'invalid_client_identity',
        /fleet-lock-protocol/,
      );
      const protocol = { 'fleet-lock-protocol': 'true' };
      expectError(await post(protocol, '{"client_params": '), 400, 'invalid_client_identity', /not JSON/);
      expectError(await post(protocol, undefined), 400, 'invalid_client_identity', /not JSON/);
      expectError(await post(protocol, '{}'), 400, 'invalid_client_identity', /missing client_params/);
      expectError(
        await post(protocol, JSON.stringify({ client_params: { group: 'refused' } })),
        400,
        'invalid_client_identity',
        /empty client ID/,
      );
      expectError(
        await post(protocol, JSON.stringify({ client_params: { id: 'node-x', group: '' } })),
        400,
        'invalid_client_identity',
        /empty client group/,
      );
      expect(server.fleetLock.holders('refused')).toEqual([]);
      expect((await request(server.url, 'GET', '/v1/pre-reboot')).status).toBe(404);
    });
  });

  describe('static files', () => {
    it('serves GET and HEAD of the published files', async () => {
      const stream = await request(server.url, 'GET', '/streams/testing.json');
      expect(stream.status).toBe(200);
      expect(stream.headers['content-type']).toMatch(/^application\/json/);
      expect(stream.body).toBe(await readFile(path.join(root, 'streams/testing.json'), 'utf8'));
      const release = await request(
        server.url,
        'GET',
        `/prod/streams/testing/builds/${RELEASE_VERSIONS[2]}/release.json`,
      );
      expect(JSON.parse(release.body)).toEqual({ release: RELEASE_VERSIONS[2] });
      expect((await request(server.url, 'GET', '/updates/testing.json')).body).toContain(RELEASE_VERSIONS[2]);
      expect((await request(server.url, 'GET', '/signing-key.asc')).body).toMatch(
        /^-----BEGIN PGP PUBLIC KEY BLOCK-----/,
      );
      const head = await request(server.url, 'HEAD', '/streams/testing.json');
      expect(head.status).toBe(200);
      expect(head.body).toBe('');
      expect(Number(head.headers['content-length'])).toBe(Buffer.byteLength(stream.body));
    });

    it('answers 404 for missing files, directories and dotfiles', async () => {
      for (const missing of [
        '/streams/nope.json',
        '/prod/streams/testing',
        '/prod/streams/testing/',
        '/',
        '/.hidden',
      ]) {
        const response = await request(server.url, 'GET', missing);
        expect(response.status, missing).toBe(404);
        expect(JSON.parse(response.body)).toMatchObject({ kind: 'does_not_exist' });
      }
      expect((await request(server.url, 'HEAD', '/streams/nope.json')).status).toBe(404);
    });

    it('never serves a file outside the root', async () => {
      for (const escapingPath of [
        '/../secret.txt',
        '/streams/../../secret.txt',
        '/%2e%2e/secret.txt',
        '/streams/%2e%2e/%2e%2e/secret.txt',
        '/streams/..%2f..%2fsecret.txt',
        '/..%5csecret.txt',
        '/%00../secret.txt',
      ]) {
        const response = await request(server.url, 'GET', escapingPath);
        // Not found, or (a NUL byte in the path) a bad request: never the file.
        expect([400, 404], escapingPath).toContain(response.status);
        expect(response.body).not.toContain('outside the root');
      }
    });
  });
});

describe('fcos-serve and an ostree client', () => {
  let temp: string;
  let gnupgHome: string;
  let server: RunningServer;
  let goodCommit: string;
  const signerKey: { fingerprint: string; publicKey: string } = { fingerprint: '', publicKey: '' };
  const REF = 'fedora/x86_64/coreos/testing';

  /** Runs gpg with the throwaway keyring. */
  const gpg = (args: string[]) => runTool('gpg', ['--batch', '--homedir', gnupgHome, ...args]);
  /** Generates a signing key for `name` and returns its fingerprint. */
  async function generateKey(name: string): Promise<string> {
    await gpg([
      '--passphrase',
      '',
      '--quick-generate-key',
      `${name} <${name}@example.invalid>`,
      'ed25519',
      'sign',
      'never',
    ]);
    const listing = await gpg(['--with-colons', '--list-keys', `${name}@example.invalid`]);
    const fingerprint = /^fpr:(?:[^:]*:){8}([0-9A-F]{40}):/m.exec(listing.stdout)?.[1];
    if (!fingerprint) throw new Error(`no fingerprint for ${name}`);
    return fingerprint;
  }

  beforeAll(async () => {
    temp = await mkdtemp(path.join(os.tmpdir(), 'fcos-serve-ostree-'));
    gnupgHome = path.join(temp, 'gnupg');
    await mkdir(gnupgHome, { mode: 0o700 });
    signerKey.fingerprint = await generateKey('signer');
    signerKey.publicKey = (await gpg(['--armor', '--export', signerKey.fingerprint])).stdout;
    const strangerKey = await generateKey('stranger');

    const root = path.join(temp, 'publish');
    const repo = path.join(root, 'prod/streams/testing/repo');
    await mkdir(repo, { recursive: true });
    await runTool('ostree', ['init', `--repo=${repo}`, '--mode=archive']);
    const tree = path.join(temp, 'tree');
    await writeUnder(tree, 'usr/bin/hello', '#!/bin/sh\necho hello\n');
    await writeUnder(tree, 'usr/lib/os-release', 'NAME="Tiny CoreOS"\n');
    /** Commits the tree to `ref` (at `timestamp`), signed by `key` unless undefined. */
    const commit = async (ref: string, timestamp: number, key: string | undefined) => {
      const checksum = (
        await runTool('ostree', [
          'commit',
          `--repo=${repo}`,
          `--branch=${ref}`,
          `--timestamp=@${timestamp}`,
          '--subject=test',
          tree,
        ])
      ).stdout.trim();
      if (key)
        await runTool('ostree', ['gpg-sign', `--repo=${repo}`, `--gpg-homedir=${gnupgHome}`, checksum, key]);
      return checksum;
    };
    goodCommit = await commit(REF, 1_700_000_000, signerKey.fingerprint);
    await commit('unsigned', 1_700_000_001, undefined);
    await commit('stranger', 1_700_000_002, strangerKey);
    await runTool('ostree', [
      'summary',
      `--repo=${repo}`,
      '--update',
      `--gpg-sign=${signerKey.fingerprint}`,
      `--gpg-homedir=${gnupgHome}`,
    ]);
    server = await startServer({ root, port: 0 });
  });

  afterAll(async () => {
    await server?.close();
    // gpg (and ostree's gpgme) started an agent for the throwaway home: stop it before deleting it.
    if (gnupgHome) await runTool('gpgconf', ['--homedir', gnupgHome, '--kill', 'all']).catch(() => {});
    if (temp) await rm(temp, { recursive: true, force: true });
  });

  /** A new client repo whose remote `origin` is the served repo, verifying signatures with the signer's key. */
  async function clientRepo(name: string): Promise<string> {
    const repo = path.join(temp, name);
    await runTool('ostree', ['init', `--repo=${repo}`, '--mode=bare-user']);
    await runTool('ostree', [
      'remote',
      'add',
      `--repo=${repo}`,
      '--set=gpg-verify=true',
      '--set=gpg-verify-summary=true',
      'origin',
      `${server.url}/prod/streams/testing/repo`,
    ]);
    await runTool('ostree', ['remote', 'gpg-import', `--repo=${repo}`, '--stdin', 'origin'], {
      input: signerKey.publicKey,
    });
    return repo;
  }

  /** The error of a pull that must fail. */
  async function failedPull(repo: string, ref: string): Promise<ToolError> {
    const error = await runTool('ostree', ['pull', `--repo=${repo}`, 'origin', ref]).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ToolError);
    return error as ToolError;
  }

  it('pulls a signed commit over HTTP, verifying the commit and the summary signatures', async () => {
    const client = await clientRepo('client-good');
    const pulled = await runTool('ostree', ['pull', `--repo=${client}`, 'origin', REF]);
    expect(pulled.stdout + pulled.stderr).toMatch(/metadata, \d+ content objects fetched/);
    expect((await runTool('ostree', ['rev-parse', `--repo=${client}`, `origin:${REF}`])).stdout.trim()).toBe(
      goodCommit,
    );
    const listed = await runTool('ostree', ['ls', `--repo=${client}`, goodCommit, '/usr/bin/hello']);
    expect(listed.stdout).toContain('/usr/bin/hello');
    await runTool('ostree', ['fsck', `--repo=${client}`]);
    const refs = await runTool('ostree', ['remote', 'refs', `--repo=${client}`, 'origin']);
    expect(refs.stdout).toContain(`origin:${REF}`);
  });

  it('refuses an unsigned commit', async () => {
    const error = await failedPull(await clientRepo('client-unsigned'), 'unsigned');
    expect(error.exitCode).not.toBe(0);
    expect(error.message).toMatch(/GPG verification enabled, but no signatures found/);
  });

  it('refuses a commit signed by a key the client does not trust', async () => {
    const error = await failedPull(await clientRepo('client-stranger'), 'stranger');
    expect(error.exitCode).not.toBe(0);
    expect(error.message).toMatch(/signature/i);
    expect(error.message).toMatch(/public key not found/);
  });
});

describe('fcos-serve command line', () => {
  it('defaults to fcos.out/publish on 127.0.0.1:8080 with 2 slots per group', () => {
    expect(parseServeArguments([])).toEqual({
      help: false,
      root: path.resolve('fcos.out/publish'),
      host: '127.0.0.1',
      port: 8080,
      fleetLock: { defaultSlots: 2, groupSlots: {} },
    });
    expect(
      parseServeArguments([
        '--fleet-lock-slots',
        '3',
        '--fleet-lock-group',
        'db=1',
        '--fleet-lock-group',
        'web=0',
      ]).fleetLock,
    ).toEqual({ defaultSlots: 3, groupSlots: { db: 1, web: 0 } });
  });

  it('exits 2 on a usage mistake and 1 when the root is missing', async () => {
    const output: string[] = [];
    const io = { stdout: (text: string) => output.push(text), stderr: (text: string) => output.push(text) };
    expect(await main(['--port', '80000'], io)).toBe(2);
    expect(output.join('')).toMatch(/--port takes a whole number up to 65535, not '80000'/);
    expect(await main(['--fleet-lock-group', 'db'], io)).toBe(2);
    expect(output.join('')).toMatch(/--fleet-lock-group takes NAME=SLOTS/);
    expect(await main(['--root', '/nonexistent/publish', '--port', '0'], io)).toBe(1);
    expect(output.join('')).toMatch(/\/nonexistent\/publish does not exist/);
  });

  it('runs as a bin: prints its URL, serves, and exits 0 on SIGTERM', async () => {
    const temp = await mkdtemp(path.join(os.tmpdir(), 'fcos-serve-bin-'));
    try {
      await writeUnder(temp, 'prod/streams/testing/releases.json', releaseIndex);
      await writeUnder(temp, 'updates/testing.json', updateMetadata);
      const child = execa(
        'node',
        [path.join(REPO_ROOT, 'bin/fcos-serve.js'), '--root', temp, '--port', '0'],
        {
          reject: false,
        },
      );
      const url = await new Promise<string>((resolve, reject) => {
        let printed = '';
        child.stdout?.on('data', (chunk: Buffer) => {
          printed += chunk.toString();
          const match = /^fcos-serve: serving .* at (http:\/\/127\.0\.0\.1:\d+)$/m.exec(printed);
          if (match) resolve(match[1]!);
        });
        let errors = '';
        child.stderr?.on('data', (chunk: Buffer) => {
          errors += chunk.toString();
        });
        child.on('exit', (code) =>
          reject(new Error(`fcos-serve exited (${code}) before listening:\n${printed}${errors}`)),
        );
      });
      const response = await request(
        url,
        'GET',
        '/v1/graph?basearch=x86_64&stream=testing&rollout_wariness=0',
      );
      expect(response.status).toBe(200);
      expect((JSON.parse(response.body) as UpdateGraph).nodes).toHaveLength(3);
      child.kill('SIGTERM');
      const result = await child;
      expect(result.exitCode).toBe(0);
      expect(result.stderr).toContain('fcos-serve: stopped (received SIGTERM)');
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  });
});
