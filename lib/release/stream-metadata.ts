/**
 * Stream metadata (`streams/<stream>.json`, what installers and clouds read) from a release, as
 * Fedora CoreOS's stream generator (stream-metadata-go's release → stream translation) makes it:
 * per arch, every platform's files by format and the release they come from, and the cloud
 * images (AWS and Aliyun per region, the GCE image, the KubeVirt container).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../util/package-root.ts';
import type { Release, ReleaseMedia, StreamArch, StreamMetadata } from './formats.ts';

/** What {@link streamMetadataFromRelease} takes besides the release. */
export interface StreamMetadataOptions {
  /**
   * The `metadata.generator` string.
   * @default 'fcos-cdk <version of this package>'
   */
  readonly generator?: string;
}

/** Stream metadata made of one release: every arch's artifacts and cloud images. */
export function streamMetadataFromRelease(
  release: Release,
  lastModified: string,
  options: StreamMetadataOptions = {},
): StreamMetadata {
  const architectures: Record<string, StreamArch> = {};
  for (const [arch, entry] of sortedEntries(release.architectures)) {
    architectures[arch] = streamArch(release.release, entry.media);
  }
  return {
    stream: release.stream,
    metadata: { 'last-modified': lastModified, generator: options.generator ?? defaultGenerator() },
    architectures,
  };
}

/** One arch: each platform with files becomes an artifact entry, cloud media become images. */
function streamArch(version: string, media: Record<string, ReleaseMedia>): StreamArch {
  const artifacts: StreamArch['artifacts'] = {};
  for (const [platform, platformMedia] of sortedEntries(media)) {
    if (platformMedia.artifacts === undefined || Object.keys(platformMedia.artifacts).length === 0) continue;
    artifacts[platform] = { release: version, formats: platformMedia.artifacts };
  }
  const images: NonNullable<StreamArch['images']> = {};
  for (const cloud of ['aliyun', 'aws'] as const) {
    const regions = media[cloud]?.images;
    if (regions === undefined || Object.keys(regions).length === 0) continue;
    images[cloud] = {
      regions: Object.fromEntries(
        sortedEntries(regions).map(([region, image]) => [region, { release: version, image: image.image }]),
      ),
    };
  }
  const gcp = media.gcp?.image;
  if (gcp?.name !== undefined) {
    images.gcp = {
      release: version,
      ...(gcp.project !== undefined ? { project: gcp.project } : {}),
      ...(gcp.family !== undefined ? { family: gcp.family } : {}),
      name: gcp.name,
    };
  }
  const kubevirt = media.kubevirt?.image;
  if (kubevirt?.image !== undefined) {
    images.kubevirt = {
      release: version,
      image: kubevirt.image,
      ...(kubevirt['digest-ref'] !== undefined ? { 'digest-ref': kubevirt['digest-ref'] } : {}),
    };
  }
  return Object.keys(images).length === 0 ? { artifacts } : { artifacts, images };
}

/** A record's entries sorted by key, so documents do not depend on the order keys were added. */
function sortedEntries<Value>(record: Record<string, Value>): [string, Value][] {
  return Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
}

let generator: string | undefined;

/** `fcos-cdk <version>`, from this package's package.json (read once). */
function defaultGenerator(): string {
  if (generator === undefined) {
    const manifest = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
      version?: string;
    };
    generator = `fcos-cdk ${manifest.version ?? 'unknown'}`;
  }
  return generator;
}
