/**
 * A directory as a publish destination (served as is by fcos-serve or any web server). Each
 * object is written to a hidden temporary file beside its key and renamed over it, so a reader
 * (or a publish killed midway) sees the old content or the new, never a part. Temporary files a
 * killed publish left are removed the next time that directory is written. Digests are computed
 * from the files, remembered while size and modification time stay the same.
 */
import { constants } from 'node:fs';
import {
  chmod,
  copyFile,
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../../cache/hash.ts';
import { isProcessAlive } from '../../cache/process-liveness.ts';
import { FcosError } from '../../errors.ts';
import type { KeepInputsTrusted } from '../../runner.ts';
import type { ObjectContent, PublishDestination, StoredObject } from './destination.ts';

/** Puts `source` at `target`: a hardlink where the filesystem allows, else a reflink or copy. */
async function linkOrCopy(source: string, target: string): Promise<void> {
  try {
    await link(source, target);
  } catch (error) {
    if (!['EXDEV', 'EMLINK', 'EPERM', 'EACCES'].includes((error as NodeJS.ErrnoException).code ?? ''))
      throw error;
    await copyFile(source, target, constants.COPYFILE_FICLONE);
  }
}

/** Suffix of a temporary file: `.<name>.<pid>.publishing`. */
const TEMPORARY_SUFFIX = '.publishing';

/** A destination directory. */
export class DirectoryDestination implements PublishDestination {
  readonly description: string;
  private readonly digests = new Map<string, { sha256: string; size: number; mtimeMs: number }>();
  private readonly swept = new Set<string>();

  private readonly keepInputsTrusted: KeepInputsTrusted;

  /**
   * `root` is made absolute; it is created on the first write. A local file is put in place as a
   * hardlink where the filesystem allows (a published image costs no space or time while the
   * cache holds it, and a sparse disk stays sparse), else a reflink or copy. Like
   * fcos.out/artifacts/, a hardlinked file is the cache's read-only blob: edit a copy, not it.
   */
  constructor(
    readonly root: string,
    options: {
      /**
       * Wraps the linking and renaming of a local file: a runner passes its context's
       * `keepInputsTrusted`, so that the cache keeps trusting the blobs it hardlinks.
       * @default runs the operation
       */
      readonly keepInputsTrusted?: KeepInputsTrusted;
    } = {},
  ) {
    this.root = path.resolve(root);
    this.description = this.root;
    this.keepInputsTrusted = options.keepInputsTrusted ?? ((_files, operation) => operation());
  }

  /** The file of `key` (refusing keys that would leave the root). */
  private fileOf(key: string): string {
    const file = path.resolve(this.root, key);
    if (key.startsWith('/') || !file.startsWith(`${this.root}${path.sep}`)) {
      throw new FcosError(`'${key}' is not a key inside the destination ${this.root}`);
    }
    return file;
  }

  /** Digest and size of the file of `key`. */
  async stat(key: string): Promise<StoredObject | undefined> {
    const file = this.fileOf(key);
    const stats = await lstat(file).catch(() => undefined);
    if (!stats?.isFile()) return undefined;
    const known = this.digests.get(key);
    if (known && known.size === stats.size && known.mtimeMs === stats.mtimeMs) {
      return { sha256: known.sha256, size: known.size };
    }
    const { digest } = await sha256File(file);
    this.digests.set(key, { sha256: digest, size: stats.size, mtimeMs: stats.mtimeMs });
    return { sha256: digest, size: stats.size };
  }

  /** The file's content. */
  async read(key: string): Promise<Buffer | undefined> {
    return readFile(this.fileOf(key)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'EISDIR') return undefined;
      throw error;
    });
  }

  /** Copies the file to `file`. */
  async download(key: string, file: string): Promise<boolean> {
    try {
      await copyFile(this.fileOf(key), file);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  /** Writes a temporary file beside the key (a hardlink or reflink of a local file where the filesystem can) and renames it over the key. */
  async write(key: string, content: ObjectContent, sha256: string): Promise<void> {
    const file = this.fileOf(key);
    const directory = path.dirname(file);
    await mkdir(directory, { recursive: true });
    await this.sweep(directory);
    const temporary = path.join(directory, `.${path.basename(file)}.${process.pid}${TEMPORARY_SUFFIX}`);
    const place = async () => {
      if ('file' in content) await linkOrCopy(content.file, temporary);
      else await writeFile(temporary, content.bytes);
      // Readable by a web server; a hardlinked cache blob (0444) already is, and keeps its mode.
      if (((await lstat(temporary)).mode & 0o004) === 0) await chmod(temporary, 0o644);
      await rename(temporary, file);
    };
    try {
      // The link and the rename both move a hardlinked file's ctime.
      await ('file' in content ? this.keepInputsTrusted([content.file], place) : place());
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    const stats = await lstat(file);
    this.digests.set(key, { sha256, size: stats.size, mtimeMs: stats.mtimeMs });
  }

  /** Every file below `prefix`. */
  async list(prefix: string): Promise<Set<string>> {
    const keys = new Set<string>();
    const walk = async (relative: string): Promise<void> => {
      const entries = await readdir(path.join(this.root, relative), { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const key = `${relative}${entry.name}`;
        if (entry.isDirectory()) await walk(`${key}/`);
        else if (entry.isFile() && !entry.name.endsWith(TEMPORARY_SUFFIX)) keys.add(key);
      }
    };
    await walk(prefix);
    return keys;
  }

  /** The key's path in the directory. */
  localPath(key: string): string {
    return this.fileOf(key);
  }

  /** Removes temporary files of publishes that no longer run from `directory` (once per directory). */
  private async sweep(directory: string): Promise<void> {
    if (this.swept.has(directory)) return;
    this.swept.add(directory);
    for (const name of await readdir(directory)) {
      if (!name.startsWith('.') || !name.endsWith(TEMPORARY_SUFFIX)) continue;
      const pid = Number(name.slice(0, -TEMPORARY_SUFFIX.length).split('.').pop());
      if (pid !== process.pid && !isProcessAlive(pid)) {
        await rm(path.join(directory, name), { force: true });
      }
    }
  }
}
