/**
 * The tiny OS's update agent (local-os/packages/update-agent/) run on the host by busybox's shell,
 * as in the guest, through `update-agent check`: its decisions against fcos-serve's real update
 * graph at a fixed clock (rollout wariness, a dead-end, the denylist greenboot's rollbacks feed),
 * against a hand-made graph server for what fcos-serve never sends (a downgrade edge, an unknown
 * payload scheme, a document that is not a graph), an unreachable server, and the configuration's
 * override order (/usr/lib then /etc, later wins) with its TOML reader. The guest runs the same script
 * (test/update-test.test.ts boots it).
 */

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReleaseIndex, UpdateMetadataDocument } from '../lib/release/formats.ts';
import { type RunningServer, startServer } from '../lib/serve/server.ts';

const AGENT_DIRECTORY = path.resolve(import.meta.dirname, '../local-os/packages/update-agent');
/** Unix seconds at which the fixture's rollout starts; the server's clock is fixed halfway. */
const ROLLOUT_START = 1_790_000_000;
const VERSIONS = ['41.20261001.2.0', '41.20261101.2.0'] as const;
const CHECKSUMS = ['1'.repeat(64), '2'.repeat(64)] as const;

/** The release index of the fixture: two releases with x86_64 commits. */
const releaseIndex: ReleaseIndex = {
  stream: 'testing',
  metadata: { 'last-modified': '2026-11-01T00:00:00Z' },
  releases: VERSIONS.map((version, index) => ({
    version,
    metadata: `http://127.0.0.1:8080/prod/streams/testing/builds/${version}/release.json`,
    commits: [{ architecture: 'x86_64', checksum: CHECKSUMS[index]! }],
  })),
};

/** Update metadata: the newer release rolling out over an hour from ROLLOUT_START; the older one maybe a dead-end. */
function updateMetadata(deadEnd: boolean): UpdateMetadataDocument {
  return {
    stream: 'testing',
    metadata: { 'last-modified': '2026-11-01T00:00:00Z' },
    releases: [
      ...(deadEnd
        ? [{ version: VERSIONS[0], metadata: { deadend: { reason: 'https://example.com/issue/1' } } }]
        : []),
      {
        version: VERSIONS[1],
        metadata: { rollout: { start_epoch: ROLLOUT_START, start_percentage: 0, duration_minutes: 60 } },
      },
    ],
  };
}

/** Writes JSON or text under `root`, creating directories. */
async function writeUnder(root: string, relative: string, content: unknown): Promise<void> {
  const file = path.join(root, relative);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, typeof content === 'string' ? content : `${JSON.stringify(content)}\n`);
}

/** What one `update-agent check` run printed and how it ended. */
interface AgentRun {
  readonly lines: string[];
  readonly exitCode: number | undefined;
}

