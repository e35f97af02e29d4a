/** dnf's "package in no repository" lines, as dnf 4 and dnf 5 print them, read into package names. */
import { describe, expect, it } from 'vitest';
import { PackageNotFoundError, unmatchedPackages } from '../lib/tools/dnf.ts';

describe('unmatchedPackages', () => {
  it("reads dnf 4's per-package lines and the one-line summary, each name once", () => {
    const output = [
      'No match for argument: foo',
      'No match for argument: bar-1.0-1.fc41',
      'Error: Unable to find a match: foo bar-1.0-1.fc41',
    ].join('\n');
    expect(unmatchedPackages(output)).toEqual(['foo', 'bar-1.0-1.fc41']);
  });

  it('reads the summary alone, and finds nothing in an unrelated failure', () => {
    expect(unmatchedPackages('Error: Unable to find a match: a b\n')).toEqual(['a', 'b']);
    expect(unmatchedPackages('Error: Failed to download metadata for repo local\n')).toEqual([]);
  });

  it('names several packages, their origin and the repositories in one sentence', () => {
    const error = new PackageNotFoundError(['a', 'b'], ['fedora', 'updates'], {
      origin: 'treefile fedora/x86_64/coreos/stable',
      constructPath: 'stable/x86_64/Compose',
    });
    expect(error.message).toBe(
      "packages 'a', 'b' (treefile fedora/x86_64/coreos/stable) are in no enabled repository (fedora, updates)",
    );
    expect(error).toMatchObject({ constructPath: 'stable/x86_64/Compose', field: 'packages' });
  });
});
