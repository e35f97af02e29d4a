import { describe, expect, it } from 'vitest';
import { formatDuration, PlainReporter, TerminalReporter } from '../lib/run/reporter.ts';

/** A stand-in terminal collecting what is written. */
function fakeTerminal() {
  const writes: string[] = [];
  const stream = {
    columns: 80,
    write: (text: string) => writes.push(text) > 0,
  } as unknown as NodeJS.WriteStream;
  return { stream, writes };
}

const at = (seconds: number) => new Date(Date.now() - seconds * 1000).toISOString();

describe('reporters', () => {
  it('the terminal display shows running nodes with elapsed time and done/cached/failed/total', () => {
    const { stream, writes } = fakeTerminal();
    const reporter = new TerminalReporter(stream);
    reporter.onEvent({ event: 'run-start', time: at(0), nodes: 4, selected: 4 });
    reporter.onEvent({ event: 'cached', time: at(0), node: 'a/Cached', kind: 'K', key: 'k' });
    reporter.onEvent({ event: 'start', time: at(12), node: 'a/Compose', kind: 'K', key: 'k', attempt: 1 });
    const screen = writes.join('');
    expect(screen).toMatch(/ 1[23]\.\ds {2}a\/Compose/);
    expect(screen).toContain('[1/4] 0 done, 1 cached, 0 failed, 1 running');
    reporter.onEvent({
      event: 'finish',
      time: at(0),
      node: 'a/Compose',
      kind: 'K',
      key: 'k',
      startedAt: at(12),
      durationMs: 12_000,
      attempt: 1,
    });
    reporter.onEvent({
      event: 'fail',
      time: at(0),
      node: 'a/Disk',
      kind: 'K',
      durationMs: 5,
      attempt: 1,
      willRetry: false,
      error: 'boom',
    });
    reporter.close();
    const final = writes.join('');
    expect(final).toContain('done   12.0s  a/Compose');
    expect(final).toContain('FAILED  a/Disk: boom');
    expect(final).toContain('[3/4] 1 done, 1 cached, 1 failed, 0 running');
    expect(final).toContain('\x1b[');
  });

  it('plain output is one line per event and can hide cache hits', () => {
    const lines: string[] = [];
    const reporter = new PlainReporter((text) => lines.push(text), { showCached: false });
    reporter.onEvent({ event: 'cached', time: at(0), node: 'x', kind: 'K', key: 'k' });
    reporter.onEvent({ event: 'start', time: at(0), node: 'y', kind: 'K', key: 'k', attempt: 2 });
    reporter.onEvent({ event: 'skip', time: at(0), node: 'z', kind: 'K', reason: 'y failed' });
    expect(lines).toEqual(['[start] y (attempt 2)\n', '[skipped] z: y failed\n']);
    expect(formatDuration(125_000)).toBe('2m05s');
  });
});
