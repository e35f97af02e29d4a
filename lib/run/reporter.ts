/**
 * What a person sees during `fcos-run`: on a terminal, a redrawn status (running nodes with their
 * elapsed time, done/cached/failed/total); elsewhere, one plain line per event.
 */
import type { RunEvent, RunObserver } from './events.ts';

/** Formats milliseconds as `1.2s` or `3m04s`. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes}m${String(seconds).padStart(2, '0')}s`;
}

/** Formats a byte count as `512 B`, `3.4 MiB` or `1.20 GiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** One line per event, for logs and CI. */
export class PlainReporter implements RunObserver {
  private readonly write: (text: string) => void;
  private readonly showCached: boolean;

  constructor(write: (text: string) => void, options: { showCached?: boolean } = {}) {
    this.write = write;
    this.showCached = options.showCached ?? true;
  }

  /** Prints the event's line. */
  onEvent(event: RunEvent): void {
    const line = plainLine(event, this.showCached);
    if (line) this.write(`${line}\n`);
  }
}

/** The plain text of an event, or undefined for events not shown. */
function plainLine(event: RunEvent, showCached: boolean): string | undefined {
  switch (event.event) {
    case 'start':
      return `[start] ${event.node}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''}`;
    case 'cached':
      return showCached ? `[cached] ${event.node}` : undefined;
    case 'finish':
      return `[done ${formatDuration(event.durationMs)}] ${event.node}`;
    case 'fail':
      return `[${event.willRetry ? 'retry' : 'FAILED'}] ${event.node}: ${event.error}`;
    case 'skip':
      return `[skipped] ${event.node}: ${event.reason}`;
    case 'warning':
      return `[warning] ${event.node || 'remote cache'}: ${event.message}`;
    case 'remote':
      return `[${event.direction} ${formatDuration(event.durationMs)}] ${event.node}: ${event.blobs} blob${event.blobs === 1 ? '' : 's'}, ${formatBytes(event.bytes)}`;
    case 'plan':
      return event.cached
        ? `[cached] ${event.node}`
        : `[would run] ${event.node}${event.reasons.length > 0 ? `: ${event.reasons.join('; ')}` : ''}`;
    default:
      return undefined;
  }
}

/** A status block redrawn in place on a terminal. */
export class TerminalReporter implements RunObserver {
  private readonly stream: NodeJS.WriteStream;
  private readonly running = new Map<string, number>();
  private counts = { done: 0, cached: 0, failed: 0, skipped: 0 };
  private total = 0;
  private drawnLines = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(stream: NodeJS.WriteStream) {
    this.stream = stream;
    this.timer = setInterval(() => this.draw(), 250);
    this.timer.unref();
  }

  /** Updates the status; failures and finished nodes are printed above it. */
  onEvent(event: RunEvent): void {
    switch (event.event) {
      case 'run-start':
        this.total = event.selected;
        break;
      case 'start':
        this.running.set(event.node, Date.parse(event.time));
        break;
      case 'cached':
        this.counts.cached++;
        break;
      case 'finish':
        this.running.delete(event.node);
        this.counts.done++;
        this.printAbove(`done ${formatDuration(event.durationMs).padStart(7)}  ${event.node}`);
        break;
      case 'fail':
        this.running.delete(event.node);
        if (!event.willRetry) this.counts.failed++;
        this.printAbove(`${event.willRetry ? 'retry' : 'FAILED'}  ${event.node}: ${event.error}`);
        break;
      case 'skip':
        this.counts.skipped++;
        break;
      case 'plan':
      case 'warning':
        this.printAbove(plainLine(event, true) ?? '');
        break;
      default:
        break;
    }
    this.draw();
  }

  /** Stops redrawing and leaves the final status on screen. */
  close(): void {
    clearInterval(this.timer);
    this.draw();
    this.drawnLines = 0;
  }

  /** Prints a line above the status block. */
  private printAbove(line: string): void {
    this.erase();
    this.stream.write(`${line}\n`);
  }

  /** Erases the status block. */
  private erase(): void {
    if (this.drawnLines > 0) this.stream.write(`\x1b[${this.drawnLines}A\x1b[J`);
    this.drawnLines = 0;
  }

  /** Redraws the status block. */
  private draw(): void {
    this.erase();
    const now = Date.now();
    const width = this.stream.columns ?? 100;
    const lines = [...this.running.entries()]
      .sort(([, a], [, b]) => a - b)
      .slice(0, 12)
      .map(([node, since]) => `  ${formatDuration(now - since).padStart(7)}  ${node}`.slice(0, width - 1));
    const { done, cached, failed, skipped } = this.counts;
    lines.push(
      `[${done + cached + failed + skipped}/${this.total}] ${done} done, ${cached} cached, ${failed} failed, ${this.running.size} running`,
    );
    this.stream.write(`${lines.join('\n')}\n`);
    this.drawnLines = lines.length;
  }
}
