/**
 * The synthesis check of an image a VM test boots (KolaTest and the update tests): its platform
 * must be one the QEMU harness boots (Ignition reads fw_cfg on qemu only), its arch one the harness
 * has a machine for, with the test's firmware (lib/vm/machines.ts).
 */
import type { Artifact } from '../../lib/artifacts.ts';
import { type Firmware, vmProblem } from '../../lib/vm/machines.ts';
import { findPlatform, qemuBootablePlatformNames } from '../../targets/index.ts';

/** A problem of the image, and the prop it is reported on. */
export interface HarnessImageIssue {
  readonly field: string;
  readonly message: string;
}

/**
 * The check of `image` booted with `firmware`; the platform registry is read now, while the
 * program's registrations are in force (checks run after it has finished).
 */
export function harnessImageCheck(
  image: Artifact<'platform-image'>,
  firmware: Firmware,
): () => HarnessImageIssue[] {
  const platform = image.attributes.platform;
  const bootable = findPlatform(platform)?.qemuBootable === true;
  const bootableNames = qemuBootablePlatformNames();
  return () => {
    const issues: HarnessImageIssue[] = [];
    if (!bootable)
      issues.push({
        field: 'image',
        message: `the QEMU harness boots ${bootableNames.join(' and ')} images, not ${platform} (${image.describe()})`,
      });
    const problem = vmProblem(image.attributes.arch, firmware);
    if (problem)
      issues.push({
        field: problem.field === 'arch' ? 'image' : problem.field,
        message: `${problem.message} (${image.describe()})`,
      });
    return issues;
  };
}
