/**
 * The Fedora CoreOS pipeline: streams × arches × platforms, selected by context.
 *
 *   npx fcos-synth                                  local profile: the tiny OS for x86_64 and aarch64, every platform's
 *                                                   image (no upload), kola basic + tests/kola/ in QEMU, and a
 *                                                   signed testing release published to fcos.out/publish/
 *   npx fcos-synth -c profile=fedora -c config=../fedora-coreos-config -c aws.bucket=... ...
 *
 * Context keys: profile (local|fedora), streams, arches, platforms (comma-separated), config (the
 * fedora-coreos-config checkout; config.<stream> overrides it per stream), upload (true|false), the
 * cloud settings each cloud's folder reads (targets/aws: aws.*, targets/azure: azure.*,
 * targets/gce: gcp.*), and the release's: publish.directory or publish.s3.bucket (+ .prefix,
 * .region, .endpoint), release.baseUrl (where the destination is served), rollout.start (Unix
 * seconds; default the release's snapshot time) and rollout.minutes.
 */
import { Construct } from 'constructs';
import {
  ARCHES,
  type Arch,
  type Artifact,
  Build,
  DiskImage,
  findPlatform,
  InstallTest,
  isVmArch,
  KolaTest,
  LiveImage,
  LocalPackageRepo,
  Manifest,
  Pipeline,
  PlatformImage,
  Publish,
  type PublishDestinationProps,
  platformNames,
  Release,
  RollbackTest,
  RolloutTest,
  RpmOstreeCompose,
  streamCode,
  UpdateMetadata,
  UpgradeTest,
  Upload,
  type UploadContextReader,
  type UploadProps,
} from 'fcos-cdk';

const STREAMS = ['stable', 'testing', 'next', 'testing-devel', 'next-devel', 'rawhide'] as const;
/** `metal4k`: not a platform of its own but the metal image of a 4096-byte-sector disk (cosa's name). */
const METAL_4K = 'metal4k';
/** What `-c platforms=` may list: every registered platform, and metal4k. */
const PLATFORM_CHOICES = [...platformNames(), METAL_4K];

const pipeline = new Pipeline({ name: 'fedora-coreos', context: { profile: 'local' } });
const profile = pipeline.contextChoice('profile', ['local', 'fedora'], 'local');
const local = profile === 'local';

const streams = pipeline.contextList('streams', STREAMS, local ? ['testing'] : ['stable', 'testing', 'next']);
const arches = pipeline.contextList('arches', ARCHES, ['x86_64', 'aarch64']);
const platforms = pipeline.contextList(
  'platforms',
  PLATFORM_CHOICES,
  local ? ['qemu', 'metal', 'aws', 'azure', 'gce'] : ['qemu', 'metal', 'metal4k', 'aws', 'azure', 'gce'],
);
const uploads = pipeline.contextChoice('upload', ['true', 'false'], local ? 'false' : 'true') === 'true';
/** Where releases go: the local profile publishes into fcos.out/publish/, which `npx fcos-serve` serves. */
const destination = publishDestination();
const baseUrl = pipeline.tryGetContext('release.baseUrl') ?? 'http://127.0.0.1:8080';

/** The local profile's config checkout: the tiny OS, laid out like fedora-coreos-config. */
const LOCAL_OS = 'local-os';
/**
 * The local profile's update tests start from a *previous* release: the same manifest composed as
 * of this fixed date (2026-09-01T00:00:00Z), so its version is older than any current build's.
 */
const PREVIOUS_RELEASE_TIMESTAMP = 1788220800;
/** The broken release of the rollback test: the manifest plus a required health check that fails. */
const BROKEN_MANIFEST = `${LOCAL_OS}/tests/update/broken.yaml`;

// The local profile builds its packages once per arch (Packages/<arch>) and shares them between streams.
const localRepos = local ? localPackageRepos() : [];

