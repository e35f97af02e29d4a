/**
 * A large generated pipeline for benchmarks: 12 streams × 4 arches × 12 platform variants, each
 * with a plain and a release image, uploads to three regions (clouds) and, on the arches the QEMU
 * harness boots (x86_64, aarch64), kola tests.
 */
import { Construct } from 'constructs';
import {
  ARCHES,
  type Arch,
  DiskImage,
  findPlatform,
  isVmArch,
  KolaTest,
  Manifest,
  type Pipeline,
  PLATFORM_NAMES,
  PlatformImage,
  RpmOstreeCompose,
  Upload,
  type UploadProps,
} from 'fcos-cdk';

/** Size of a generated pipeline: 176 nodes per stream of the four arches (kola tests on two). */
export interface GeneratedSize {
  /** Streams, named s0, s1, ... */
  readonly streams: number;
  /** The first this many of ARCHES. */
  readonly arches: number;
}

/** The default size: 12 streams × 4 arches, 2,112 nodes. */
export const DEFAULT_SIZE: GeneratedSize = { streams: 12, arches: ARCHES.length };
const VARIANTS_PER_ARCH = 12;

/** Regions every cloud image is uploaded to (placeholders: nothing runs). */
const REGIONS = [
  { aws: 'us-east-1', azure: 'eastus', gcp: 'bench-project' },
  { aws: 'eu-west-1', azure: 'westeurope', gcp: 'bench-project-eu' },
  { aws: 'ap-south-1', azure: 'southeastasia', gcp: 'bench-project-asia' },
] as const;

/** Upload options for a cloud platform in one of {@link REGIONS}. */
function uploadOptionsFor(platform: string, region: (typeof REGIONS)[number]): UploadProps['options'] {
  if (platform === 'aws') return { region: region.aws, bucket: 'bench-bucket' };
  if (platform === 'azure') {
    return {
      subscriptionId: 's',
      resourceGroup: 'rg',
      location: region.azure,
      storageAccount: 'benchimages',
      container: 'images',
    };
  }
  return { project: region.gcp, bucket: 'bench-bucket' };
}

/** The 12 (platform, sector size) variants built for `arch`: its platforms in turn, 4k where allowed. */
function variantsFor(arch: Arch): Array<{ platform: string; sectorSize: 512 | 4096 }> {
  const supported = PLATFORM_NAMES.filter((name) => findPlatform(name)!.arches.includes(arch));
  const variants: Array<{ platform: string; sectorSize: 512 | 4096 }> = [];
  for (let round = 0; variants.length < VARIANTS_PER_ARCH; round++) {
    for (const platform of supported) {
      if (variants.length === VARIANTS_PER_ARCH) break;
      const sectorSize = round % 2 === 1 && findPlatform(platform)!.sectorSizes.includes(4096) ? 4096 : 512;
      variants.push({ platform, sectorSize });
    }
  }
  return variants;
}

/** Adds the generated stages to `pipeline`, `size` streams × arches of them. */
export function buildGeneratedPipeline(pipeline: Pipeline, size: GeneratedSize = DEFAULT_SIZE): Pipeline {
  const arches = ARCHES.slice(0, size.arches);
  for (let index = 0; index < size.streams; index++) {
    const stream = `s${index}`;
    const streamScope = new Construct(pipeline, stream);
    const manifest = new Manifest(streamScope, 'Manifest', {
      treefile: { ref: `fedora/\${basearch}/coreos/${stream}`, packages: ['kernel', 'ignition'] },
      arches: [...arches],
      variables: { stream },
    });
    for (const arch of arches) {
      const scope = new Construct(streamScope, arch);
      const compose = new RpmOstreeCompose(scope, 'Compose', { treefile: manifest.treefileFor(arch) });
      const disks = {
        512: new DiskImage(scope, 'Disk', { commit: compose.commit }).disk,
        4096: new DiskImage(scope, 'Disk4k', { commit: compose.commit, sectorSize: 4096 }).disk,
      };
      const qemu = new PlatformImage(scope, 'qemu-for-tests', { disk: disks[512], platform: 'qemu' });
      variantsFor(arch).forEach(({ platform, sectorSize }, index) => {
        const id = `${index}-${platform}${sectorSize === 4096 ? '4k' : ''}`;
        const target = findPlatform(platform)!;
        const image = new PlatformImage(scope, id, { disk: disks[sectorSize], platform });
        const release = new PlatformImage(scope, `${id}-release`, {
          disk: disks[sectorSize],
          platform,
          compression: target.compressions.includes('xz') ? 'xz' : target.defaultCompression,
        });
        if (target.upload) {
          REGIONS.forEach((region, index) => {
            new Upload(scope, `${id}-upload-${index}`, {
              image: release.image,
              options: uploadOptionsFor(platform, region),
            });
          });
        }
        // Synthesis refuses a kola test of an arch the harness cannot boot (ppc64le, s390x).
        if (!isVmArch(arch)) return;
        const bootable = target.qemuBootable;
        const tags = [`platform-${platform}`];
        new KolaTest(scope, `${id}-kola`, { image: bootable ? image.image : qemu.image, tags, stream });
        // Release images of bootable platforms are tested as shipped, compressed.
        if (bootable) new KolaTest(scope, `${id}-release-kola`, { image: release.image, tags, stream });
      });
    }
  }
  return pipeline;
}
