/**
 * Where a node's signing key comes from. The environment names it: `FCOS_SIGNING_GNUPGHOME` (a
 * GnuPG home, used in place, with `FCOS_SIGNING_KEY_ID` choosing among its secret keys) or
 * `FCOS_SIGNING_KEY_FILE` (an armored secret key, imported into a private home in the node's work
 * directory that is removed after the node). Without either, a node that asks for `throwaway` gets
 * the cache's throwaway key (a private copy of it, so that no agent is ever shared between nodes).
 * Only the key's fingerprint leaves this module: never its material.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ToolExec } from '../exec.ts';
import { SigningKeyError } from './errors.ts';
import {
  createPrivateHomeDirectory,
  type GnupgHome,
  gpgArguments,
  type ListedKey,
  listKeys,
  openGnupgHome,
} from './gnupg-home.ts';
import type { SigningMode } from './modes.ts';
import {
  ensureThrowawayKey,
  recordThrowawayKeyFingerprint,
  throwawayKeyFingerprint,
} from './throwaway-key.ts';

/** The environment variables that name a signing key. */
export const SIGNING_ENVIRONMENT = {
  /** A GnuPG home holding the secret key, used in place. */
  gnupgHome: 'FCOS_SIGNING_GNUPGHOME',
  /** Which secret key of that home (or of the key file) signs: a fingerprint, key id or user id. */
  keyId: 'FCOS_SIGNING_KEY_ID',
  /** An armored secret key file, imported into a private home for the node. */
  keyFile: 'FCOS_SIGNING_KEY_FILE',
} as const;

/** Where a resolved key came from. */
export type SigningKeySource = 'gnupg-home' | 'key-file' | 'throwaway';

/** A key ready to sign with: its home and fingerprint. Release it when the node is done. */
export interface SigningKey {
  /** Primary key fingerprint (40 uppercase hex digits): the only fact about the key that may be recorded. */
  readonly fingerprint: string;
  /** The GnuPG home to pass to gpg and ostree (a short path to the real home). */
  readonly gnupgHome: string;
  /** Where it came from. */
  readonly source: SigningKeySource;
  /** Stops the agent of a private home and removes it; the user's own home is left as it was. */
  release(): Promise<void>;
}

/** What {@link resolveSigningKey} needs. */
export interface SigningKeyRequest {
  /** What the node's props ask for. */
  readonly mode: SigningMode;
  /** The environment to read `FCOS_SIGNING_*` from (the process's). */
  readonly environment: Readonly<Record<string, string | undefined>>;
  /** A directory for the node's private home (its work directory); the home is made inside it. */
  readonly workDir: string;
  /**
   * The cache directory (for the throwaway key).
   * @default undefined (a throwaway key cannot be used)
   */
  readonly cacheDirectory?: string | undefined;
  /** Construct path of the node, for errors. */
  readonly nodePath: string;
}

/** The key a node signs with, or undefined when it does not sign. */
export async function resolveSigningKey(
  exec: ToolExec,
  request: SigningKeyRequest,
): Promise<SigningKey | undefined> {
  if (request.mode === 'none') return undefined;
  const { environment, nodePath } = request;
  const homeVariable = nonEmpty(environment[SIGNING_ENVIRONMENT.gnupgHome]);
  const keyFile = nonEmpty(environment[SIGNING_ENVIRONMENT.keyFile]);
  const selector = nonEmpty(environment[SIGNING_ENVIRONMENT.keyId]);
  if (homeVariable !== undefined && keyFile !== undefined) {
    throw new SigningKeyError(
      `both ${SIGNING_ENVIRONMENT.gnupgHome} and ${SIGNING_ENVIRONMENT.keyFile} are set: set one of them`,
      { constructPath: nodePath },
    );
  }
  if (homeVariable !== undefined) {
    const home = await openGnupgHome(path.resolve(homeVariable), false);
    return keyIn(exec, home, 'gnupg-home', selector, nodePath, SIGNING_ENVIRONMENT.gnupgHome);
  }
  if (keyFile !== undefined) {
    const home = await privateHome(request.workDir);
    try {
      await exec('gpg', gpgArguments(home.path, '--import', path.resolve(keyFile)), { quietStdout: true });
    } catch (error) {
      await home.dispose();
      throw new SigningKeyError(
        `the key file named by ${SIGNING_ENVIRONMENT.keyFile} (${keyFile}) could not be imported: ${firstLine(error)}`,
        { constructPath: nodePath, cause: error },
      );
    }
    return keyIn(exec, home, 'key-file', selector, nodePath, SIGNING_ENVIRONMENT.keyFile);
  }
  if (request.mode === 'environment') return undefined;
  if (request.cacheDirectory === undefined) {
    throw new SigningKeyError(
      'a throwaway signing key needs the cache directory, which this run did not give',
      {
        constructPath: nodePath,
      },
    );
  }
  const throwaway = await ensureThrowawayKey(exec, request.cacheDirectory);
  const home = await privateHome(request.workDir);
  // A private copy: the node's agent runs in it and is stopped with it, never shared with another node.
  await cp(throwaway, home.realPath, {
    recursive: true,
    filter: (source) => !/^S\.|\.lock$|^random_seed$/.test(path.basename(source)),
  });
  return keyIn(exec, home, 'throwaway', undefined, nodePath, 'the throwaway key');
}

