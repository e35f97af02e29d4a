/**
 * Detached signatures of files, as Fedora CoreOS ships them: `<file>.sig`, a binary OpenPGP
 * signature made by `gpg --detach-sign`; checked with `gpg --verify` read through its status
 * lines (`--status-fd`, gpg's documented machine interface), not its human messages. Also the
 * armored public key clients import.
 */
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ToolExec } from '../exec.ts';
import { gpgArguments } from './gnupg-home.ts';
import type { SigningKey } from './signing-key.ts';

/** Where a key to check signatures against is: a GnuPG home holding its public part. */
export interface SignatureVerifier {
  /** A GnuPG home holding the public key. */
  readonly gnupgHome: string;
  /** The primary fingerprint a signature must come from. */
  readonly fingerprint: string;
}

/**
 * Signs `file` with `key` into `signature` (default `<file>.sig`): a detached binary signature.
 * Written beside and renamed, so a reader never sees half a signature.
 */
export async function signFile(
  exec: ToolExec,
  key: SigningKey,
  file: string,
  signature = `${file}.sig`,
): Promise<string> {
  const staging = path.join(path.dirname(signature), `.${path.basename(signature)}.signing`);
  await rm(staging, { force: true });
  try {
    await exec(
      'gpg',
      gpgArguments(
        key.gnupgHome,
        '--yes',
        '--local-user',
        key.fingerprint,
        '--detach-sign',
        '--output',
        staging,
        file,
      ),
    );
    await rename(staging, signature);
  } finally {
    await rm(staging, { force: true });
  }
  return signature;
}

/** What a signature check found. */
export interface SignatureCheck {
  /** Whether the signature is good and made by the expected key. */
  readonly valid: boolean;
  /** The primary fingerprint of the key that made a good signature, if one did. */
  readonly signer?: string;
}

/**
 * Whether `signature` is a good signature of `file` by `verifier`'s key. A bad, foreign or
 * unreadable signature is `valid: false`, not an error: the caller decides (re-sign, or fail).
 */
export async function verifyFileSignature(
  exec: ToolExec,
  verifier: SignatureVerifier,
  file: string,
  signature = `${file}.sig`,
): Promise<SignatureCheck> {
  const result = await exec(
    'gpg',
    gpgArguments(verifier.gnupgHome, '--status-fd', '1', '--verify', signature, file),
    // 1: a bad signature; 2: no public key, or not a signature at all. Both are answers here.
    { okExitCodes: [0, 1, 2], quietStdout: true },
  );
  const signers = goodSigners(result.stdout);
  const expected = verifier.fingerprint.toUpperCase();
  const signer = signers.find((candidate) => candidate === expected) ?? signers[0];
  return { valid: signer === expected, ...(signer === undefined ? {} : { signer }) };
}

/**
 * Primary fingerprints of the good signatures in gpg's status lines: `VALIDSIG <signing key fpr>
 * ... <primary key fpr>` (the primary is the tenth argument; absent when the signing key is the
 * primary, as in old gpg versions).
 */
export function goodSigners(statusLines: string): string[] {
  const signers: string[] = [];
  for (const line of statusLines.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] !== '[GNUPG:]' || words[1] !== 'VALIDSIG') continue;
    const primary = words[11] ?? words[2];
    if (primary) signers.push(primary.toUpperCase());
  }
  return signers;
}

/** The armored public key of `key`: what clients import (`signing-key.asc`). */
export async function exportPublicKey(exec: ToolExec, key: SigningKey | SignatureVerifier): Promise<string> {
  const result = await exec('gpg', gpgArguments(key.gnupgHome, '--armor', '--export', key.fingerprint), {
    quietStdout: true,
  });
  if (!result.stdout.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) {
    throw new Error(`gpg exported no public key for ${key.fingerprint}`);
  }
  return result.stdout;
}

/** Imports the armored public keys of `file` into `gnupgHome`; returns their primary fingerprints. */
export async function importPublicKeys(exec: ToolExec, gnupgHome: string, file: string): Promise<string[]> {
  const result = await exec('gpg', gpgArguments(gnupgHome, '--status-fd', '1', '--import', file), {
    quietStdout: true,
  });
  const fingerprints = new Set<string>();
  for (const line of result.stdout.split('\n')) {
    const words = line.trim().split(/\s+/);
    // IMPORT_OK <reason> <fingerprint>
    if (words[0] === '[GNUPG:]' && words[1] === 'IMPORT_OK' && words[3]) fingerprints.add(words[3]);
  }
  return [...fingerprints];
}
