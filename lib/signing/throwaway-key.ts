/**
 * The throwaway signing key of local builds: generated on first use in the cache
 * (`<cache>/signing/gnupg`, mode 0700) with no passphrase, and reused afterwards, so a local
 * destination stays verifiable across runs without anyone managing a key. Two nodes generating at
 * once each build a complete home in a directory of their own and rename it into place: the first
 * rename wins, the loser discards its key and uses the winner's, so one key remains.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ToolExec } from '../exec.ts';
import { SigningKeyError } from './errors.ts';
import { gpgArguments, listKeys, openGnupgHome, stopAgent } from './gnupg-home.ts';

/** The user id of the throwaway key: says what it is to whoever finds it in a keyring. */
export const THROWAWAY_USER_ID = 'fcos-cdk throwaway signing key (local builds only) <fcos-cdk@localhost>';

/** The throwaway key's home under the cache directory `cacheDirectory`. */
export function throwawayHomeOf(cacheDirectory: string): string {
  return path.join(cacheDirectory, 'signing', 'gnupg');
}

/** The file beside the throwaway key holding its fingerprint (public, like the key's id). */
const FINGERPRINT_FILE = 'fcos-cdk-fingerprint';

/** The throwaway key's fingerprint when the key exists and recorded it; undefined otherwise. */
export async function throwawayKeyFingerprint(cacheDirectory: string): Promise<string | undefined> {
  const text = await readFile(path.join(throwawayHomeOf(cacheDirectory), FINGERPRINT_FILE), 'utf8').catch(
    () => undefined,
  );
  const fingerprint = text?.trim();
  return fingerprint && /^[0-9A-F]{40,64}$/.test(fingerprint) ? fingerprint : undefined;
}

/** Records `fingerprint` beside the throwaway key (atomically; the key itself is untouched). */
export async function recordThrowawayKeyFingerprint(
  cacheDirectory: string,
  fingerprint: string,
): Promise<void> {
  const file = path.join(throwawayHomeOf(cacheDirectory), FINGERPRINT_FILE);
  // Unique: nodes of one process may record it at the same time.
  const staging = `${file}.${process.pid}.${randomUUID()}.new`;
  await writeFile(staging, `${fingerprint}\n`);
  await rename(staging, file);
}

/** Generates the throwaway key on first use; returns its home (complete once it exists). */
export async function ensureThrowawayKey(exec: ToolExec, cacheDirectory: string): Promise<string> {
  const home = throwawayHomeOf(cacheDirectory);
  if (existsSync(path.join(home, 'pubring.kbx'))) return home;
  const signingDirectory = path.dirname(home);
  await mkdir(signingDirectory, { recursive: true, mode: 0o700 });
  await chmod(signingDirectory, 0o700);
  // mkdtemp makes the directory 0700, as gpg wants its home.
  const staging = await mkdtemp(path.join(signingDirectory, 'gnupg.new-'));
  const opened = await openGnupgHome(staging, false);
  try {
    await exec(
      'gpg',
      gpgArguments(
        opened.path,
        '--passphrase',
        '',
        '--quick-generate-key',
        THROWAWAY_USER_ID,
        'ed25519',
        'sign',
        'never',
      ),
    );
    await stopAgent(opened.path);
    // What the agent leaves (sockets) is not part of the key and must not be renamed along.
    for (const entry of await readdir(staging)) {
      if (entry.startsWith('S.')) await rm(path.join(staging, entry), { force: true });
    }
    const keys = await listKeys(exec, opened.path, { secret: false });
    if (keys.length !== 1) {
      throw new SigningKeyError(`gpg did not generate the throwaway signing key in ${staging}`);
    }
    // Renamed along with the key: a fingerprint (Publish's, every run) needs no gpg then.
    await writeFile(path.join(staging, FINGERPRINT_FILE), `${keys[0]!.fingerprint}\n`);
    await rename(staging, home).catch((error: NodeJS.ErrnoException) => {
      // Another node generated one first: one key is kept, theirs.
      if (!existsSync(path.join(home, 'pubring.kbx'))) throw error;
    });
    return home;
  } finally {
    await stopAgent(opened.path);
    await opened.dispose();
    await rm(staging, { recursive: true, force: true });
  }
}
