/**
 * Signing an ostree repository as Fedora CoreOS does: each commit gets a GPG signature in its
 * detached metadata (`ostree gpg-sign`, which leaves the commit and its checksum as they are), and
 * the summary gets `summary.sig` (`ostree summary -u --gpg-sign`). ostree 2022.7 adds another
 * signature each time it signs, and a summary carries the time it was made, so signing is skipped
 * when a client with the key would already accept what is there: the check is a real client (a
 * scratch repository with the public key imported into a remote, pulling with gpg-verify), so no
 * GVariant is parsed here.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ToolExec } from '../exec.ts';
import { exportPublicKey, type SignatureVerifier } from './file-signatures.ts';
import type { SigningKey } from './signing-key.ts';

/** What {@link signOstreeCommit} did. */
export type CommitSigning = 'signed' | 'already-signed';

/**
 * Signs commit `checksum` of `repo` with `key` unless the commit already carries a good signature
 * of that key (`client` checks; without one, it signs). The commit's checksum does not change.
 */
export async function signOstreeCommit(
  exec: ToolExec,
  key: SigningKey,
  repo: string,
  checksum: string,
  client?: OstreeClientCheck,
): Promise<CommitSigning> {
  if (client && (await client.commitIsSigned(checksum))) return 'already-signed';
  await exec('ostree', [
    'gpg-sign',
    `--repo=${repo}`,
    `--gpg-homedir=${key.gnupgHome}`,
    checksum,
    key.fingerprint,
  ]);
  return 'signed';
}

/** Regenerates the summary of `repo`, signed (`summary.sig`) when a key is given. */
export async function updateSummary(
  exec: ToolExec,
  repo: string,
  key: SigningKey | undefined,
): Promise<void> {
  await exec('ostree', [
    'summary',
    '--update',
    `--repo=${repo}`,
    ...(key ? [`--gpg-sign=${key.fingerprint}`, `--gpg-homedir=${key.gnupgHome}`] : []),
  ]);
}

/** The refs of `repo` and the commits they point at. */
export async function repositoryRefs(exec: ToolExec, repo: string): Promise<Map<string, string>> {
  const listed = await exec('ostree', ['refs', `--repo=${repo}`], { quietStdout: true });
  const refs = new Map<string, string>();
  for (const ref of listed.stdout.split('\n').map((line) => line.trim())) {
    if (!ref) continue;
    const parsed = await exec('ostree', ['rev-parse', `--repo=${repo}`, ref], { quietStdout: true });
    refs.set(ref, parsed.stdout.trim());
  }
  return refs;
}

/** The refs the summary of `repo` lists (undefined when there is no summary), from `ostree summary --view`. */
export async function summaryRefs(exec: ToolExec, repo: string): Promise<Map<string, string> | undefined> {
  const result = await exec('ostree', ['summary', '--view', `--repo=${repo}`], {
    okExitCodes: [0, 1],
    quietStdout: true,
  });
  if (result.exitCode !== 0) return undefined;
  const refs = new Map<string, string>();
  let ref: string | undefined;
  for (const line of result.stdout.split('\n')) {
    const named = /^\* (\S+)\s*$/.exec(line);
    if (named) {
      ref = named[1];
      continue;
    }
    const checksum = /^\s+([0-9a-f]{64})\s*$/.exec(line);
    if (checksum && ref !== undefined && !refs.has(ref)) refs.set(ref, checksum[1]!);
  }
  return refs;
}

/**
 * A scratch client of a repository: an empty repository whose remotes point at `repo` (file://)
 * with the verifier's public key imported and GPG verification on, as a machine pulling from the
 * published repository would have it. Answers whether a commit or the summary is signed so that
 * such a client accepts it.
 */
export class OstreeClientCheck {
  private ready: Promise<string> | undefined;

  constructor(
    private readonly exec: ToolExec,
    private readonly verifier: SignatureVerifier,
    private readonly repo: string,
    private readonly scratchDirectory: string,
  ) {}

  /** Whether a client pulling commit `checksum` with gpg-verify=true accepts it. */
  async commitIsSigned(checksum: string): Promise<boolean> {
    const client = await this.client();
    const result = await this.exec(
      'ostree',
      [`--repo=${client}`, 'pull', '--commit-metadata-only', 'commits', checksum],
      { okExitCodes: [0, 1] },
    );
    return result.exitCode === 0;
  }

  /** Whether a client with gpg-verify-summary=true accepts the summary (and its `summary.sig`). */
  async summaryIsSigned(): Promise<boolean> {
    const client = await this.client();
    const result = await this.exec('ostree', [`--repo=${client}`, 'remote', 'refs', 'summary'], {
      okExitCodes: [0, 1],
      quietStdout: true,
    });
    return result.exitCode === 0;
  }

  /** The scratch client repository, made on first use. */
  private client(): Promise<string> {
    this.ready ??= (async () => {
      const client = path.join(this.scratchDirectory, 'client-repo');
      await mkdir(this.scratchDirectory, { recursive: true });
      const keyFile = path.join(this.scratchDirectory, 'signing-key.asc');
      await writeFile(keyFile, await exportPublicKey(this.exec, this.verifier));
      await this.exec('ostree', ['init', '--mode=archive', `--repo=${client}`]);
      const url = pathToFileURL(this.repo).href;
      for (const [name, verifySummary] of [
        ['commits', 'false'],
        ['summary', 'true'],
      ] as const) {
        await this.exec('ostree', [
          `--repo=${client}`,
          'remote',
          'add',
          '--set=gpg-verify=true',
          `--set=gpg-verify-summary=${verifySummary}`,
          `--gpg-import=${keyFile}`,
          name,
          url,
        ]);
      }
      return client;
    })();
    return this.ready;
  }
}
