/**
 * The date of a spec file's newest `%changelog` entry, as rpm's `source_date_epoch_from_changelog`
 * turns it into SOURCE_DATE_EPOCH (rpm 4.18, measured): the first entry is the newest (rpm refuses
 * entries out of descending order); `* Tue Mar 04 2025 ...` is 2025-03-04 00:00:00 UTC whatever the
 * build host's time zone; `* Tue Mar 04 18:30:00 UTC 2025 ...` is that instant. Read from the spec's
 * text rather than by running rpm with the macro: rpm then honours an inherited SOURCE_DATE_EPOCH
 * first, and falls back to the clock for a spec without a changelog, where this names the spec.
 * Hand-written: the two date forms are all there is to it, no npm library parses spec files.
 */
import { FcosError } from '../errors.ts';

/** A `%changelog` entry whose date rpm would read differently, or not at all. */
export class ChangelogDateError extends FcosError {}

/** Month abbreviations as rpm writes them, by index. */
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Time zones meaning UTC in the long form; any other would depend on the build host's zone database. */
const UTC_ZONES = new Set(['UTC', 'GMT']);

/**
 * Seconds since the epoch of the newest `%changelog` entry of `specText`, or undefined when the
 * spec has no `%changelog` section or no entry in it.
 */
export function newestChangelogTime(specText: string): number | undefined {
  const lines = specText.split('\n');
  const start = lines.findIndex((line) => /^%changelog\s*$/.test(line));
  if (start < 0) return undefined;
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') continue;
    // The first line of the section that is not blank: an entry, or the next section (no entry).
    if (!line.startsWith('*')) return undefined;
    return parseChangelogDate(line.slice(1).trim());
  }
  return undefined;
}

/** The time of an entry line without its `*`: `Www Mmm DD YYYY ...` or `Www Mmm DD HH:MM:SS UTC YYYY ...`. */
export function parseChangelogDate(entry: string): number {
  const words = entry.split(/\s+/);
  const long = /^\d{1,2}:\d{2}:\d{2}$/.test(words[3] ?? '');
  const [, monthName = '', dayText = ''] = words;
  const yearText = (long ? words[5] : words[3]) ?? '';
  const month = MONTHS.indexOf(monthName);
  const day = Number(dayText);
  const year = Number(yearText);
  const [hours = 0, minutes = 0, seconds = 0] = long ? words[3]!.split(':').map(Number) : [];
  const time = Date.UTC(year, month, day, hours, minutes, seconds);
  const date = new Date(time);
  const valid =
    month >= 0 &&
    /^\d{1,2}$/.test(dayText) &&
    /^\d{4}$/.test(yearText) &&
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month &&
    date.getUTCDate() === day &&
    hours < 24 &&
    minutes < 60 &&
    seconds < 60;
  if (!valid) {
    throw new ChangelogDateError(
      `%changelog entry '* ${entry}': expected a date such as 'Tue Mar 04 2025' or 'Tue Mar 04 18:30:00 UTC 2025'`,
    );
  }
  if (long && !UTC_ZONES.has(words[4] ?? '')) {
    throw new ChangelogDateError(
      `%changelog entry '* ${entry}': give the time in UTC, not '${words[4]}' (rpm reads other zones from the build host's zone database)`,
    );
  }
  return time / 1000;
}
