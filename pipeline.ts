/**
 * The Fedora CoreOS pipeline: streams × arches × platforms, selected by context.
 *
 *   npx fcos-synth                                  local profile: the tiny OS for x86_64, every platform's
 *                                                   image (no upload), kola basic + tests/kola/ in QEMU
 *   npx fcos-synth -c profile=fedora -c config=../fedora-coreos-config -c aws.bucket=... ...
 *
 * Context keys: profile (local|fedora), streams, arches, platforms (comma-separated), config (the
 * fedora-coreos-config checkout; config.<stream> overrides it per stream), upload (true|false), and
 * the cloud settings aws.*, azure.*, gcp.* read below.
 */
import { Construct } from 'constructs';
import { ARCHES, type Arch, Pipeline } from './lib/index.ts';
import {
  DiskImage,
  KolaTest,
  LocalPackageRepo,
  Manifest,
  PlatformImage,
  RpmOstreeCompose,
  Upload,
  type UploadProps,
} from './stages/index.ts';

const STREAMS = ['stable', 'testing', 'next', 'testing-devel', 'next-devel', 'rawhide'] as const;
const PLATFORMS = ['qemu', 'metal', 'metal4k', 'aws', 'azure', 'gce'] as const;
type PlatformChoice = (typeof PLATFORMS)[number];

const pipeline = new Pipeline({ name: 'fedora-coreos', context: { profile: 'local' } });
const profile = pipeline.contextChoice('profile', ['local', 'fedora'], 'local');
const local = profile === 'local';

const streams = pipeline.contextList('streams', STREAMS, local ? ['testing'] : ['stable', 'testing', 'next']);
const arches = pipeline.contextList('arches', ARCHES, local ? ['x86_64'] : ['x86_64', 'aarch64']);
const platforms = pipeline.contextList<PlatformChoice>(
  'platforms',
  PLATFORMS,
  local ? ['qemu', 'metal', 'aws', 'azure', 'gce'] : ['qemu', 'metal', 'metal4k', 'aws', 'azure', 'gce'],
);
const uploads = pipeline.contextChoice('upload', ['true', 'false'], local ? 'false' : 'true') === 'true';

/** The local profile's config checkout: the tiny OS, laid out like fedora-coreos-config. */
const LOCAL_OS = 'local-os';

// The local profile builds its packages once and shares them between streams.
const localRepo = local
  ? new LocalPackageRepo(pipeline, 'Packages', { specs: `${LOCAL_OS}/packages`, name: 'local' })
  : undefined;

for (const stream of streams) {
  const streamScope = new Construct(pipeline, stream);
  const config = local ? LOCAL_OS : configFor(stream);
  const manifest = new Manifest(streamScope, 'Manifest', {
    file: `${config}/manifest.yaml`,
    localRepos: localRepo ? [localRepo.repo] : [],
    arches,
    variables: { stream },
  });
  for (const arch of arches) {
    const archScope = new Construct(streamScope, arch);
    const compose = new RpmOstreeCompose(archScope, 'Compose', { treefile: manifest.treefileFor(arch) });
    // The tiny OS fits in a 1 GiB disk; Fedora CoreOS's images are 10 GiB (image-base.yaml).
    const sizeGiB = local ? 1 : 10;
    const disk = new DiskImage(archScope, 'Disk', { commit: compose.commit, arch, sizeGiB });
    const disk4k = platforms.includes('metal4k')
      ? new DiskImage(archScope, 'Disk4k', { commit: compose.commit, arch, sizeGiB, sectorSize: 4096 })
      : undefined;
    for (const platform of platforms) {
      const image = new PlatformImage(archScope, platform, {
        disk: platform === 'metal4k' && disk4k ? disk4k.disk : disk.disk,
        platform: platform === 'metal4k' ? 'metal' : platform,
      });
      // The QEMU harness runs x86_64 guests (qemu-system-x86_64); other arches need their own emulator.
      if (platform === 'qemu' && arch === 'x86_64') {
        new KolaTest(archScope, 'Kola', {
          image: image.image,
          stream,
          tests: ['basic', 'ext.*'],
          testsDir: `${config}/tests/kola`,
          denylist: `${config}/kola-denylist.yaml`,
        });
      }
      const options = uploads ? uploadOptions(platform, stream, arch) : undefined;
      if (options) new Upload(archScope, `Upload-${platform}`, { image: image.image, options });
    }
  }
}

/** The fedora-coreos-config checkout for `stream`: `-c config.<stream>=PATH`, else `-c config=PATH`. */
function configFor(stream: string): string {
  return (
    pipeline.tryGetContext(`config.${stream}`) ??
    pipeline.requireContext(
      'config',
      pipeline.node.findChild(stream),
      'the path of a fedora-coreos-config checkout',
    )
  );
}

/** Upload options of a cloud platform, from context; undefined for platforms that are not clouds. */
function uploadOptions(
  platform: PlatformChoice,
  stream: string,
  arch: Arch,
): UploadProps['options'] | undefined {
  const need = (key: string) => pipeline.requireContext(key, pipeline, `needed to upload ${platform} images`);
  switch (platform) {
    case 'aws':
      return { region: pipeline.tryGetContext('aws.region') ?? 'us-east-1', bucket: need('aws.bucket') };
    case 'azure':
      return {
        subscriptionId: need('azure.subscription'),
        resourceGroup: need('azure.resourceGroup'),
        location: pipeline.tryGetContext('azure.location') ?? 'eastus',
        storageAccount: need('azure.storageAccount'),
        container: pipeline.tryGetContext('azure.container') ?? 'images',
      };
    case 'gce':
      return {
        project: need('gcp.project'),
        bucket: need('gcp.bucket'),
        family: `fedora-coreos-${stream}${arch === 'x86_64' ? '' : `-${arch.replace('_', '-')}`}`,
      };
    default:
      return undefined;
  }
}
