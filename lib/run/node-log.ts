/**
 * A node's log file while it runs: opened fresh for the first attempt, appended to by retries,
 * and closed only once everything written has reached it (the log is stored as a blob next).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

/** Opens a node's log file (appending for retries). */
export async function openLog(file: string, append: boolean): Promise<WriteStream> {
  await mkdir(path.dirname(file), { recursive: true });
  // The log may be a hardlink to a cached blob (a previous cache hit): replace, never write into it.
  if (!append) await rm(file, { force: true });
  return createWriteStream(file, { flags: append ? 'a' : 'w' });
}

/** Closes a log stream once everything is written. */
export function closeLog(stream: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.closed) resolve();
    else stream.end(() => resolve());
  });
}
