/**
 * Glob patterns over construct paths, for `--only` and `--force`: `*` matches within one path
 * segment, `**` across segments, `?` one character.
 */

/** A predicate matching construct paths against `pattern`. */
export function globMatcher(pattern: string): (path: string) => boolean {
  let source = '';
  for (let index = 0; index < pattern.length; index++) {
    const character = pattern[index]!;
    if (character === '*' && pattern[index + 1] === '*') {
      source += '.*';
      index++;
    } else if (character === '*') {
      source += '[^/]*';
    } else if (character === '?') {
      source += '[^/]';
    } else {
      source += character.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  const expression = new RegExp(`^${source}$`);
  return (path) => expression.test(path);
}

/** The paths matching any of `patterns`. */
export function matchAny(paths: Iterable<string>, patterns: readonly string[]): string[] {
  const matchers = patterns.map(globMatcher);
  return [...paths].filter((path) => matchers.some((matches) => matches(path)));
}