/** A new private home `gnupg` (or `gnupg-N`) in `workDir`, owned by this node. */
async function privateHome(workDir: string): Promise<GnupgHome> {
  for (let attempt = 0; ; attempt++) {
    const directory = path.join(workDir, attempt === 0 ? 'gnupg' : `gnupg-${attempt}`);
    try {
      await createPrivateHomeDirectory(directory);
      return await openGnupgHome(directory, true);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 100) throw error;
    }
  }
}

/** The one signing key of `home` that `selector` names (or the only one), as a {@link SigningKey}. */
async function keyIn(
  exec: ToolExec,
  home: GnupgHome,
  source: SigningKeySource,
  selector: string | undefined,
  nodePath: string,
  origin: string,
): Promise<SigningKey> {
  try {
    // The throwaway home holds exactly one key: its public listing needs no agent.
    const keys = (
      await listKeys(exec, home.path, {
        secret: source !== 'throwaway',
        ...(selector === undefined ? {} : { selector }),
      })
    ).filter((key) => key.canSign);
    const key = chooseKey(keys, selector, nodePath, origin);
    return { fingerprint: key.fingerprint, gnupgHome: home.path, source, release: () => home.dispose() };
  } catch (error) {
    await home.dispose();
    throw error;
  }
}

/** The key to sign with: the only signing key, or an error saying which variable chooses. */
function chooseKey(
  keys: readonly ListedKey[],
  selector: string | undefined,
  nodePath: string,
  origin: string,
): ListedKey {
  if (keys.length === 1) return keys[0]!;
  if (keys.length === 0) {
    throw new SigningKeyError(
      selector === undefined
        ? `${origin} holds no secret key that can sign`
        : `${origin} holds no secret key that can sign named '${selector}' (${SIGNING_ENVIRONMENT.keyId})`,
      { constructPath: nodePath },
    );
  }
  throw new SigningKeyError(
    `${origin} holds ${keys.length} secret keys that can sign (${keys.map((key) => key.fingerprint).join(', ')}): set ${SIGNING_ENVIRONMENT.keyId} to the fingerprint of the one to use`,
    { constructPath: nodePath },
  );
}

/**
 * The fingerprint of the key a node would sign with (undefined: it does not sign), for the
 * node's cache fingerprint: the throwaway key's recorded one, else the key resolved in a scratch
 * directory that is removed again (no work directory exists when fingerprints are taken).
 */
export async function signingKeyFingerprint(
  exec: ToolExec,
  request: Omit<SigningKeyRequest, 'workDir'>,
): Promise<string | undefined> {
  if (request.mode === 'none') return undefined;
  // The throwaway key records its fingerprint when generated: no gpg on every null run.
  if (usesThrowawayKey(request) && request.cacheDirectory !== undefined) {
    const recorded = await throwawayKeyFingerprint(request.cacheDirectory);
    if (recorded !== undefined) return recorded;
  }
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'fcos-signing-key-'));
  try {
    const key = await resolveSigningKey(exec, { ...request, workDir: scratch });
    try {
      // A throwaway key made before fingerprints were recorded gets its record now.
      if (key?.source === 'throwaway' && request.cacheDirectory !== undefined) {
        await recordThrowawayKeyFingerprint(request.cacheDirectory, key.fingerprint);
      }
      return key?.fingerprint;
    } finally {
      await key?.release();
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Whether `request` resolves to the cache's throwaway key (no key named by the environment). */
function usesThrowawayKey(request: Pick<SigningKeyRequest, 'mode' | 'environment'>): boolean {
  const { environment } = request;
  return (
    request.mode === 'throwaway' &&
    nonEmpty(environment[SIGNING_ENVIRONMENT.gnupgHome]) === undefined &&
    nonEmpty(environment[SIGNING_ENVIRONMENT.keyFile]) === undefined
  );
}

/** `value` unless it is empty or unset. */
function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** The first line of an error's message (a tool's failure without its whole output). */
function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n').slice(0, 3).join(' ');
}
