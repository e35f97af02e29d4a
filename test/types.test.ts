/** Artifact types make a mismatched edge a tsc error. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { makeTempProject, REPO_ROOT } from './helpers/temp-project.ts';

describe('artifact types', () => {
  it('make passing a disk image where a commit is expected a tsc error', async () => {
    // The same file as test/types/artifact-mismatch.ts without its @ts-expect-error directives:
    // tsc must report every one of those lines.
    const source = await readFile(path.join(REPO_ROOT, 'test/types/artifact-mismatch.ts'), 'utf8');
    const directory = await makeTempProject();
    const file = path.join(directory, 'mismatch.ts');
    const rewritten = source
      .replace(/^\s*\/\/ @ts-expect-error.*$/gm, '')
      .replaceAll("'../../lib/index.ts'", "'fcos-cdk'")
      .replaceAll("'../../stages/index.ts'", "'fcos-cdk'");
    await writeFile(file, rewritten);
    const tsc = path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
    const result = await execa(
      'node',
      [
        tsc,
        '--noEmit',
        '--strict',
        '--skipLibCheck',
        '--target',
        'ES2022',
        '--module',
        'NodeNext',
        '--moduleResolution',
        'NodeNext',
        // The library's sources, as in this repository (package.test.ts checks the built declarations).
        '--customConditions',
        'fcos-cdk-source',
        '--allowImportingTsExtensions',
        '--types',
        'node',
        file,
      ],
      { reject: false, cwd: REPO_ROOT },
    );
    expect(result.exitCode).not.toBe(0);
    const errors = result.stdout
      .split('\n')
      .filter((line) => /mismatch\.ts\(\d+,\d+\): error TS2322/.test(line));
    expect(errors).toHaveLength(5);
    expect(result.stdout).toContain(`Type '"disk-image"' is not assignable to type '"ostree-commit"'`);
    expect(result.stdout).toContain(`Type '"ostree-commit"' is not assignable to type '"disk-image"'`);
  }, 120_000);
});
