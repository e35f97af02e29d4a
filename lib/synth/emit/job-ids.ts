/**
 * Job ids made from construct paths, one rule per engine: readable (the path with its separators
 * replaced), deterministic (a function of the paths alone) and unique. Where two paths would give
 * the same id, or an id is too long, each of them gets the first 8 hex digits of its path's sha256
 * appended, so adding a node never renames the jobs of unrelated nodes.
 */
import { createHash } from 'node:crypto';
import { EmitError } from './job-plan.ts';

/** How one engine spells ids. */
export interface IdRule {
  /** The id for `path` before collisions are resolved (may be empty). */
  readonly sanitize: (path: string) => string;
  /** Longest id the engine accepts. */
  readonly maxLength: number;
  /** Whether the engine compares ids without regard to case. */
  readonly caseInsensitive: boolean;
  /** The engine's own check, applied to every final id. */
  readonly valid: RegExp;
}

/** GitHub Actions job ids: `^[A-Za-z_][A-Za-z0-9_-]*$`, under 100 characters, compared case-insensitively. */
export const GITHUB_JOB_ID: IdRule = {
  sanitize: (path) => {
    const id = path.replace(/\//g, '-').replace(/[^A-Za-z0-9_-]/g, '_');
    return /^[A-Za-z_]/.test(id) ? id : `_${id}`;
  },
  maxLength: 99,
  caseInsensitive: true,
  valid: /^[A-Za-z_][A-Za-z0-9_-]*$/,
};

/** Tekton pipeline task names: DNS-1123 labels (lower case, digits and `-`, at most 63). */
export const TEKTON_TASK_NAME: IdRule = {
  sanitize: (path) =>
    path
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, ''),
  maxLength: 63,
  caseInsensitive: false,
  valid: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
};

/** The id of every path in `paths` under `rule`, unique under the rule's comparison. */
export function uniqueIds(paths: readonly string[], rule: IdRule): Map<string, string> {
  const comparable = (id: string): string => (rule.caseInsensitive ? id.toLowerCase() : id);
  const plain = new Map(paths.map((path) => [path, rule.sanitize(path)]));
  const uses = new Map<string, number>();
  for (const id of plain.values()) uses.set(comparable(id), (uses.get(comparable(id)) ?? 0) + 1);
  const result = new Map<string, string>();
  const taken = new Set<string>();
  for (const path of paths) {
    let id = plain.get(path)!;
    if (id === '' || id.length > rule.maxLength || uses.get(comparable(id))! > 1)
      id = withHash(id, path, rule);
    if (!rule.valid.test(id) || taken.has(comparable(id))) {
      throw new EmitError(`cannot make a unique job id for '${path}' (got '${id}')`, { constructPath: path });
    }
    taken.add(comparable(id));
    result.set(path, id);
  }
  return result;
}

/** `id` cut to fit with `-<8 hex digits of sha256(path)>` appended. */
function withHash(id: string, path: string, rule: IdRule): string {
  const hash = createHash('sha256').update(path).digest('hex').slice(0, 8);
  const room = rule.maxLength - hash.length - 1;
  const head = id.slice(0, room).replace(/-+$/, '');
  return head === '' ? (rule.valid.test(hash) ? hash : `_${hash}`) : `${head}-${hash}`;
}

/** A pipeline name as a file name: anything but letters, digits, `.`, `_` and `-` becomes `-`. */
export function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-');
}
