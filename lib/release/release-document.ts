/**
 * release.json from the meta.json of each arch of one build, as coreos-assembler's
 * `cmd-generate-release-meta` does: every image file of meta.json becomes
 * `media.<platform>.artifacts.<format>.<role>` with its URL under the stream's build directory,
 * its signature's URL and digests; AMIs, the GCE image, Aliyun images and the KubeVirt container
 * become the media's cloud images. Azure: like cosa, only the VHD is a medium (`azure.vhd.xz`);
 * the uploaded Azure image is not public, so release.json (and stream metadata) never name it.
 * Pure: the same builds give the same document.
 */
import type { BuildImage, BuildMeta } from './build-meta.ts';
import { ReleaseDocumentError } from './errors.ts';
import {
  publishedPaths,
  type Release,
  type ReleaseArch,
  type ReleaseFile,
  type ReleaseIndexEntry,
  type ReleaseMedia,
} from './formats.ts';

/** What {@link releaseFromBuilds} needs besides the builds. */
export interface ReleaseOptions {
  /** The stream the release belongs to (`stable`, `testing` ...). */
  readonly stream: string;
  /** URL the destination is served from, without the `prod/streams/...` part (`http://127.0.0.1:8080`). */
  readonly baseUrl: string;
}

/**
 * meta.json image entries that are not downloadable media: the ostree commit archive, container
 * images and keys, and cosa's legacy installer files (superseded by the live ISO/PXE).
 */
const NOT_MEDIA: ReadonlySet<string> = new Set([
  'ostree',
  'extensions-container',
  'legacy-oscontainer',
  'oci-manifest',
  'ignition-gpg-key',
  'iso',
  'kernel',
  'initramfs',
]);

/** Live images: they belong to the metal platform under a fixed format and role. */
const LIVE_IMAGES: Readonly<Record<string, { readonly format: string; readonly role: string }>> = {
  'live-iso': { format: 'iso', role: 'disk' },
  'live-kernel': { format: 'pxe', role: 'kernel' },
  'live-initramfs': { format: 'pxe', role: 'initramfs' },
  'live-rootfs': { format: 'pxe', role: 'rootfs' },
};

/** release.json of one build: every arch's commit and media; all builds of one version, distinct arches. */
export function releaseFromBuilds(builds: readonly BuildMeta[], options: ReleaseOptions): Release {
  const first = builds[0];
  if (first === undefined) throw new ReleaseDocumentError('a release needs the build of at least one arch');
  const version = first.buildid;
  const architectures: Record<string, ReleaseArch> = {};
  for (const build of builds) {
    const arch = build['coreos-assembler.basearch'];
    if (build.buildid !== version) {
      throw new ReleaseDocumentError(
        `the builds are not of one version: ${arch} is ${build.buildid}, ${first['coreos-assembler.basearch']} is ${version}`,
      );
    }
    if (architectures[arch] !== undefined) {
      throw new ReleaseDocumentError(`release ${version} has two builds of arch ${arch}: one build per arch`);
    }
    const base = build['base-oscontainer'];
    architectures[arch] = {
      commit: build['ostree-commit'],
      // The OS as a container image (`rpm-ostree rebase` to it): cosa's `base-oscontainer`.
      ...(base !== undefined ? { 'oci-image': containerImage(base) } : {}),
      media: mediaOfBuild(build, (file) => fileUrls(options, version, arch, file)),
    };
  }
  const sorted = Object.fromEntries(Object.entries(architectures).sort(([a], [b]) => a.localeCompare(b)));
  return { release: version, stream: options.stream, architectures: sorted };
}

/** The release index entry of a release: its version, release.json URL and commit per arch. */
export function releaseIndexEntryFor(release: Release, baseUrl: string): ReleaseIndexEntry {
  return {
    version: release.release,
    metadata: `${trimSlash(baseUrl)}/${publishedPaths.release(release.stream, release.release)}`,
    commits: Object.entries(release.architectures)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([architecture, entry]) => ({ architecture, checksum: entry.commit })),
  };
}

/** URL of a published file of one arch, and of its detached signature. */
function fileUrls(options: ReleaseOptions, version: string, arch: string, file: string): ReleaseFileUrls {
  const location = `${trimSlash(options.baseUrl)}/${publishedPaths.archDirectory(options.stream, version, arch)}/${file}`;
  return { location, signature: `${location}.sig` };
}

/** Where a published file is, and its signature. */
interface ReleaseFileUrls {
  readonly location: string;
  readonly signature: string;
}

