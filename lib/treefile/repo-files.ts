/**
 * dnf `.repo` files: INI sections `[id]` of `key=value` lines; a line starting with whitespace
 * continues the previous value (fedora-coreos-config's multi-line `baseurl=`); `#` and `;` start
 * comment lines. Anything else is a malformed line, reported with the file and line number.
 */
import { RepoDefinitionError } from './errors.ts';

/** One `[id]` section of a `.repo` file, values as written (before `$basearch` substitution). */
export interface RepoFileSection {
  /** The repository id. */
  readonly id: string;
  /** The `.repo` file, as shown in messages. */
  readonly file: string;
  /** Line of the `[id]` header (1-based). */
  readonly line: number;
  /** The `key=value` options; continuation lines are joined with a newline. */
  readonly options: Readonly<Record<string, string>>;
}

/** Where a `.repo` file comes from, for messages. */
export interface RepoFileOrigin {
  /** Construct path of the Manifest node. */
  readonly constructPath: string;
  /** The file, as shown in messages. */
  readonly file: string;
}

const SECTION_PATTERN = /^\[([^\]]*)\]\s*$/;
const OPTION_PATTERN = /^([A-Za-z0-9_.-]+)\s*=\s*(.*)$/;
const REPO_ID_PATTERN = /^[A-Za-z0-9_.:-]+$/;

/** A section being read. */
interface OpenSection {
  readonly id: string;
  readonly line: number;
  readonly options: Record<string, string>;
  lastKey: string | undefined;
}

/** Parses a `.repo` file into its sections (a `[main]` section, dnf.conf's, is skipped). */
export function parseRepoFile(text: string, origin: RepoFileOrigin): RepoFileSection[] {
  const sections: OpenSection[] = [];
  // Fails on a malformed line, naming the file and line.
  const fail = (line: number, message: string): never => {
    throw new RepoDefinitionError(`${origin.file}:${line}: malformed .repo file: ${message}`, {
      constructPath: origin.constructPath,
      file: origin.file,
    });
  };
  const lines = text.split('\n');
  for (const [index, rawLine] of lines.entries()) {
    const lineNumber = index + 1;
    const line = rawLine.replace(/\r$/, '');
    const trimmed = line.trim();
    const current = sections.at(-1);
    if (trimmed === '') {
      if (current) current.lastKey = undefined;
      continue;
    }
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    if (/^\s/.test(line)) {
      if (!current?.lastKey) fail(lineNumber, `indented line '${trimmed}' continues no value`);
      else current.options[current.lastKey] = `${current.options[current.lastKey]}\n${trimmed}`;
      continue;
    }
    const section = SECTION_PATTERN.exec(trimmed);
    if (section) {
      const id = (section[1] ?? '').trim();
      if (!REPO_ID_PATTERN.test(id)) fail(lineNumber, `'[${id}]' is not a valid repository id`);
      if (sections.some((open) => open.id === id)) fail(lineNumber, `section [${id}] appears twice`);
      sections.push({ id, line: lineNumber, options: {}, lastKey: undefined });
      continue;
    }
    const option = OPTION_PATTERN.exec(trimmed);
    if (!option) fail(lineNumber, `'${trimmed}' is neither [id], key=value, nor a comment`);
    const [, key = '', value = ''] = option ?? [];
    if (!current) fail(lineNumber, `'${key}=' comes before any [id] section`);
    else if (Object.hasOwn(current.options, key))
      fail(lineNumber, `'${key}' is set twice in [${current.id}]`);
    else {
      current.options[key] = value.trim();
      current.lastKey = key;
    }
  }
  return sections
    .filter((section) => section.id !== 'main')
    .map(({ id, line, options }) => ({ id, file: origin.file, line, options }));
}
