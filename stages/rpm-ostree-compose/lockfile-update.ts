/**
 * The compose's `fcos-run --update-lockfiles` hook: writes rpm-ostree's
 * `manifest-lock.<arch>.json` from the compose's package list into the lockfile directory that
 * the Manifest recorded in the treefile's metadata, so the next compose installs exactly these
 * versions. A treefile without a lockfile directory (inline, or another producer) writes nothing.
 */
import path from 'node:path';
import { ComposeError } from '../../lib/compose/errors.ts';
import { readPackageList } from '../../lib/compose/package-list.ts';
import { type LockfileUpdateContext, requireInput, type UpdatedLockfile } from '../../lib/runner.ts';
import { readComposeInputMetadata } from '../../lib/treefile/compose-input.ts';
import { writeLockfile } from '../../lib/treefile/lockfile.ts';
import type { ComposeRunnerProps } from './driver.ts';

/** Writes the lockfile of this compose's packages; says what it wrote (nothing without a directory). */
export async function updateComposeLockfile(
  context: LockfileUpdateContext<ComposeRunnerProps>,
): Promise<readonly UpdatedLockfile[]> {
  const treefile = readComposeInputMetadata(
    requireInput(context, context.props.treefile).metadata,
    context.nodePath,
  );
  if (treefile.lockfileDir === null) return [];
  const packagesOutput = requireOutput(context, 'packages');
  const arch = packagesOutput.metadata.arch ?? treefile.arch;
  if (typeof arch !== 'string' || arch === '') {
    throw new ComposeError('the packages output records no arch: cannot name its lockfile', {
      constructPath: context.nodePath,
      field: 'packages',
    });
  }
  const packages = await readPackageList(packagesOutput.path, context.nodePath);
  const file = await writeLockfile(path.resolve(context.projectDir, treefile.lockfileDir), arch, packages, {
    constructPath: context.nodePath,
  });
  return [{ file, packages: packages.length }];
}

/** The output `name` of this run; a typed error when the executor did not publish it. */
function requireOutput(context: LockfileUpdateContext<ComposeRunnerProps>, name: string) {
  const output = context.outputs[name];
  if (output === undefined) {
    throw new ComposeError(`output '${name}' was not published: cannot update the lockfile`, {
      constructPath: context.nodePath,
      field: name,
    });
  }
  return output;
}
