/**
 * Signing with real gpg and ostree: the throwaway key (generated once, one key when two nodes race),
 * keys named by the environment (a GnuPG home, an armored key file imported into a private home
 * that is removed with its agent), detached file signatures, and ostree commit and summary
 * signatures that a client with gpg-verify accepts, without changing the commit's checksum.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runTool, type ToolExec } from '../lib/exec.ts';
import {
  ensureThrowawayKey,
  exportPublicKey,
  importPublicKeys,
  listKeys,
  OstreeClientCheck,
  repositoryRefs,
  resolveSigningKey,
  type SigningKey,
  SigningKeyError,
  signFile,
  signingKeyFingerprint,
  signOstreeCommit,
  stopAgent,
  summaryRefs,
  throwawayHomeOf,
  updateSummary,
  verifyFileSignature,
} from '../lib/signing/index.ts';
import { makeTempDir } from './helpers/temp-project.ts';

const logLines: string[] = [];
const exec: ToolExec = (file, args, options) =>
  runTool(file, args, { ...options, log: (line) => logLines.push(line) });

/** Homes whose agents the test started itself (stopped after the file). */
const homesToStop: string[] = [];
afterAll(async () => {
  for (const home of homesToStop) await stopAgent(home);
});

/** A new GnuPG home with `count` fresh signing keys (no passphrase); returns it and their fingerprints. */
async function homeWithKeys(count: number): Promise<{ home: string; fingerprints: string[] }> {
  const home = path.join(await makeTempDir('fcos-gpg-'), 'home');
  await mkdir(home, { mode: 0o700 });
  homesToStop.push(home);
  for (let index = 0; index < count; index++) {
    await exec('gpg', [
      '--homedir',
      home,
      '--batch',
      '--passphrase',
      '',
      '--quick-generate-key',
      `Test Key ${index} <key${index}@example.com>`,
      'ed25519',
      'sign',
      'never',
    ]);
  }
  const keys = await listKeys(exec, home, { secret: false });
  return { home, fingerprints: keys.map((key) => key.fingerprint) };
}

/** Pids of the gpg-agents running for `home` (read from /proc). */
async function agentsOf(home: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const commandLine = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const words = commandLine.split('\0');
    if (path.basename(words[0] ?? '') === 'gpg-agent' && words.includes(home)) pids.push(Number(entry));
  }
  return pids;
}

/** A tiny archive repository with one commit; returns it and the commit. */
async function tinyRepository(): Promise<{ repo: string; checksum: string; ref: string }> {
  const directory = await makeTempDir('fcos-ostree-');
  const repo = path.join(directory, 'repo');
  const tree = path.join(directory, 'tree');
  await mkdir(path.join(tree, 'usr/bin'), { recursive: true });
  await writeFile(path.join(tree, 'usr/bin/hello'), '#!/bin/sh\necho hello\n');
  await exec('ostree', ['init', '--mode=archive', `--repo=${repo}`]);
  const ref = 'fedora/x86_64/coreos/testing';
  const committed = await exec('ostree', [
    `--repo=${repo}`,
    'commit',
    `--branch=${ref}`,
    `--tree=dir=${tree}`,
    '--parent=none',
    '--timestamp=@1700000000',
    '--owner-uid=0',
    '--owner-gid=0',
    '--no-xattrs',
    '--subject=tiny',
  ]);
  return { repo, checksum: committed.stdout.trim(), ref };
}

