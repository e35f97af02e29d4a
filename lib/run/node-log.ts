/**
 * A node's log file while it runs: opened fresh for the first attempt, appended to by retries,
 * and closed only once everything written has reached it (the log is stored as a blob next).
 * A tool that is being stopped may still be talking (QEMU shutting down): a line that arrives
 * after the log is closed is dropped, never written to an ended stream (which would crash the run).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

/** The log of one node's attempt: lines in, a file out. */
export class NodeLog {
  private closing = false;
  /** The first write error (a full disk): the log stops, the node's work does not. */
  private failure: Error | undefined;

  private constructor(private readonly stream: WriteStream) {
    // Without a listener, a write error is an uncaught exception that kills the whole run.
    stream.on('error', (error) => {
      this.failure ??= error;
    });
  }

  /** Opens a node's log file (appending for retries). */
  static async open(file: string, append: boolean): Promise<NodeLog> {
    await mkdir(path.dirname(file), { recursive: true });
    // The log may be a hardlink to a cached blob (a previous cache hit): replace, never write into it.
    if (!append) await rm(file, { force: true });
    return new NodeLog(createWriteStream(file, { flags: append ? 'a' : 'w' }));
  }

  /** Appends `line` and a newline; does nothing once the log is closing or has failed. */
  write(line: string): void {
    if (this.closing || this.failure) return;
    this.stream.write(`${line}\n`);
  }

  /** Closes the log once everything written is in the file; later lines are dropped. */
  close(): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      if (this.stream.closed || this.stream.destroyed) resolve();
      else this.stream.end(() => resolve());
    });
  }
}
