/**
 * When each line of a VM's serial console arrived on the host: QEMU writes the console to a file,
 * this watches that file (inotify, with a slow poll as a fallback) and notes the host's monotonic
 * time of each line's first byte. A line whose bytes arrive with a pause of more than
 * {@link CONTINUATION_GAP_SECONDS}, or that clears the screen, gets a second entry (GRUB's menu,
 * its countdown and its "Booting" screen share one console line). The console log itself is left as the guest wrote it; the timeline is
 * written beside it as TSV, so a boot's seconds can be split into firmware, GRUB, kernel, initramfs
 * and the OS's own steps (lib/vm/boot-phases.ts), which the guest's console alone cannot tell.
 */
import { type FSWatcher, watch } from 'node:fs';
import { type FileHandle, open, writeFile } from 'node:fs/promises';

/** One timeline entry: a console line (or the part of one that arrived after a pause). */
export interface TimelineEntry {
  /** Seconds since the VM was started (host monotonic clock) when the entry's first byte was read. */
  readonly seconds: number;
  /** Its 1-based line number in the console log. */
  readonly line: number;
  /** Its text: terminal escape sequences and control characters removed, white space collapsed. */
  readonly text: string;
}

/** A pause longer than this inside one console line starts a new entry for the same line. */
export const CONTINUATION_GAP_SECONDS = 0.2;

/** How often the file is read when inotify says nothing (a fallback, in ms). */
const POLL_MS = 250;

/** Entries' text is cut to this many characters (the console log has the whole line). */
const TEXT_LIMIT = 160;

/** Terminal escape sequences (CSI and the two-byte ones) and the other control characters. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
const ESCAPES = /\x1b\[[0-9;?=]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]/g;

/** Where a screen is cleared (ED: erase display), kept at the start of the part that follows. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the escape character starts the sequence
const SCREEN_CLEAR = /(?=\x1b\[2?J)/;

/** The file the timeline of console log `consoleLog` is written to: `NAME.timeline.tsv` beside it. */
export function timelineFileOf(consoleLog: string): string {
  return `${consoleLog.replace(/\.log$/, '')}.timeline.tsv`;
}

/** Readable text of raw console bytes. */
function cleanText(raw: string): string {
  return raw.replace(ESCAPES, '').replace(/\s+/g, ' ').trim().slice(0, TEXT_LIMIT);
}

/** A running recorder: {@link ConsoleTimelineRecorder.stop} reads the rest and returns the entries. */
export interface ConsoleTimelineRecorder {
  /** Reads what is left of the file, stops watching, and returns the timeline. */
  stop(): Promise<TimelineEntry[]>;
}

/**
 * Starts recording the timeline of `consoleLog`, which is created empty now (QEMU truncates and
 * writes the same inode), with times relative to `startedAt` (performance.now()). `onText` sees
 * the text of the entry that grew, each time it grows (the harness reacts to what the guest shows).
 */
export async function recordConsoleTimeline(
  consoleLog: string,
  startedAt: number,
  onText?: (text: string) => void,
): Promise<ConsoleTimelineRecorder> {
  await writeFile(consoleLog, '');
  const handle: FileHandle = await open(consoleLog, 'r');
  const entries: { seconds: number; line: number; raw: string }[] = [];
  const buffer = Buffer.alloc(64 * 1024);
  const decoder = new TextDecoder('latin1');
  let offset = 0;
  let line = 1;
  let lastByteSeconds = 0;
  let atLineStart = true;
  let reading: Promise<void> = Promise.resolve();
  // Reads the bytes written since the last read and files them under their lines.
  const readNew = async (): Promise<void> => {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) return;
      const seconds = (performance.now() - startedAt) / 1000;
      offset += bytesRead;
      const text = decoder.decode(buffer.subarray(0, bytesRead));
      const pieces = text.split('\n');
      pieces.forEach((piece, index) => {
        if (index > 0) {
          line++;
          atLineStart = true;
        }
        // A screen cleared within a line (GRUB's menu, then its "Booting" screen) starts an entry too.
        piece.split(SCREEN_CLEAR).forEach((part, partIndex) => {
          if (part === '') return;
          const last = entries.at(-1);
          const continues =
            !atLineStart &&
            partIndex === 0 &&
            last?.line === line &&
            seconds - lastByteSeconds <= CONTINUATION_GAP_SECONDS;
          if (continues) last.raw += part;
          else entries.push({ seconds, line, raw: part });
          onText?.(cleanText((entries.at(-1) as { raw: string }).raw));
          atLineStart = false;
          lastByteSeconds = seconds;
        });
      });
    }
  };
  // Queues a read after the running one, so reads never overlap.
  const schedule = (): void => {
    reading = reading.then(readNew).catch(() => undefined);
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(consoleLog, { persistent: false }, schedule);
  } catch {
    watcher = undefined;
  }
  const poll = setInterval(schedule, POLL_MS);
  return {
    async stop() {
      clearInterval(poll);
      watcher?.close();
      schedule();
      await reading;
      await handle.close();
      return entries
        .map((entry) => ({ seconds: entry.seconds, line: entry.line, text: cleanText(entry.raw) }))
        .filter((entry) => entry.text !== '');
    },
  };
}

/** The timeline as TSV: a header line, then `seconds<TAB>line<TAB>text` per entry. */
export function formatTimeline(entries: readonly TimelineEntry[]): string {
  const rows = entries.map((entry) => `${entry.seconds.toFixed(3)}\t${entry.line}\t${entry.text}`);
  return `${['seconds', 'line', 'text'].join('\t')}\n${rows.map((row) => `${row}\n`).join('')}`;
}

/** Reads a timeline written by {@link formatTimeline}. */
export function parseTimeline(tsv: string): TimelineEntry[] {
  return tsv
    .split('\n')
    .slice(1)
    .filter((row) => row !== '')
    .map((row) => {
      const [seconds = '0', line = '0', ...text] = row.split('\t');
      return { seconds: Number(seconds), line: Number(line), text: text.join('\t') };
    });
}
