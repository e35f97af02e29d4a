/**
 * Small helpers for Node file-system calls: system error codes and tolerant directory listing.
 */
import { readdir } from 'node:fs/promises';

/** The errno code of `error` (`ENOENT` ...), if it has one. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** Whether `error` is a system error with errno code `code`. */
export function isErrno(error: unknown, code: string): boolean {
  return errnoCode(error) === code;
}

/** Names of the entries of `directory`, or none when it does not exist. */
export async function readdirIfExists(directory: string): Promise<string[]> {
  try {
    return await readdir(directory);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return [];
    throw error;
  }
}