/** The media of one arch's build: files by platform and format, then cloud images. */
function mediaOfBuild(
  build: BuildMeta,
  urlsOf: (file: string) => ReleaseFileUrls,
): Record<string, ReleaseMedia> {
  const arch = build['coreos-assembler.basearch'];
  const media = new Map<string, MutableMedia>();
  const mediaOf = (platform: string): MutableMedia => {
    const existing = media.get(platform);
    if (existing !== undefined) return existing;
    const created: MutableMedia = {};
    media.set(platform, created);
    return created;
  };
  const addFile = (platform: string, format: string, role: string, image: BuildImage, name: string) => {
    const artifacts = mediaOf(platform).artifacts ?? {};
    mediaOf(platform).artifacts = artifacts;
    const files = artifacts[format] ?? {};
    artifacts[format] = files;
    if (files[role] !== undefined) {
      throw new ReleaseDocumentError(
        `build ${build.buildid} (${arch}): image '${name}' is a second ${platform} ${format} ${role}`,
      );
    }
    files[role] = releaseFile(image, urlsOf(fileName(image.path)));
  };
  for (const [name, image] of Object.entries(build.images ?? {})) {
    if (NOT_MEDIA.has(name)) continue;
    const live = LIVE_IMAGES[name];
    if (live !== undefined) {
      addFile('metal', live.format, live.role, image, name);
    } else if (name === 'metal4k') {
      // cosa puts the 4k-sector metal image beside the 512-byte one: metal, `4k.raw.xz`.
      addFile('metal', `4k.${formatOfFile(build, name, image)}`, 'disk', image, name);
    } else {
      addFile(name, formatOfFile(build, name, image), 'disk', image, name);
    }
  }
  if (build.amis !== undefined && build.amis.length > 0) {
    mediaOf('aws').images = Object.fromEntries(build.amis.map((ami) => [ami.name, { image: ami.hvm }]));
  }
  if (build.aliyun !== undefined && build.aliyun.length > 0) {
    mediaOf('aliyun').images = Object.fromEntries(
      build.aliyun.map((image) => [image.name, { image: image.id }]),
    );
  }
  if (build.gcp !== undefined) {
    // cosa copies project and family and renames `image` to `name`; the URL is not published.
    const { project, family, image } = build.gcp;
    mediaOf('gcp').image = {
      ...(project !== undefined ? { project } : {}),
      ...(family !== undefined ? { family } : {}),
      name: image,
    };
  }
  if (build.kubevirt !== undefined) mediaOf('kubevirt').image = containerImage(build.kubevirt);
  return Object.fromEntries([...media.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

/** The media of one platform while it is being assembled. */
interface MutableMedia {
  [key: string]: unknown;
  artifacts?: Record<string, Record<string, ReleaseFile>>;
  images?: Record<string, { image: string }>;
  image?: Record<string, string>;
}

/** A container image as release.json names it: the name, and `<repository>@<digest>` when the digest is known. */
function containerImage(image: {
  readonly image: string;
  readonly digest?: string | undefined;
}): Record<string, string> {
  if (image.digest === undefined) return { image: image.image };
  // The repository is the name without its tag (or digest): the last `:` or `@` after the last `/`.
  return { image: image.image, 'digest-ref': `${image.image.replace(/[:@][^/]*$/, '')}@${image.digest}` };
}

/** One file's entry: URLs and digests (the uncompressed digest when the file is compressed). */
function releaseFile(image: BuildImage, urls: ReleaseFileUrls): ReleaseFile {
  return {
    location: urls.location,
    signature: urls.signature,
    sha256: image.sha256,
    ...(image['uncompressed-sha256'] !== undefined
      ? { 'uncompressed-sha256': image['uncompressed-sha256'] }
      : {}),
  };
}

/** The format key of an image file: what follows `<name>.<arch>.` in its name (`qcow2.xz`). */
function formatOfFile(build: BuildMeta, name: string, image: BuildImage): string {
  const arch = build['coreos-assembler.basearch'];
  const file = fileName(image.path);
  const marker = `${name}.${arch}.`;
  const at = file.lastIndexOf(marker);
  const format = at < 0 ? '' : file.slice(at + marker.length);
  if (format === '') {
    throw new ReleaseDocumentError(
      `build ${build.buildid} (${arch}): image '${name}' is '${file}', which does not end in '${marker}<format>' as cosa names images`,
    );
  }
  return format;
}

/** The last component of a path. */
function fileName(filePath: string): string {
  return filePath.slice(filePath.lastIndexOf('/') + 1);
}

/** A URL without trailing slashes, so joining never doubles one. */
function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
