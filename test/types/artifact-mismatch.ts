/**
 * Checked by `tsc --noEmit` (part of `npm test`): each @ts-expect-error line must be a type error,
 * or tsc reports the directive as unused. Never executed.
 */
import { Pipeline } from '../../lib/index.ts';
import {
  DiskImage,
  KolaTest,
  Manifest,
  PlatformImage,
  RpmOstreeCompose,
  Upload,
} from '../../stages/index.ts';

/** Builds pipelines that hand one construct's output to the wrong prop. */
export function mismatchedArtifacts(): void {
  const pipeline = new Pipeline();
  const manifest = new Manifest(pipeline, 'Manifest', { treefile: { ref: 'r' } });
  const compose = new RpmOstreeCompose(pipeline, 'Compose', { treefile: manifest.treefileFor('x86_64') });
  const disk = new DiskImage(pipeline, 'Disk', { commit: compose.commit });
  const qemu = new PlatformImage(pipeline, 'Qemu', { disk: disk.disk, platform: 'qemu' });

  // @ts-expect-error a disk image is not an ostree commit
  new DiskImage(pipeline, 'DiskFromDisk', { commit: disk.disk });
  // @ts-expect-error a commit is not a disk image
  new PlatformImage(pipeline, 'ImageFromCommit', { disk: compose.commit, platform: 'qemu' });
  // @ts-expect-error a package list is not a treefile
  new RpmOstreeCompose(pipeline, 'ComposeFromPackages', { treefile: compose.packages });
  // @ts-expect-error a disk image is not a platform image
  new KolaTest(pipeline, 'KolaOfDisk', { image: disk.disk });
  const report = new KolaTest(pipeline, 'Kola', { image: qemu.image }).report;
  const options = { region: 'r', bucket: 'bucket' };
  // @ts-expect-error a test report is not a platform image
  new Upload(pipeline, 'UploadOfReport', { image: report, options });
}