/** sha256 of a file. */
async function digestOf(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

describe('the throwaway key', () => {
  it('is generated once under the cache (0700) and reused', async () => {
    const cache = await makeTempDir('fcos-cache-');
    const home = await ensureThrowawayKey(exec, cache);
    expect(home).toBe(throwawayHomeOf(cache));
    expect(home).toBe(path.join(cache, 'signing', 'gnupg'));
    expect((await stat(home)).mode & 0o777).toBe(0o700);
    expect((await stat(path.dirname(home))).mode & 0o777).toBe(0o700);
    const [key] = await listKeys(exec, home, { secret: false });
    expect(key?.canSign).toBe(true);
    expect(await agentsOf(home)).toEqual([]);
    expect((await readdir(home)).filter((name) => name.startsWith('S.'))).toEqual([]);
    const mtime = (await stat(path.join(home, 'pubring.kbx'))).mtimeMs;
    expect(await ensureThrowawayKey(exec, cache)).toBe(home);
    expect((await stat(path.join(home, 'pubring.kbx'))).mtimeMs).toBe(mtime);
  });

  it('ends with one key when nodes generate it at the same time', async () => {
    const cache = await makeTempDir('fcos-cache-');
    const fingerprints = await Promise.all(
      [1, 2, 3].map(async (index) =>
        signingKeyFingerprint(exec, {
          mode: 'throwaway',
          environment: {},
          cacheDirectory: cache,
          nodePath: `Publish${index}`,
        }),
      ),
    );
    expect(new Set(fingerprints).size).toBe(1);
    expect(fingerprints[0]).toMatch(/^[0-9A-F]{40}$/);
    expect(await readdir(path.join(cache, 'signing'))).toEqual(['gnupg']);
    expect((await listKeys(exec, throwawayHomeOf(cache), { secret: false })).length).toBe(1);
  });

  it('tells its fingerprint without running gpg once it exists (a Publish fingerprint runs every run)', async () => {
    const cache = await makeTempDir('fcos-cache-');
    const request = {
      mode: 'throwaway' as const,
      environment: {},
      cacheDirectory: cache,
      nodePath: 'Publish',
    };
    const generated = await signingKeyFingerprint(exec, request);
    const [key] = await listKeys(exec, throwawayHomeOf(cache), { secret: false });
    expect(generated).toBe(key!.fingerprint);
    const noTools: typeof exec = () => Promise.reject(new Error('no tool may run'));
    expect(await signingKeyFingerprint(noTools, request)).toBe(generated);
  });

  it("signs in a private copy whose agent is stopped and removed with it, the cache's home untouched", async () => {
    const cache = await makeTempDir('fcos-cache-');
    // A work directory deep enough that gpg-agent's socket path would not fit in it.
    const workDir = path.join(await makeTempDir('fcos-work-'), 'x'.repeat(90));
    await mkdir(workDir);
    const key = await resolveSigningKey(exec, {
      mode: 'throwaway',
      environment: {},
      workDir,
      cacheDirectory: cache,
      nodePath: 'Publish',
    });
    expect(key?.source).toBe('throwaway');
    const file = path.join(workDir, 'file');
    await writeFile(file, 'content\n');
    await signFile(exec, key!, file);
    expect((await verifyFileSignature(exec, key!, file)).valid).toBe(true);
    const privateHome = path.join(workDir, 'gnupg');
    expect(existsSync(privateHome)).toBe(true);
    expect(await agentsOf(key!.gnupgHome)).toHaveLength(1);
    await key!.release();
    expect(existsSync(privateHome)).toBe(false);
    expect(await agentsOf(key!.gnupgHome)).toEqual([]);
    expect(await agentsOf(throwawayHomeOf(cache))).toEqual([]);
  });
});

describe('keys named by the environment', () => {
  it('signs with nothing when the environment names no key and the node asks for environment or none', async () => {
    const workDir = await makeTempDir('fcos-work-');
    const request = { environment: {}, workDir, nodePath: 'Publish' };
    expect(await resolveSigningKey(exec, { ...request, mode: 'environment' })).toBeUndefined();
    const { home } = await homeWithKeys(1);
    expect(
      await resolveSigningKey(exec, {
        ...request,
        mode: 'none',
        environment: { FCOS_SIGNING_GNUPGHOME: home },
      }),
    ).toBeUndefined();
  });

  it('uses a GnuPG home in place, choosing with FCOS_SIGNING_KEY_ID among several keys', async () => {
    const { home, fingerprints } = await homeWithKeys(2);
    const workDir = await makeTempDir('fcos-work-');
    const request = { mode: 'environment' as const, workDir, nodePath: 'Releases/Publish' };
    const ambiguous = resolveSigningKey(exec, { ...request, environment: { FCOS_SIGNING_GNUPGHOME: home } });
    await expect(ambiguous).rejects.toThrow(SigningKeyError);
    await expect(ambiguous).rejects.toThrow(/holds 2 secret keys .*set FCOS_SIGNING_KEY_ID/);
    await expect(ambiguous).rejects.toMatchObject({ constructPath: 'Releases/Publish', field: 'signing' });
    const key = await resolveSigningKey(exec, {
      ...request,
      environment: { FCOS_SIGNING_GNUPGHOME: home, FCOS_SIGNING_KEY_ID: fingerprints[1]! },
    });
    expect(key).toMatchObject({ fingerprint: fingerprints[1], source: 'gnupg-home' });
    await key!.release();
    // The user's home is theirs: still there after the node.
    expect(existsSync(path.join(home, 'pubring.kbx'))).toBe(true);
    // 'throwaway' still prefers the key the environment names.
    const preferred = await resolveSigningKey(exec, {
      ...request,
      mode: 'throwaway',
      environment: { FCOS_SIGNING_GNUPGHOME: home, FCOS_SIGNING_KEY_ID: fingerprints[0]! },
    });
    expect(preferred?.fingerprint).toBe(fingerprints[0]);
  });

  it('imports FCOS_SIGNING_KEY_FILE into a private home in the work directory, removed after the node', async () => {
    const { home, fingerprints } = await homeWithKeys(1);
    const secretKeyFile = path.join(await makeTempDir('fcos-key-'), 'secret.asc');
    const exported = await exec('gpg', ['--homedir', home, '--batch', '--armor', '--export-secret-keys'], {
      quietStdout: true,
    });
    await writeFile(secretKeyFile, exported.stdout, { mode: 0o600 });
    const workDir = await makeTempDir('fcos-work-');
    logLines.length = 0;
    const key = await resolveSigningKey(exec, {
      mode: 'environment',
      environment: { FCOS_SIGNING_KEY_FILE: secretKeyFile },
      workDir,
      nodePath: 'Publish',
    });
    expect(key).toMatchObject({ fingerprint: fingerprints[0], source: 'key-file' });
    expect(path.dirname(await realPathOf(key!.gnupgHome))).toBe(workDir);
    const file = path.join(workDir, 'image.raw');
    await writeFile(file, Buffer.alloc(4096, 7));
    await signFile(exec, key!, file);
    await key!.release();
    expect(existsSync(path.join(workDir, 'gnupg'))).toBe(false);
    expect(await agentsOf(key!.gnupgHome)).toEqual([]);
    // Nothing of the key's material reached the log: the armored block nor a line of it.
    const log = logLines.join('\n');
    expect(log).not.toContain('PRIVATE KEY');
    for (const line of exported.stdout.split('\n').filter((text) => text.length > 20)) {
      expect(log).not.toContain(line);
    }
    // The signature verifies for a client that has only the public key.
    const verifierHome = path.join(await makeTempDir('fcos-gpg-'), 'home');
    await mkdir(verifierHome, { mode: 0o700 });
    homesToStop.push(verifierHome);
    const publicKeyFile = path.join(workDir, 'signing-key.asc');
    await writeFile(
      publicKeyFile,
      await exportPublicKey(exec, { gnupgHome: home, fingerprint: fingerprints[0]! }),
    );
    expect(await importPublicKeys(exec, verifierHome, publicKeyFile)).toEqual([fingerprints[0]]);
    expect(
      await verifyFileSignature(exec, { gnupgHome: verifierHome, fingerprint: fingerprints[0]! }, file),
    ).toEqual({ valid: true, signer: fingerprints[0] });
  });

  it('says what is wrong with a key file that is not a key, naming the variable', async () => {
    const notAKey = path.join(await makeTempDir('fcos-key-'), 'secret.asc');
    await writeFile(notAKey, 'not a key\n');
    await expect(
      resolveSigningKey(exec, {
        mode: 'environment',
        environment: { FCOS_SIGNING_KEY_FILE: notAKey },
        workDir: await makeTempDir('fcos-work-'),
        nodePath: 'Publish',
      }),
    ).rejects.toThrow(/FCOS_SIGNING_KEY_FILE|no secret key/);
  });
});

/** The real path of `file` (a key's home may be a short link to it). */
async function realPathOf(file: string): Promise<string> {
  const { realpath } = await import('node:fs/promises');
  return realpath(file);
}

describe('signatures', () => {
  let key: SigningKey;
  let other: { home: string; fingerprints: string[] };

  it('makes detached binary signatures that verify, and only for the same content and key', async () => {
    const { home, fingerprints } = await homeWithKeys(1);
    other = await homeWithKeys(1);
    key = (await resolveSigningKey(exec, {
      mode: 'environment',
      environment: { FCOS_SIGNING_GNUPGHOME: home },
      workDir: await makeTempDir('fcos-work-'),
      nodePath: 'Publish',
    }))!;
    expect(key.fingerprint).toBe(fingerprints[0]);
    const directory = await makeTempDir('fcos-files-');
    const file = path.join(directory, 'fedora-coreos-41.qcow2.xz');
    await writeFile(file, Buffer.alloc(65536, 3));
    expect(await signFile(exec, key, file)).toBe(`${file}.sig`);
    const signature = await readFile(`${file}.sig`);
    // Binary OpenPGP (a packet tag byte), not armored text: what Fedora CoreOS ships.
    expect(signature.subarray(0, 5).toString('latin1')).not.toBe('-----');
    expect(signature[0]! & 0x80).toBe(0x80);
    expect(await verifyFileSignature(exec, key, file)).toEqual({ valid: true, signer: key.fingerprint });
    expect(
      (await verifyFileSignature(exec, { gnupgHome: other.home, fingerprint: other.fingerprints[0]! }, file))
        .valid,
    ).toBe(false);
    await writeFile(file, Buffer.alloc(65536, 4));
    expect((await verifyFileSignature(exec, key, file)).valid).toBe(false);
    await writeFile(`${file}.sig`, 'garbage');
    expect((await verifyFileSignature(exec, key, file)).valid).toBe(false);
  });

  it('signs an ostree commit without changing its checksum, once, so a gpg-verifying client accepts it', async () => {
    const { repo, checksum, ref } = await tinyRepository();
    const commitObject = path.join(repo, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.commit`);
    const commitDigest = await digestOf(commitObject);
    const scratch = await makeTempDir('fcos-client-');
    const client = new OstreeClientCheck(exec, key, repo, path.join(scratch, 'first'));
    expect(await client.commitIsSigned(checksum)).toBe(false);
    expect(await signOstreeCommit(exec, key, repo, checksum, client)).toBe('signed');
    expect((await exec('ostree', ['rev-parse', `--repo=${repo}`, ref])).stdout.trim()).toBe(checksum);
    expect(await digestOf(commitObject)).toBe(commitDigest);
    const commitMeta = commitObject.replace(/\.commit$/, '.commitmeta');
    const signedMeta = await digestOf(commitMeta);
    const again = new OstreeClientCheck(exec, key, repo, path.join(scratch, 'second'));
    expect(await again.commitIsSigned(checksum)).toBe(true);
    expect(await signOstreeCommit(exec, key, repo, checksum, again)).toBe('already-signed');
    expect(await digestOf(commitMeta)).toBe(signedMeta);
    // A client trusting another key refuses it.
    const foreign = new OstreeClientCheck(
      exec,
      { gnupgHome: other.home, fingerprint: other.fingerprints[0]! },
      repo,
      path.join(scratch, 'foreign'),
    );
    expect(await foreign.commitIsSigned(checksum)).toBe(false);

    expect(await summaryRefs(exec, repo)).toBeUndefined();
    await updateSummary(exec, repo, key);
    expect(await summaryRefs(exec, repo)).toEqual(await repositoryRefs(exec, repo));
    expect(await summaryRefs(exec, repo)).toEqual(new Map([[ref, checksum]]));
    const verified = new OstreeClientCheck(exec, key, repo, path.join(scratch, 'summary'));
    expect(await verified.summaryIsSigned()).toBe(true);
    expect(await foreign.summaryIsSigned()).toBe(false);

    // A real client: pull the whole commit with gpg-verify and gpg-verify-summary on.
    const pulled = path.join(scratch, 'pulled');
    await exec('ostree', ['init', '--mode=archive', `--repo=${pulled}`]);
    const keyFile = path.join(scratch, 'key.asc');
    await writeFile(keyFile, await exportPublicKey(exec, key));
    await exec('ostree', [
      `--repo=${pulled}`,
      'remote',
      'add',
      '--set=gpg-verify=true',
      '--set=gpg-verify-summary=true',
      `--gpg-import=${keyFile}`,
      'origin',
      `file://${repo}`,
    ]);
    await exec('ostree', [`--repo=${pulled}`, 'pull', 'origin', ref]);
    expect((await exec('ostree', ['rev-parse', `--repo=${pulled}`, `origin:${ref}`])).stdout.trim()).toBe(
      checksum,
    );
    await key.release();
  });
});
