/**
 * One boot's console as the update test reads it: the tiny OS's `FCOS-CDK: ` protocol lines
 * (local-os/packages/README.md; the update agent's, greenboot's and the finalizer's lines), the
 * output of the test's own guest script, and how the boot ended (a reboot and why, a power-off, or
 * neither).
 */
import { cleanConsole } from '../../lib/kola/console.ts';

/** The prefix of every protocol line. */
const PROTOCOL_PREFIX = 'FCOS-CDK: ';

/** How a boot ended, as its console says. */
export type BootEnd =
  | { readonly kind: 'reboot'; readonly reason: string }
  | { readonly kind: 'power-off' }
  | { readonly kind: 'none' };

/** One protocol line split into its words and `key=value` fields. */
export interface ProtocolLine {
  /** The line after the prefix. */
  readonly text: string;
  /** The words before the first `key=value` (`agent update available`). */
  readonly words: readonly string[];
  /** The `key=value` fields (a value runs to the next ` key=`, so `reason=` may hold spaces). */
  readonly fields: Readonly<Record<string, string>>;
}

/** What one boot's console says. */
export interface BootConsole {
  /** Every protocol line, in order. */
  readonly lines: readonly ProtocolLine[];
  /** The lines a guest test printed (`  <name>| <line>`), by test name. */
  readonly testOutput: ReadonlyMap<string, readonly string[]>;
  /** How the boot ended. */
  readonly end: BootEnd;
}

/** Splits a protocol line into words and fields. */
export function parseProtocolLine(text: string): ProtocolLine {
  const firstField = text.search(/(^|\s)[A-Za-z_][A-Za-z0-9_.-]*=/);
  const head = firstField < 0 ? text : text.slice(0, firstField);
  const words = head.split(/\s+/).filter((word) => word !== '');
  const fields: Record<string, string> = {};
  if (firstField >= 0) {
    // Each field's value runs to the next ` key=` (reasons are free text).
    const pattern = /([A-Za-z_][A-Za-z0-9_.-]*)=(.*?)(?=\s+[A-Za-z_][A-Za-z0-9_.-]*=|$)/g;
    for (const match of text.slice(firstField).matchAll(pattern)) fields[match[1]!] = match[2]!.trim();
  }
  return { text, words, fields };
}

/** Parses one boot's console log. */
export function parseBootConsole(raw: string): BootConsole {
  const lines: ProtocolLine[] = [];
  const testOutput = new Map<string, string[]>();
  for (const line of cleanConsole(raw).split('\n')) {
    const at = line.indexOf(PROTOCOL_PREFIX);
    if (at >= 0) {
      lines.push(parseProtocolLine(line.slice(at + PROTOCOL_PREFIX.length).trim()));
      continue;
    }
    const output = /^ {2}([^|\s]+)\| ?(.*)$/.exec(line);
    if (output) {
      const name = output[1]!;
      const list = testOutput.get(name) ?? [];
      list.push(output[2]!.trimEnd());
      testOutput.set(name, list);
    }
  }
  return { lines, testOutput, end: bootEnd(lines) };
}

/** How a boot ended: its last `reboot` or `done` line, whichever came last. */
function bootEnd(lines: readonly ProtocolLine[]): BootEnd {
  for (let index = lines.length - 1; index >= 0; index--) {
    const line = lines[index]!;
    if (line.words[0] === 'reboot') return { kind: 'reboot', reason: line.fields.reason ?? '' };
    if (line.text === 'done') return { kind: 'power-off' };
  }
  return { kind: 'none' };
}

/** The protocol lines starting with `words` (`find(boot, 'agent', 'staged')`). */
export function linesStartingWith(boot: BootConsole, ...words: string[]): ProtocolLine[] {
  return boot.lines.filter((line) => words.every((word, index) => line.words[index] === word));
}

/** The first protocol line starting with `words`, if any. */
export function firstLine(boot: BootConsole, ...words: string[]): ProtocolLine | undefined {
  return linesStartingWith(boot, ...words)[0];
}
