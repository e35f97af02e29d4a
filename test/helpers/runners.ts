/**
 * Stage runners as the executor holds them: their props typed as the JSON pipeline.json gives,
 * so a test can hand them a context it builds by hand, as the executor does.
 */
import type { Runner } from '../../lib/runner.ts';
import diskImage from '../../stages/disk-image/runner.ts';
import kolaTest from '../../stages/kola-test/runner.ts';
import localPackageRepo from '../../stages/local-package-repo/runner.ts';
import manifest from '../../stages/manifest/runner.ts';
import platformImage from '../../stages/platform-image/runner.ts';
import rpmOstreeCompose from '../../stages/rpm-ostree-compose/runner.ts';

/** `runner` with untyped props (a runner's props type is narrower than the JSON the executor reads). */
function untyped(runner: Runner<never>): Runner {
  return runner as unknown as Runner;
}

/** The built-in runners that tests call directly, by kind. */
export const RUNNERS = {
  DiskImage: untyped(diskImage),
  KolaTest: untyped(kolaTest),
  LocalPackageRepo: untyped(localPackageRepo),
  Manifest: untyped(manifest),
  PlatformImage: untyped(platformImage),
  RpmOstreeCompose: untyped(rpmOstreeCompose),
} as const;
