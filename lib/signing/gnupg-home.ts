/**
 * GnuPG homes as the signing code uses them: private homes made 0700, a short path for homes deep
 * in a cache (gpg-agent's socket lives in the home, and a Unix socket path has at most 107 bytes),
 * the agent stopped before a private home is removed (gpg starts one per home and it outlives the
 * gpg that started it: it daemonizes into its own session), and keys listed from gpg's colon
 * format (`--with-colons`, gpg's documented machine-readable output).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runTool, type ToolExec } from '../exec.ts';

/** Longest home path whose agent sockets (`S.gpg-agent.browser`, 20 bytes more) fit in 107 bytes. */
const MAX_AGENT_HOME_LENGTH = 80;

/** A GnuPG home ready for gpg and ostree: the path to pass, and how to let it go. */
export interface GnupgHome {
  /** The path tools get (`--homedir`, `--gpg-homedir`): short enough for the agent's sockets. */
  readonly path: string;
  /** Where the home really is. */
  readonly realPath: string;
  /** Whether this process made the home (its agent is stopped and the home removed on dispose). */
  readonly owned: boolean;
  /** Stops the agent of an owned home and removes it, and removes a short-path link. Idempotent. */
  dispose(): Promise<void>;
}

/** gpg's arguments for one non-interactive command in `home`. */
export function gpgArguments(home: string, ...args: string[]): string[] {
  return ['--homedir', home, '--batch', '--no-tty', '--no-greeting', ...args];
}

/** Creates `directory` as a new private GnuPG home (mode 0700, as gpg requires of a home). */
export async function createPrivateHomeDirectory(directory: string): Promise<void> {
  await mkdir(path.dirname(directory), { recursive: true });
  await mkdir(directory, { mode: 0o700 });
}

/**
 * Opens `realPath` as a home: when its path is too long for the agent's sockets, a symlink with a
 * short name in the system's temporary directory points at it (gpg binds the socket by the path it
 * is given, so the socket lands in the real home through the link).
 */
export async function openGnupgHome(realPath: string, owned: boolean): Promise<GnupgHome> {
  let link: string | undefined;
  if (realPath.length > MAX_AGENT_HOME_LENGTH) {
    const holder = await mkdtemp(path.join(os.tmpdir(), 'fcos-gpg-'));
    link = path.join(holder, 'h');
    await symlink(realPath, link);
  }
  const toolPath = link ?? realPath;
  let disposed = false;
  return {
    path: toolPath,
    realPath,
    owned,
    async dispose() {
      if (disposed) return;
      disposed = true;
      if (owned) {
        await stopAgent(toolPath);
        await rm(realPath, { recursive: true, force: true });
      }
      if (link) await rm(path.dirname(link), { recursive: true, force: true });
    },
  };
}

/**
 * Stops the gpg-agent of `home`, if one runs (gpgconf's documented way; a home without an agent is
 * fine). Not through a node's exec: stopping must work after the node was cancelled too.
 */
export async function stopAgent(home: string): Promise<void> {
  if (!existsSync(home)) return;
  try {
    await runTool('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
  } catch {
    // Best effort: an agent that cannot be reached is not running.
  }
}

/** One key of a keyring, from gpg's colon listing. */
export interface ListedKey {
  /** Primary key fingerprint, 40 hex digits, uppercase (as gpg prints it). */
  readonly fingerprint: string;
  /** The long key id (the last 16 hex digits). */
  readonly keyId: string;
  /** The fingerprints of its subkeys. */
  readonly subkeyFingerprints: readonly string[];
  /** Whether the key as a whole can sign (capability `S`) and is neither revoked, expired nor disabled. */
  readonly canSign: boolean;
  /** Its user ids. */
  readonly userIds: readonly string[];
}

/** Keys of `home` (secret keys when `secret`), optionally only those `selector` names. */
export async function listKeys(
  exec: ToolExec,
  home: string,
  options: { readonly secret: boolean; readonly selector?: string },
): Promise<ListedKey[]> {
  const result = await exec(
    'gpg',
    gpgArguments(
      home,
      '--with-colons',
      '--fixed-list-mode',
      options.secret ? '--list-secret-keys' : '--list-keys',
      ...(options.selector === undefined ? [] : [options.selector]),
    ),
    // gpg exits 2 when the selector names no key: that is an empty list here.
    { okExitCodes: [0, 2], quietStdout: true },
  );
  return parseColonListing(result.stdout);
}

/** The keys of a `gpg --with-colons` listing (`pub`/`sec` records and what follows each). */
export function parseColonListing(text: string): ListedKey[] {
  const keys: ListedKey[] = [];
  type Draft = { fingerprint: string; keyId: string; subkeys: string[]; canSign: boolean; userIds: string[] };
  let current: Draft | undefined;
  let expecting: 'primary' | 'subkey' | undefined;
  const finish = () => {
    if (current?.fingerprint) {
      keys.push({
        fingerprint: current.fingerprint,
        keyId: current.keyId,
        subkeyFingerprints: current.subkeys,
        canSign: current.canSign,
        userIds: current.userIds,
      });
    }
  };
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    const record = fields[0];
    if (record === 'pub' || record === 'sec') {
      finish();
      const validity = fields[1] ?? '';
      const capabilities = fields[11] ?? '';
      current = {
        fingerprint: '',
        keyId: fields[4] ?? '',
        subkeys: [],
        // Field 12 holds the whole key's capabilities in upper case; validity r/e/d rules it out.
        canSign: capabilities.includes('S') && !/[red]/.test(validity),
        userIds: [],
      };
      expecting = 'primary';
    } else if (record === 'sub' || record === 'ssb') {
      expecting = 'subkey';
    } else if (record === 'fpr' && current) {
      const fingerprint = fields[9] ?? '';
      if (expecting === 'primary') current.fingerprint = fingerprint;
      else if (expecting === 'subkey') current.subkeys.push(fingerprint);
      expecting = undefined;
    } else if (record === 'uid' && current) {
      current.userIds.push(fields[9] ?? '');
    }
  }
  finish();
  return keys;
}