for (const stream of streams) {
  const streamScope = new Construct(pipeline, stream);
  const config = local ? LOCAL_OS : configFor(stream);
  const manifest = new Manifest(streamScope, 'Manifest', {
    file: `${config}/manifest.yaml`,
    localRepos,
    arches,
    variables: { stream, stream_code: streamCode(stream) },
  });
  // The local profile's broken release (rollback test): composed per arch below, when its tests run.
  const brokenManifest = local
    ? new Manifest(streamScope, 'BrokenManifest', {
        file: BROKEN_MANIFEST,
        localRepos,
        arches,
        variables: { stream, stream_code: streamCode(stream) },
      })
    : undefined;
  const builds: Build[] = [];
  const tests: Artifact<'test-report'>[] = [];
  for (const arch of arches) {
    const archScope = new Construct(streamScope, arch);
    const compose = new RpmOstreeCompose(archScope, 'Compose', { treefile: manifest.treefileFor(arch) });
    // The tiny OS fits in a 1 GiB disk; Fedora CoreOS's images are 10 GiB (image-base.yaml).
    const sizeGiB = local ? 1 : 10;
    const disk = new DiskImage(archScope, 'Disk', { commit: compose.commit, arch, sizeGiB });
    const disk4k = platforms.includes(METAL_4K)
      ? new DiskImage(archScope, 'Disk4k', { commit: compose.commit, arch, sizeGiB, sectorSize: 4096 })
      : undefined;
    const images: PlatformImage[] = [];
    const cloudImages: Upload[] = [];
    // Each arch gets the platforms Fedora CoreOS ships for it (vmware is x86_64's only ...).
    for (const platform of platforms.filter((name) => shipsFor(name, arch))) {
      const image = new PlatformImage(archScope, platform, {
        disk: platform === METAL_4K && disk4k ? disk4k.disk : disk.disk,
        platform: platform === METAL_4K ? 'metal' : platform,
      });
      images.push(image);
      // The QEMU harness boots x86_64 and aarch64 guests; the other arches are built, not booted.
      if (platform === 'qemu' && isVmArch(arch)) {
        const kola = new KolaTest(archScope, 'Kola', {
          image: image.image,
          stream,
          tests: ['basic', 'ext.*'],
          testsDir: `${config}/tests/kola`,
          denylist: `${config}/kola-denylist.yaml`,
        });
        tests.push(kola.report);
        if (brokenManifest) {
          tests.push(...updateTests(archScope, arch, manifest, compose, image, brokenManifest, stream));
        }
      }
      const options = uploads ? uploadOptions(platform, stream, arch) : undefined;
      if (options)
        cloudImages.push(new Upload(archScope, `Upload-${platform}`, { image: image.image, options }));
    }
    // Bare metal's live ISO and PXE artifacts, with the metal images inside for offline installs.
    const metal = images.find((image) => image.props.platform === 'metal' && image.props.disk === disk.disk);
    const metal4k = images.find(
      (image) => image.props.platform === 'metal' && image.props.disk === disk4k?.disk,
    );
    const live = metal
      ? new LiveImage(archScope, 'Live', {
          commit: compose.commit,
          metal: metal.image,
          ...(metal4k ? { metal4k: metal4k.image } : {}),
        })
      : undefined;
    // kola testiso's install scenarios (the others run in the test suite), on every arch the QEMU
    // harness boots; their consoles speak the tiny OS's protocol, so the local profile's only.
    if (live && local && isVmArch(arch)) {
      for (const scenario of ['iso-offline-install', 'pxe-online-install'] as const) {
        tests.push(
          new InstallTest(archScope, `InstallTest-${scenario}`, { live: live.live, scenario }).report,
        );
      }
    }
    // cosa's meta.json of this arch; the parent is the stream's newest published release.
    builds.push(
      new Build(archScope, 'Build', {
        stream,
        commit: compose.commit,
        images: images.map((image) => image.image),
        cloudImages: cloudImages.map((upload) => upload.cloudImage),
        ...(live ? { live: live.live } : {}),
        // The published index: read from the directory, or from where the bucket is served.
        previousReleases:
          'directory' in destination
            ? `${destination.directory}/prod/streams/${stream}/releases.json`
            : `${baseUrl}/prod/streams/${stream}/releases.json`,
      }),
    );
  }
  // The release is gated on the stream's tests: a failed KolaTest means no release.
  const release = new Release(streamScope, 'Release', {
    stream,
    builds: builds.map((build) => build.build),
    tests,
    baseUrl,
  });
  const rolloutStart = pipeline.tryGetContext('rollout.start');
  const updates = new UpdateMetadata(streamScope, 'Updates', {
    stream,
    // Earlier releases' barriers and rollouts are kept from what was published before.
    ...('directory' in destination
      ? { from: `${destination.directory}/updates/${stream}.json`, allowMissingFrom: true }
      : {}),
    releases: [
      {
        version: release.release,
        rollout: {
          ...(rolloutStart === undefined ? {} : { startEpoch: Number(rolloutStart) }),
          startPercentage: 0,
          durationMinutes: Number(pipeline.tryGetContext('rollout.minutes') ?? 2880),
        },
      },
    ],
  });
  new Publish(streamScope, 'Publish', {
    release: release.release,
    updates: updates.updates,
    destination,
    // Local builds sign with a throwaway key kept in the cache; CI names its key in FCOS_SIGNING_*.
    signing: local ? 'throwaway' : 'environment',
  });
}