describe('update-agent decisions', () => {
  let temp: string;
  let publishRoot: string;
  let server: RunningServer;
  let graphServer: http.Server;
  let graphUrl: string;
  /** The document the hand-made graph server answers with. */
  let handMadeGraph: unknown = {};

  beforeAll(async () => {
    temp = await mkdtemp(path.join(os.tmpdir(), 'update-agent-'));
    publishRoot = path.join(temp, 'publish');
    await writeUnder(publishRoot, 'prod/streams/testing/releases.json', releaseIndex);
    await writeUnder(publishRoot, 'updates/testing.json', updateMetadata(false));
    server = await startServer({ root: publishRoot, port: 0, now: () => (ROLLOUT_START + 30 * 60) * 1000 });
    graphServer = http.createServer((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(handMadeGraph));
    });
    await new Promise<void>((resolve) => graphServer.listen(0, '127.0.0.1', resolve));
    graphUrl = `http://127.0.0.1:${(graphServer.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await server?.close();
    await new Promise((resolve) => graphServer?.close(resolve));
    await rm(temp, { recursive: true, force: true });
  });

  /** Runs `update-agent check` for a booted release with TOML fragments as /usr/lib and /etc config. */
  async function check(options: {
    booted: 0 | 1 | string;
    etc: string;
    usrLib?: string;
    rollbacks?: string;
  }): Promise<AgentRun> {
    const case_ = await mkdtemp(path.join(temp, 'case-'));
    await writeUnder(case_, 'usr-lib/config.d/10-defaults.toml', options.usrLib ?? '');
    await writeUnder(case_, 'etc/config.d/50-test.toml', options.etc);
    if (options.rollbacks !== undefined) await writeUnder(case_, 'rollbacks', options.rollbacks);
    const checksum = typeof options.booted === 'number' ? CHECKSUMS[options.booted] : options.booted;
    const version = typeof options.booted === 'number' ? VERSIONS[options.booted] : '0';
    const result = await execa(
      'busybox',
      [
        'sh',
        path.join(AGENT_DIRECTORY, 'update-agent.sh'),
        'check',
        ...['--checksum', checksum, '--version', version, '--stream', 'testing', '--basearch', 'x86_64'],
      ],
      {
        reject: false,
        timeout: 60_000,
        env: {
          UPDATE_AGENT_LIBRARY: AGENT_DIRECTORY,
          UPDATE_AGENT_CONFIG_DIRS: `${path.join(case_, 'usr-lib/config.d')} ${path.join(case_, 'etc/config.d')}`,
          GREENBOOT_ROLLBACKS: path.join(case_, 'rollbacks'),
        },
      },
    );
    return {
      lines: `${result.stdout}\n${result.stderr}`.split('\n').filter((line) => line !== ''),
      exitCode: result.exitCode,
    };
  }

  /** The agent config pointing at fcos-serve with `wariness`. */
  function servedConfig(wariness: number): string {
    return `[cincinnati]\nbase_url = "${server.url}"\n[identity]\nrollout_wariness = ${wariness}\n`;
  }

  it('is offered a rollout only when its wariness is at or below the threshold at the server clock (0.5)', async () => {
    const eager = await check({ booted: 0, etc: servedConfig(0.1) });
    expect(eager.lines).toEqual([
      `FCOS-CDK: agent update available version=${VERSIONS[1]} checksum=${CHECKSUMS[1]}`,
    ]);
    const wary = await check({ booted: 0, etc: servedConfig(0.9) });
    expect(wary.lines).toEqual(['FCOS-CDK: agent update none']);
  });

  it('never retries a version greenboot rolled back from', async () => {
    const run = await check({
      booted: 0,
      etc: servedConfig(0.1),
      rollbacks: `1790000000 ${CHECKSUMS[1]} ${VERSIONS[1]} required health check failed: 50-always-fails\n`,
    });
    expect(run.lines).toEqual([
      `FCOS-CDK: agent update skipped version=${VERSIONS[1]} reason=denylisted`,
      'FCOS-CDK: agent update none',
    ]);
  });

  it('reports a dead-end booted release (and has no update from it)', async () => {
    await writeUnder(publishRoot, 'updates/testing.json', updateMetadata(true));
    try {
      const run = await check({ booted: 0, etc: servedConfig(0.1) });
      expect(run.lines).toEqual([
        'FCOS-CDK: agent dead-end https://example.com/issue/1',
        'FCOS-CDK: agent update none',
      ]);
    } finally {
      await writeUnder(publishRoot, 'updates/testing.json', updateMetadata(false));
    }
  });

  it('finds nothing to do when the booted commit is not in the graph', async () => {
    const run = await check({ booted: 'f'.repeat(64), etc: servedConfig(0.1) });
    expect(run.lines).toEqual([`FCOS-CDK: agent update none (booted ${'f'.repeat(64)} is not in the graph)`]);
  });

  it('skips downgrades and unknown payloads, and takes the newest remaining target by age_index', async () => {
    const node = (version: string, payload: string, age: number, scheme = 'checksum') => ({
      version,
      payload,
      metadata: {
        'org.fedoraproject.coreos.scheme': scheme,
        'org.fedoraproject.coreos.releases.age_index': String(age),
      },
    });
    handMadeGraph = {
      nodes: [
        node('1.0', 'a'.repeat(64), 0),
        node('2.0', 'b'.repeat(64), 1),
        node('3.0', 'c'.repeat(64), 2),
        node('4.0', 'quay.io/fedora/fedora-coreos:4.0', 3, 'oci'),
      ],
      edges: [
        [1, 0],
        [1, 2],
        [1, 3],
      ],
    };
    const run = await check({ booted: 'b'.repeat(64), etc: `[cincinnati]\nbase_url = "${graphUrl}"\n` });
    expect(run.lines).toEqual([
      'FCOS-CDK: agent update skipped version=1.0 reason=downgrade',
      'FCOS-CDK: agent update skipped version=4.0 reason=unknown-payload',
      `FCOS-CDK: agent update available version=3.0 checksum=${'c'.repeat(64)}`,
    ]);
  });

  it('reports a document that is not a graph, and an unreachable server (check exits 1; run carries on)', async () => {
    handMadeGraph = { kind: 'surprise' };
    const invalid = await check({ booted: 0, etc: `[cincinnati]\nbase_url = "${graphUrl}"\n` });
    expect(invalid.lines).toEqual(['FCOS-CDK: agent error graph: not a Cincinnati graph']);
    expect(invalid.exitCode).toBe(1);
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = await check({
      booted: 0,
      etc: `[cincinnati]\nbase_url = "http://127.0.0.1:${port}"\n`,
    });
    expect(unreachable.lines).toHaveLength(1);
    expect(unreachable.lines[0]).toMatch(
      /^FCOS-CDK: agent error graph: curl: \(7\) .*Could(n't| not) connect/,
    );
    expect(unreachable.exitCode).toBe(1);
  });

  it('reads /usr/lib then /etc fragments, the later winning, and names a line it cannot read', async () => {
    const run = await check({
      booted: 0,
      usrLib: '[cincinnati]\nbase_url = "http://127.0.0.1:1"\n[identity]\nrollout_wariness = 0.9\n',
      etc: `# the user's override\n[cincinnati]\nbase_url = '${server.url}' # fcos-serve\n[identity]\nrollout_wariness = 0.1\nnot toml at all\n`,
    });
    expect(run.lines).toContain(
      `FCOS-CDK: agent update available version=${VERSIONS[1]} checksum=${CHECKSUMS[1]}`,
    );
    expect(
      run.lines.some((line) => /50-test\.toml:6: not understood, ignored: not toml at all$/.test(line)),
    ).toBe(true);
  });

  it('allows a periodic reboot only inside a maintenance window (UTC day and time)', async () => {
    const config = await mkdtemp(path.join(temp, 'window-'));
    await writeUnder(
      config,
      'config.d/50-windows.toml',
      [
        '[updates]',
        'strategy = "periodic"',
        '[[updates.periodic.window]]',
        'days = [ "Sat", "Sun" ]',
        'start_time = "22:30"',
        'length_minutes = 60',
        '[[updates.periodic.window]]',
        "days = [ 'Wed' ]",
        'start_time = "03:00"',
        '',
      ].join('\n'),
    );
    /** `update-agent window` at Unix time `seconds`. */
    const windowAt = (seconds: number) =>
      execa('busybox', ['sh', path.join(AGENT_DIRECTORY, 'update-agent.sh'), 'window'], {
        reject: false,
        timeout: 30_000,
        env: {
          UPDATE_AGENT_LIBRARY: AGENT_DIRECTORY,
          UPDATE_AGENT_CONFIG_DIRS: path.join(config, 'config.d'),
          UPDATE_AGENT_CLOCK: String(seconds),
        },
      });
    const at = (iso: string) => Date.parse(iso) / 1000;
    // 2026-11-28 is a Saturday, 2026-12-02 a Wednesday.
    const cases: [string, string][] = [
      ['2026-11-28T22:45:00Z', 'inside'],
      ['2026-11-28T23:30:00Z', 'outside'],
      ['2026-11-28T22:29:00Z', 'outside'],
      ['2026-11-29T23:29:00Z', 'inside'],
      ['2026-11-30T22:45:00Z', 'outside'],
      ['2026-12-02T03:59:00Z', 'inside'],
      ['2026-12-02T04:00:00Z', 'outside'],
    ];
    for (const [time, expected] of cases) {
      const result = await windowAt(at(time));
      expect(`${time} ${result.stdout}`).toBe(`${time} ${expected}`);
      expect(result.exitCode).toBe(expected === 'inside' ? 0 : 1);
    }
  });
});
