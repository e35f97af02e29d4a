/**
 * passwd and group files as rpm-ostree reads them for `check-passwd`/`check-groups`
 * (rust/src/nameservice/{passwd,group}.rs): names mapped to ids, and the entries rpm-ostree's
 * compose would hold in /usr/lib/passwd and /usr/lib/group, which are what its check compares
 * (rust/src/passwd.rs `check_passwd_group_entries`).
 */
import { FcosError } from '../errors.ts';

/** A user's ids. */
export interface UserIds {
  /** The uid. */
  readonly uid: number;
  /** The primary gid. */
  readonly gid: number;
}

/** Users by name. */
export type UserEntries = ReadonlyMap<string, UserIds>;

/** Groups by name: the gid. */
export type GroupEntries = ReadonlyMap<string, number>;

/** A passwd or group line rpm-ostree cannot parse (it fails the compose on one too). */
export class PasswdParseError extends FcosError {}

/** The lines rpm-ostree parses, with their 0-based numbers (it numbers them so in its messages). */
function entryLines(content: string): Array<{ readonly line: string; readonly number: number }> {
  // BufRead::lines: split at \n, a trailing \r dropped, no last empty line after a final \n.
  const lines = content.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const entries: Array<{ line: string; number: number }> = [];
  for (const [number, raw] of lines.entries()) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    // Empty lines, comments and NSS compat lines (`+user`, `-@group`) are skipped.
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    entries.push({ line, number });
  }
  return entries;
}

/** A u32 as Rust's `str::parse::<u32>` reads it (optional `+`, decimal digits), else undefined. */
function parseId(text: string | undefined): number | undefined {
  if (text === undefined || !/^\+?[0-9]+$/.test(text)) return undefined;
  const value = Number(text);
  return value <= 0xffff_ffff ? value : undefined;
}

/** `text` split at the first `count - 1` colons, as Rust's `splitn(count, ':')`. */
function splitFields(text: string, count: number): string[] {
  const fields: string[] = [];
  let rest = text;
  while (fields.length < count - 1) {
    const colon = rest.indexOf(':');
    if (colon < 0) break;
    fields.push(rest.slice(0, colon));
    rest = rest.slice(colon + 1);
  }
  fields.push(rest);
  return fields;
}

/**
 * The users of a passwd file, in file order (a name listed twice: the later line wins, as in
 * rpm-ostree's map). A line without its 7 fields or with a non-numeric id fails, with
 * rpm-ostree's message; `source` says which file.
 */
export function parsePasswd(content: string, source: string): Map<string, UserIds> {
  const users = new Map<string, UserIds>();
  for (const { line, number } of entryLines(content)) {
    const fields = splitFields(line, 7);
    const uid = parseId(fields[2]);
    const gid = parseId(fields[3]);
    if (fields.length < 7 || uid === undefined || gid === undefined) {
      throw new PasswdParseError(
        `${source}: failed to parse passwd entry at line ${number}, content: ${line}`,
      );
    }
    users.set(fields[0] ?? '', { uid, gid });
  }
  return users;
}

/** The groups of a group file (4 fields each), as {@link parsePasswd} reads users. */
export function parseGroup(content: string, source: string): Map<string, number> {
  const groups = new Map<string, number>();
  for (const { line, number } of entryLines(content)) {
    const fields = splitFields(line, 4);
    const gid = parseId(fields[2]);
    if (fields.length < 4 || gid === undefined) {
      throw new PasswdParseError(
        `${source}: failed to parse group entry at line ${number}, content: ${line}`,
      );
    }
    groups.set(fields[0] ?? '', gid);
  }
  return groups;
}

/** The text of a tree's passwd or group files; undefined for a file the tree does not have. */
export interface AccountFiles {
  /** usr/lib/passwd (or usr/lib/group). */
  readonly usrLib: string | undefined;
  /** usr/etc/passwd (or usr/etc/group): /etc of the tree. */
  readonly usrEtc: string | undefined;
}

/**
 * The users rpm-ostree's compose leaves in /usr/lib/passwd: it appends every entry of
 * /usr/etc/passwd but uid 0's to /usr/lib/passwd (`migrate_passwd_except_root`), and its check
 * reads that file only. A tree of the dnf driver keeps all users in /usr/etc/passwd; one of
 * rpm-ostree keeps only root there: both give the same users here.
 */
export function usrLibUsers(files: AccountFiles, label: string): Map<string, UserIds> {
  const users = parsePasswd(files.usrLib ?? '', `${label}/usr/lib/passwd`);
  for (const [name, ids] of parsePasswd(files.usrEtc ?? '', `${label}/usr/etc/passwd`)) {
    if (ids.uid !== 0) users.set(name, ids);
  }
  return users;
}

/**
 * The groups rpm-ostree's compose leaves in /usr/lib/group: every one but gid 0's
 * (`migrate_group_except_root`; `etc-group-members` are copied to /etc/group as well, not
 * instead, so they do not change this set).
 */
export function usrLibGroups(files: AccountFiles, label: string): Map<string, number> {
  const groups = parseGroup(files.usrLib ?? '', `${label}/usr/lib/group`);
  for (const [name, gid] of parseGroup(files.usrEtc ?? '', `${label}/usr/etc/group`)) {
    if (gid !== 0) groups.set(name, gid);
  }
  return groups;
}
