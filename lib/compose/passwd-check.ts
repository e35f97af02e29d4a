/**
 * The rules of `check-passwd` and `check-groups`, as rpm-ostree's
 * `validate_treefile_check_passwd`/`validate_treefile_check_groups` (rust/src/passwd.rs) apply
 * them to the composed users and groups against the reference ones (a file, inline data or the
 * previous commit): a reference entry missing from the compose is an error when some file of the
 * tree is still owned by its id and it is not in `ignore-removed-users`/`-groups` (`*` ignores
 * all); a user whose uid (else gid) or a group whose gid changed is an error; new entries are
 * fine. Messages are rpm-ostree's. Unlike rpm-ostree, which stops at the first, every offence is
 * reported, so that one compose names them all.
 */
import type { GroupEntries, UserEntries } from './passwd-entries.ts';

/** The uids and gids owning some file or directory of the composed tree. */
export interface TreeOwners {
  /** uids. */
  readonly uids: ReadonlySet<number>;
  /** gids. */
  readonly gids: ReadonlySet<number>;
}

/** What a check found: the offences (errors) and rpm-ostree's informational lines. */
export interface CheckOutcome {
  /** One line per offending user or group; empty when the check passes. */
  readonly offences: readonly string[];
  /** What rpm-ostree prints on the way (ignored, unused removed and new entries). */
  readonly notes: readonly string[];
}

/** Names sorted as rpm-ostree's BTreeSet sorts them (by code unit, which is byte order for ASCII). */
function sorted(names: Iterable<string>): string[] {
  return [...names].sort((left, right) => (left < right ? -1 : left > right ? 1 : 0));
}

/** The reference names missing from the composed entries, sorted. */
export function missingNames(
  composed: ReadonlyMap<string, unknown>,
  reference: ReadonlyMap<string, unknown>,
): string[] {
  return sorted([...reference.keys()].filter((name) => !composed.has(name)));
}

/** What a rule needs besides the two sets of entries. */
export interface CheckOptions {
  /** `ignore-removed-users` (or `-groups`); undefined when the treefile does not set it. */
  readonly ignoreRemoved: readonly string[] | undefined;
  /** Who owns files in the tree (read only when some reference entry is missing). */
  readonly owners: TreeOwners;
}

/** The missing-entry rule shared by users and groups. */
function checkRemoved(
  missing: readonly string[],
  options: CheckOptions,
  owned: (name: string) => boolean,
  words: { readonly kind: 'User' | 'Group'; readonly file: 'passwd' | 'group' },
): CheckOutcome {
  const ignored = new Set(options.ignoreRemoved ?? []);
  const offences: string[] = [];
  const notes: string[] = [];
  for (const name of missing) {
    const lower = words.kind.toLowerCase();
    if (ignored.has('*') || ignored.has(name)) {
      notes.push(`Ignored ${lower} missing from new ${words.file} file: ${name}`);
    } else if (owned(name)) {
      offences.push(`${words.kind} missing from new ${words.file} file: ${name}`);
    } else {
      notes.push(`Unused ${lower} removed from new ${words.file} file: ${name}`);
    }
  }
  return { offences, notes };
}

/** `check-passwd`: the composed users against the reference users. */
export function checkUsers(
  composed: UserEntries,
  reference: UserEntries,
  options: CheckOptions,
): CheckOutcome {
  const removed = checkRemoved(
    missingNames(composed, reference),
    options,
    (name) => options.owners.uids.has(reference.get(name)?.uid ?? -1),
    { kind: 'User', file: 'passwd' },
  );
  const offences = [...removed.offences];
  const added: string[] = [];
  for (const name of sorted(composed.keys())) {
    const now = composed.get(name)!;
    const before = reference.get(name);
    if (before === undefined) added.push(name);
    // rpm-ostree compares the uid first and reports only it when both changed.
    else if (now.uid !== before.uid)
      offences.push(`passwd UID changed: ${name} (${before.uid} to ${now.uid})`);
    else if (now.gid !== before.gid)
      offences.push(`passwd GID changed: ${name} (${before.gid} to ${now.gid})`);
  }
  const notes = [...removed.notes];
  if (added.length > 0) notes.push(`New passwd entries: ${added.join(', ')}`);
  return { offences, notes };
}

/** `check-groups`: the composed groups against the reference groups. */
export function checkGroups(
  composed: GroupEntries,
  reference: GroupEntries,
  options: CheckOptions,
): CheckOutcome {
  const removed = checkRemoved(
    missingNames(composed, reference),
    options,
    (name) => options.owners.gids.has(reference.get(name) ?? -1),
    { kind: 'Group', file: 'group' },
  );
  const offences = [...removed.offences];
  const added: string[] = [];
  for (const name of sorted(composed.keys())) {
    const now = composed.get(name)!;
    const before = reference.get(name);
    if (before === undefined) added.push(name);
    // rpm-ostree prints this one as "(new to old)"; old to new here, as for users.
    else if (now !== before) offences.push(`group GID changed: ${name} (${before} to ${now})`);
  }
  const notes = [...removed.notes];
  if (added.length > 0) notes.push(`New group entries: ${added.join(', ')}`);
  return { offences, notes };
}