/**
 * The local profile's update tests of one arch (issue #12): a previous release (the same manifest
 * dated PREVIOUS_RELEASE_TIMESTAMP, with its own disk and qemu image) upgrades to the current
 * build and, mid-rollout, is offered it by wariness; the current build is offered a broken
 * release (respin 1 of the current date) and must roll back. Their reports gate the release.
 */
function updateTests(
  scope: Construct,
  arch: Arch,
  manifest: Manifest,
  compose: RpmOstreeCompose,
  image: PlatformImage,
  brokenManifest: Manifest,
  stream: string,
): Artifact<'test-report'>[] {
  const previous = new RpmOstreeCompose(scope, 'PreviousCompose', {
    treefile: manifest.treefileFor(arch),
    timestamp: PREVIOUS_RELEASE_TIMESTAMP,
  });
  const previousDisk = new DiskImage(scope, 'PreviousDisk', { commit: previous.commit, arch, sizeGiB: 1 });
  const previousImage = new PlatformImage(scope, 'PreviousQemu', {
    disk: previousDisk.disk,
    platform: 'qemu',
  });
  const broken = new RpmOstreeCompose(scope, 'BrokenCompose', {
    treefile: brokenManifest.treefileFor(arch),
    respin: 1,
  });
  const fromPrevious = { image: previousImage.image, from: previous.commit, to: compose.commit, stream };
  return [
    new UpgradeTest(scope, 'UpgradeTest', fromPrevious).report,
    new RollbackTest(scope, 'RollbackTest', {
      image: image.image,
      from: compose.commit,
      to: broken.commit,
      stream,
    }).report,
    new RolloutTest(scope, 'RolloutTest', fromPrevious).report,
  ];
}

/** Whether Fedora CoreOS ships `platform` (metal4k: metal's) for `arch`. */
function shipsFor(platform: string, arch: Arch): boolean {
  return findPlatform(platform === METAL_4K ? 'metal' : platform)?.arches.includes(arch) === true;
}

/** The local tiny OS's RPMs, one repository per arch (`Packages/<arch>`), all named `local`. */
function localPackageRepos(): Artifact<'rpm-repo'>[] {
  const scope = new Construct(pipeline, 'Packages');
  return arches.map(
    (arch) => new LocalPackageRepo(scope, arch, { specs: `${LOCAL_OS}/packages`, name: 'local', arch }).repo,
  );
}

/** The release destination: `-c publish.s3.bucket=...` (with .prefix, .region, .endpoint), else a directory. */
function publishDestination(): PublishDestinationProps {
  const bucket = pipeline.tryGetContext('publish.s3.bucket');
  if (bucket === undefined) {
    return { directory: pipeline.tryGetContext('publish.directory') ?? 'fcos.out/publish' };
  }
  const optional = (key: string) => {
    const value = pipeline.tryGetContext(`publish.s3.${key}`);
    return value === undefined ? {} : { [key]: value };
  };
  return { s3: { bucket, ...optional('prefix'), ...optional('region'), ...optional('endpoint') } };
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

/**
 * Upload options of `platform`'s images, read from context by the platform's own mapping
 * (targets/<cloud>/index.ts: aws.*, azure.*, gcp.*); undefined for platforms that are not clouds.
 */
function uploadOptions(platform: string, stream: string, arch: Arch): UploadProps['options'] | undefined {
  const upload = findPlatform(platform)?.upload;
  if (!upload) return undefined;
  const context: UploadContextReader = {
    optional: (key) => pipeline.tryGetContext(key),
    required: (key) => pipeline.requireContext(key, pipeline, `needed to upload ${platform} images`),
  };
  // The Upload validates the options with the same platform's schema.
  return upload.optionsFromContext(context, stream, arch) as UploadProps['options'];
}
