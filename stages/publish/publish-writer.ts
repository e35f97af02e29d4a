/**
 * Every write of a publish goes through here: skipped when the destination already holds the same
 * digest, otherwise counted (keys, bytes) and preceded by the test hook that can stop a publish
 * after N writes, the way a kill would.
 */
import type { ObjectContent, PublishDestination } from '../../lib/release/destinations/destination.ts';
import { contentSize } from '../../lib/release/destinations/destination.ts';

/** Hooks a test gives to observe or interrupt a publish. */
export interface PublishHooks {
  /** Called before each write of `key`; throwing stops the publish there. */
  readonly beforeWrite?: (key: string) => void | Promise<void>;
}

/** What a publish wrote and skipped. */
export interface WriteTally {
  /** Keys written (repository objects are counted, not listed). */
  readonly written: readonly string[];
  /** Keys already there with the same digest (repository objects are counted, not listed). */
  readonly skipped: readonly string[];
  /** Bytes written. */
  readonly bytesSent: number;
  /** Objects written, repository objects included. */
  readonly objectsWritten: number;
  /** Repository objects written and found present. */
  readonly repositoryObjects: { readonly written: number; readonly present: number };
}

/** The writes of one publish into one destination. */
export class PublishWriter {
  private readonly writtenKeys: string[] = [];
  private readonly skippedKeys: string[] = [];
  private bytes = 0;
  private objects = 0;
  private readonly repository = { written: 0, present: 0 };

  constructor(
    readonly destination: PublishDestination,
    private readonly hooks: PublishHooks,
    private readonly log: (line: string) => void,
  ) {}

  /** Writes `content` under `key` unless the destination holds that digest already. */
  async put(key: string, content: ObjectContent, sha256: string): Promise<'written' | 'skipped'> {
    const stored = await this.destination.stat(key);
    if (stored?.sha256 === sha256 && stored.size === contentSize(content)) {
      this.skippedKeys.push(key);
      return 'skipped';
    }
    await this.send(key, content, sha256);
    this.writtenKeys.push(key);
    return 'written';
  }

  /** Writes a repository object known to be absent (content-addressed: present means identical). */
  async putRepositoryObject(key: string, content: ObjectContent, sha256: string): Promise<void> {
    await this.send(key, content, sha256, true);
    this.repository.written++;
  }

  /** Counts repository objects found present. */
  repositoryObjectsPresent(count: number): void {
    this.repository.present += count;
  }

  /** Records that `key` is already as it should be. */
  skip(key: string): void {
    this.skippedKeys.push(key);
  }

  /** Announces a write a tool does in a local destination (the hook may stop it). */
  async beforeLocalWrite(key: string): Promise<void> {
    await this.hooks.beforeWrite?.(key);
  }

  /** Records a file a tool wrote in a local destination. */
  recordLocalWrite(key: string, size: number, repositoryObject: boolean): void {
    this.bytes += size;
    this.objects++;
    if (repositoryObject) this.repository.written++;
    else this.writtenKeys.push(key);
  }

  /** The tally so far. */
  tally(): WriteTally {
    return {
      written: [...this.writtenKeys],
      skipped: [...this.skippedKeys],
      bytesSent: this.bytes,
      objectsWritten: this.objects,
      repositoryObjects: { ...this.repository },
    };
  }

  /** The hook, the write, the counts. */
  private async send(key: string, content: ObjectContent, sha256: string, quiet = false): Promise<void> {
    await this.hooks.beforeWrite?.(key);
    await this.destination.write(key, content, sha256);
    const size = contentSize(content);
    this.bytes += size;
    this.objects++;
    // A repository has thousands of objects: they are counted, not logged one by one.
    if (!quiet) this.log(`wrote ${key} (${size} bytes)`);
  }
}
