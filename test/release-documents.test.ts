/**
 * The pure release-document functions: release.json from meta.json (against the reference
 * release), the release index's append-only rule, builds.json, and stream metadata (against the
 * reference stream metadata of the same release).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type BuildMeta, buildMetaSchema } from '../lib/release/build-meta.ts';
import { addBuild } from '../lib/release/builds-index.ts';
import { cosaMetaProblems } from '../lib/release/cosa-meta-validation.ts';
import { BuildsIndexError, ReleaseDocumentError, ReleaseIndexError } from '../lib/release/errors.ts';
import {
  buildsIndexSchema,
  type Release,
  type ReleaseIndex,
  type ReleaseIndexEntry,
  releaseIndexSchema,
  releaseSchema,
  type StreamMetadata,
  streamMetadataSchema,
} from '../lib/release/formats.ts';
import { releaseFromBuilds, releaseIndexEntryFor } from '../lib/release/release-document.ts';
import { appendRelease } from '../lib/release/release-index.ts';
import { streamMetadataFromRelease } from '../lib/release/stream-metadata.ts';
import { BuildError } from '../stages/build/errors.ts';
import type { CloudImageMetadata, PlatformImageMetadata } from '../stages/build/input-metadata.ts';
import { type MetaDocumentInput, metaDocument } from '../stages/build/meta-document.ts';

const REFERENCE = path.resolve(import.meta.dirname, 'fixtures/reference');

/** A reference document, parsed. */
function reference<Document>(name: string): Document {
  return JSON.parse(readFileSync(path.join(REFERENCE, name), 'utf8')) as Document;
}

/** A sha256-looking hex string made of one repeated digit. */
function digest(digit: string): string {
  return digit.repeat(64);
}

/** A meta.json of version `version` for `arch`, with a qemu, metal and metal4k image. */
function meta(arch: string, version = '41.20251120.2.0', overrides: Partial<BuildMeta> = {}): BuildMeta {
  const file = (name: string, extension: string) => `fedora-coreos-${version}-${name}.${arch}.${extension}`;
  return {
    buildid: version,
    name: 'fedora-coreos',
    'ostree-commit': arch === 'x86_64' ? digest('1') : digest('2'),
    'ostree-version': version,
    'ostree-timestamp': '2025-11-20T10:00:00Z',
    'coreos-assembler.basearch': arch,
    images: {
      ostree: { path: `fedora-coreos-${version}-ostree.${arch}.ociarchive`, sha256: digest('0') },
      qemu: {
        path: file('qemu', 'qcow2.xz'),
        sha256: digest('a'),
        size: 10,
        'uncompressed-sha256': digest('b'),
        'uncompressed-size': 20,
      },
      metal: { path: file('metal', 'raw.xz'), sha256: digest('c'), 'uncompressed-sha256': digest('d') },
      metal4k: { path: file('metal4k', 'raw.xz'), sha256: digest('e'), 'uncompressed-sha256': digest('f') },
    },
    ...overrides,
  };
}

const BASE = 'http://127.0.0.1:8080';

describe('releaseFromBuilds', () => {
  it('makes one entry per arch with its commit, and media by platform and format', () => {
    const release = releaseFromBuilds([meta('x86_64'), meta('aarch64')], {
      stream: 'testing',
      baseUrl: BASE,
    });
    expect(releaseSchema.parse(release)).toEqual(release);
    expect(release.release).toBe('41.20251120.2.0');
    expect(release.stream).toBe('testing');
    expect(Object.keys(release.architectures)).toEqual(['aarch64', 'x86_64']);
    const x86 = release.architectures.x86_64!;
    expect(x86.commit).toBe(digest('1'));
    expect(Object.keys(x86.media)).toEqual(['metal', 'qemu']);
    const location = `${BASE}/prod/streams/testing/builds/41.20251120.2.0/x86_64/fedora-coreos-41.20251120.2.0-qemu.x86_64.qcow2.xz`;
    expect(x86.media.qemu).toEqual({
      artifacts: {
        'qcow2.xz': {
          disk: {
            location,
            signature: `${location}.sig`,
            sha256: digest('a'),
            'uncompressed-sha256': digest('b'),
          },
        },
      },
    });
    expect(Object.keys(x86.media.metal!.artifacts!).sort()).toEqual(['4k.raw.xz', 'raw.xz']);
    expect(x86.media.metal!.artifacts!['4k.raw.xz']!.disk!.location).toMatch(
      /\/x86_64\/fedora-coreos-41\.20251120\.2\.0-metal4k\.x86_64\.raw\.xz$/,
    );
    expect(release.architectures.aarch64!.media.qemu!.artifacts!['qcow2.xz']!.disk!.location).toContain(
      '/aarch64/fedora-coreos-41.20251120.2.0-qemu.aarch64.qcow2.xz',
    );
  });

  it('turns AMIs, the GCE image and Aliyun images into cloud media, and keeps Azure to its VHD', () => {
    const build = meta('x86_64', '41.20251120.2.0', {
      amis: [
        { name: 'us-east-1', hvm: 'ami-1', snapshot: 'snap-1' },
        { name: 'eu-west-1', hvm: 'ami-2', snapshot: 'snap-2' },
      ],
      gcp: {
        image: 'fcos-41',
        url: 'https://example/fcos-41',
        project: 'fcos-cloud',
        family: 'fcos-testing',
      },
      azure: { image: 'fcos-41.vhd', url: 'https://example.blob/fcos-41.vhd' },
      aliyun: [{ name: 'cn-beijing', id: 'm-1' }],
    });
    build.images!.azure = { path: 'fedora-coreos-41.20251120.2.0-azure.x86_64.vhd.xz', sha256: digest('9') };
    const media = releaseFromBuilds([build], { stream: 'testing', baseUrl: `${BASE}/` }).architectures.x86_64!
      .media;
    expect(media.aws).toEqual({
      images: { 'us-east-1': { image: 'ami-1' }, 'eu-west-1': { image: 'ami-2' } },
    });
    expect(media.gcp).toEqual({ image: { project: 'fcos-cloud', family: 'fcos-testing', name: 'fcos-41' } });
    expect(media.aliyun).toEqual({ images: { 'cn-beijing': { image: 'm-1' } } });
    expect(Object.keys(media.azure!)).toEqual(['artifacts']);
    // A trailing slash of the base URL is not doubled.
    expect(media.azure!.artifacts!['vhd.xz']!.disk!.location).toBe(
      `${BASE}/prod/streams/testing/builds/41.20251120.2.0/x86_64/fedora-coreos-41.20251120.2.0-azure.x86_64.vhd.xz`,
    );
  });

  it('refuses builds of two versions, an arch twice, nothing, and an image named unlike cosa', () => {
    expect(() =>
      releaseFromBuilds([meta('x86_64'), meta('aarch64', '41.20251121.2.0')], { stream: 's', baseUrl: BASE }),
    ).toThrow(/not of one version: aarch64 is 41\.20251121\.2\.0, x86_64 is 41\.20251120\.2\.0/);
    expect(() => releaseFromBuilds([meta('x86_64'), meta('x86_64')], { stream: 's', baseUrl: BASE })).toThrow(
      ReleaseDocumentError,
    );
    expect(() => releaseFromBuilds([], { stream: 's', baseUrl: BASE })).toThrow(/at least one arch/);
    const odd = meta('x86_64');
    odd.images!.qemu = { path: 'disk.qcow2', sha256: digest('a') };
    expect(() => releaseFromBuilds([odd], { stream: 's', baseUrl: BASE })).toThrow(
      /image 'qemu' is 'disk\.qcow2', which does not end in 'qemu\.x86_64\.<format>'/,
    );
  });

  it('gives the reference release back from the meta.json its files were made of', () => {
    const expected = reference<Release>('fcos-release.json');
    const x86 = expected.architectures.x86_64!;
    const images: NonNullable<BuildMeta['images']> = {};
    // cosa's image names for the reference's media (the inverse of the mapping under test, by hand).
    const names: Record<string, string> = {
      'metal/4k.raw.xz/disk': 'metal4k',
      'metal/iso/disk': 'live-iso',
      'metal/pxe/kernel': 'live-kernel',
      'metal/pxe/initramfs': 'live-initramfs',
      'metal/pxe/rootfs': 'live-rootfs',
    };
    for (const [platform, media] of Object.entries(x86.media)) {
      for (const [format, files] of Object.entries(media.artifacts ?? {})) {
        for (const [role, file] of Object.entries(files)) {
          const name = names[`${platform}/${format}/${role}`] ?? platform;
          images[name] = {
            path: file.location.slice(file.location.lastIndexOf('/') + 1),
            sha256: file.sha256,
          };
        }
      }
    }
    const aws = x86.media.aws!.images!;
    const gcp = x86.media.gcp!.image!;
    const build: BuildMeta = {
      buildid: expected.release,
      name: 'fedora-coreos',
      'ostree-commit': x86.commit,
      'ostree-version': expected.release,
      'ostree-timestamp': '2020-12-01T00:00:00Z',
      'coreos-assembler.basearch': 'x86_64',
      images,
      amis: Object.entries(aws).map(([region, image]) => ({
        name: region,
        hvm: image.image,
        snapshot: 'snap',
      })),
      gcp: { image: gcp.name!, url: 'https://gce/image', project: gcp.project!, family: gcp.family! },
      kubevirt: { image: x86.media.kubevirt!.image!.image! },
      'base-oscontainer': {
        image: 'quay.io/fedora/fedora-coreos:stable',
        digest: 'sha256:460576931cf4ce59afe432ea266234f9d34fa77f8ca3087282084bc3a7324632',
      },
    };
    const release = releaseFromBuilds([build], {
      stream: expected.stream,
      baseUrl: 'https://builds.coreos.fedoraproject.org',
    });
    expect(release).toEqual(expected);
  });
});

describe('releaseIndexEntryFor', () => {
  it('names the release.json URL and each arch commit', () => {
    const release = releaseFromBuilds([meta('x86_64'), meta('aarch64')], {
      stream: 'testing',
      baseUrl: BASE,
    });
    expect(releaseIndexEntryFor(release, BASE)).toEqual({
      version: '41.20251120.2.0',
      metadata: `${BASE}/prod/streams/testing/builds/41.20251120.2.0/release.json`,
      commits: [
        { architecture: 'aarch64', checksum: digest('2') },
        { architecture: 'x86_64', checksum: digest('1') },
      ],
    });
  });

  it('matches the reference index entry of the reference release', () => {
    const release = reference<Release>('fcos-release.json');
    const index = reference<ReleaseIndex>('fcos-releases.json');
    const entry = index.releases.find((candidate) => candidate.version === release.release)!;
    expect(releaseIndexEntryFor(release, 'https://builds.coreos.fedoraproject.org')).toEqual({
      version: entry.version,
      metadata: entry.metadata,
      commits: entry.commits,
    });
  });
});

describe('appendRelease', () => {
  const entry = (version: string, commits: Record<string, string>): ReleaseIndexEntry => ({
    version,
    metadata: `${BASE}/prod/streams/testing/builds/${version}/release.json`,
    commits: Object.entries(commits).map(([architecture, checksum]) => ({ architecture, checksum })),
  });
  const first = entry('41.1.2.0', { x86_64: digest('1') });
  const second = entry('41.2.2.0', { x86_64: digest('2') });

  it('starts an index and appends oldest first', () => {
    const one = appendRelease(undefined, 'testing', first, '2025-01-01T00:00:00Z');
    expect(one).toEqual({
      stream: 'testing',
      metadata: { 'last-modified': '2025-01-01T00:00:00Z' },
      releases: [first],
    });
    const two = appendRelease(one, 'testing', second, '2025-01-02T00:00:00Z');
    expect(releaseIndexSchema.parse(two)).toEqual(two);
    expect(two.releases.map((release) => release.version)).toEqual(['41.1.2.0', '41.2.2.0']);
    expect(two.metadata['last-modified']).toBe('2025-01-02T00:00:00Z');
    expect(one.releases).toHaveLength(1);
  });

  it('leaves the index as it was, last-modified included, when the newest release is added again', () => {
    const index = appendRelease(appendRelease(undefined, 'testing', first, 't1'), 'testing', second, 't2');
    const again = appendRelease(index, 'testing', structuredClone(second), 't3');
    expect(again).toBe(index);
    expect(JSON.stringify(again)).toBe(JSON.stringify(index));
  });

  it('adds arches to the newest release, keeping its commits', () => {
    const index = appendRelease(undefined, 'testing', second, 't1');
    const wider = appendRelease(
      index,
      'testing',
      entry('41.2.2.0', { x86_64: digest('2'), aarch64: digest('3') }),
      't2',
    );
    expect(wider.releases).toHaveLength(1);
    expect(wider.releases[0]!.commits).toEqual([
      { architecture: 'x86_64', checksum: digest('2') },
      { architecture: 'aarch64', checksum: digest('3') },
    ]);
    expect(wider.metadata['last-modified']).toBe('t2');
  });

  it('refuses rewriting history, naming the version and why', () => {
    const index = appendRelease(appendRelease(undefined, 'testing', first, 't1'), 'testing', second, 't2');
    expect(() => appendRelease(index, 'testing', first, 't3')).toThrow(
      /cannot add release 41\.1\.2\.0: it is already in the index and is not the newest release \(41\.2\.2\.0 is\)/,
    );
    expect(() => appendRelease(index, 'testing', entry('41.2.2.0', { x86_64: digest('9') }), 't3')).toThrow(
      /41\.2\.2\.0: its x86_64 commit is 2{64} in the index; a release's commit never changes/,
    );
    expect(() => appendRelease(index, 'testing', entry('41.2.2.0', { aarch64: digest('3') }), 't3')).toThrow(
      /with a x86_64 commit, which the new entry lacks/,
    );
    expect(() =>
      appendRelease(index, 'testing', { ...second, metadata: 'https://elsewhere/release.json' }, 't3'),
    ).toThrow(/may be added again only with the same URL/);
    expect(() => appendRelease(index, 'stable', entry('41.3.3.0', { x86_64: digest('4') }), 't3')).toThrow(
      ReleaseIndexError,
    );
    try {
      appendRelease(index, 'testing', first, 't3');
    } catch (error) {
      expect(error).toBeInstanceOf(ReleaseIndexError);
      expect((error as ReleaseIndexError).version).toBe('41.1.2.0');
    }
  });

  it('appends to the reference index and keeps its other fields', () => {
    const index = reference<ReleaseIndex>('fcos-releases.json');
    const next = appendRelease(
      index,
      'stable',
      entry('33.20210104.3.0', { x86_64: digest('5') }),
      '2021-01-06T00:00:00Z',
    );
    expect(next.releases.slice(0, -1)).toEqual(index.releases);
    expect(next.note).toBe(index.note);
    expect(releaseIndexSchema.parse(next).releases.at(-1)!.version).toBe('33.20210104.3.0');
  });
});

describe('addBuild', () => {
  it('lists builds newest first and merges a new arch into a known build', () => {
    const one = addBuild(undefined, '41.1.2.0', ['x86_64'], '2025-01-01T00:00:00Z');
    const two = addBuild(one, '41.2.2.0', ['x86_64'], '2025-01-02T00:00:00Z');
    expect(buildsIndexSchema.parse(two)).toEqual(two);
    expect(two.builds.map((build) => build.id)).toEqual(['41.2.2.0', '41.1.2.0']);
    const merged = addBuild(two, '41.1.2.0', ['aarch64'], '2025-01-03T00:00:00Z');
    expect(merged.builds[1]).toEqual({ id: '41.1.2.0', arches: ['x86_64', 'aarch64'] });
    expect(merged.builds[0]!.id).toBe('41.2.2.0');
    expect(merged.timestamp).toBe('2025-01-03T00:00:00Z');
  });

  it('changes nothing when a build is published again with the same arches', () => {
    const index = addBuild(undefined, '41.1.2.0', ['x86_64', 'aarch64'], 't1');
    expect(addBuild(index, '41.1.2.0', ['aarch64', 'x86_64'], 't2')).toBe(index);
  });

  it('lists each arch of a build once: known arches change nothing, new ones join the entry', () => {
    const index = addBuild(undefined, '41.1.2.0', ['x86_64', 'aarch64'], 't1');
    expect(addBuild(index, '41.1.2.0', ['x86_64'], 't2')).toBe(index);
    const merged = addBuild(index, '41.1.2.0', ['x86_64', 's390x'], 't2');
    expect(merged.builds).toEqual([{ id: '41.1.2.0', arches: ['x86_64', 'aarch64', 's390x'] }]);
    expect(merged.timestamp).toBe('t2');
    expect(() => addBuild(index, '41.2.2.0', [], 't2')).toThrow(BuildsIndexError);
    expect(() => addBuild(index, '41.2.2.0', [], 't2')).toThrow(/at least one arch/);
  });
});

describe('streamMetadataFromRelease', () => {
  it('matches the reference stream metadata of the same release', () => {
    const release = reference<Release>('fcos-release.json');
    const expected = reference<StreamMetadata>('fcos-stream.json');
    const stream = streamMetadataFromRelease(release, '2020-12-17T14:18:43Z');
    expect(streamMetadataSchema.parse(stream)).toEqual(stream);
    expect(stream.stream).toBe(expected.stream);
    expect(stream.metadata['last-modified']).toBe('2020-12-17T14:18:43Z');
    expect(stream.metadata.generator).toMatch(/^fcos-cdk \d+\.\d+\.\d+/);
    const actual = stream.architectures.x86_64!;
    const wanted = expected.architectures.x86_64!;
    expect(actual.artifacts).toEqual(wanted.artifacts);
    expect(actual.images?.aws).toEqual(wanted.images?.aws);
    expect(actual.images?.gcp).toEqual(wanted.images?.gcp);
    // The reference's aliyun and kubevirt images come from other releases than this one (its
    // release.json has no aliyun images, and kubevirt is of 33.20211201.3.0): only their shape is compared.
    expect(Object.keys(actual.images ?? {}).sort()).toEqual(['aws', 'gcp', 'kubevirt']);
    expect(actual.images?.kubevirt).toEqual({
      release: release.release,
      image: release.architectures.x86_64!.media.kubevirt!.image!.image,
    });
  });

  it('gives Aliyun images per region like AWS, and the KubeVirt digest reference', () => {
    const build = meta('x86_64', '41.20251120.2.0', {
      aliyun: [{ name: 'cn-beijing', id: 'm-1' }],
      kubevirt: { image: 'quay.io/fedora/fedora-coreos-kubevirt:testing', digest: `sha256:${digest('7')}` },
    });
    const release = releaseFromBuilds([build], { stream: 'testing', baseUrl: BASE });
    const images = streamMetadataFromRelease(release, 't', { generator: 'test' }).architectures.x86_64!
      .images!;
    expect(images.aliyun).toEqual({
      regions: { 'cn-beijing': { release: '41.20251120.2.0', image: 'm-1' } },
    });
    expect(images.kubevirt).toEqual({
      release: '41.20251120.2.0',
      image: 'quay.io/fedora/fedora-coreos-kubevirt:testing',
      'digest-ref': `quay.io/fedora/fedora-coreos-kubevirt@sha256:${digest('7')}`,
    });
  });

  it('has no images key for an arch without cloud images', () => {
    const release = releaseFromBuilds([meta('aarch64')], { stream: 'testing', baseUrl: BASE });
    const arch = streamMetadataFromRelease(release, 't').architectures.aarch64!;
    expect(arch.images).toBeUndefined();
    expect(Object.keys(arch.artifacts)).toEqual(['metal', 'qemu']);
  });
});

describe("meta.json (the Build kind's document)", () => {
  const version = '41.20251120.2.0';
  const commit = digest('1');
  /** A PlatformImage output's metadata, as stages/platform-image/runner.ts records it. */
  const image = (
    platform: string,
    ignitionPlatformId: string,
    extension: string,
    sectorSize: 512 | 4096 = 512,
    compressed = true,
  ): PlatformImageMetadata => {
    const name = `${ignitionPlatformId}${sectorSize === 4096 ? '4k' : ''}`;
    return {
      path: `fedora-coreos-${version}-${name}.x86_64.${extension}`,
      sha256: digest('a'),
      size: 700_000_000,
      ...(compressed ? { 'uncompressed-sha256': digest('b'), 'uncompressed-size': 10_737_418_240 } : {}),
      ...(platform === 'vmware' ? { 'skip-compression': true } : {}),
      platform,
      ignitionPlatformId,
      format: 'qcow2',
      compression: compressed ? 'xz' : 'none',
      arch: 'x86_64',
      sectorSize,
      osName: 'fedora-coreos',
      version,
      commit,
      kernelArguments: ['console=ttyS0'],
    };
  };
  /** Upload outputs' metadata, as targets/{aws,gce,azure}/lookup.ts make it. */
  const clouds: CloudImageMetadata[] = [
    {
      platform: 'aws',
      arch: 'x86_64',
      sourceDigest: digest('a'),
      name: `fedora-coreos-${version}-x86_64`,
      amis: [
        { name: 'us-east-1', hvm: 'ami-0123456789abcdef0', snapshot: 'snap-0123456789abcdef0' },
        { name: 'eu-west-1', hvm: 'ami-0fedcba9876543210', snapshot: 'snap-0fedcba9876543210' },
      ],
    },
    {
      platform: 'gce',
      arch: 'x86_64',
      sourceDigest: digest('a'),
      name: 'fedora-coreos-41-20251120-2-0-gcp-x86-64',
      gcp: {
        image: 'fedora-coreos-41-20251120-2-0-gcp-x86-64',
        project: 'fedora-coreos-cloud',
        family: 'fedora-coreos-testing',
        url: 'https://www.googleapis.com/compute/v1/projects/fedora-coreos-cloud/global/images/fedora-coreos-41-20251120-2-0-gcp-x86-64',
      },
    },
    {
      platform: 'azure',
      arch: 'x86_64',
      sourceDigest: digest('a'),
      name: `fedora-coreos-${version}-azure.x86_64.vhd`,
      azure: {
        image: `fedora-coreos-${version}-azure.x86_64.vhd`,
        url: `https://fcos.blob.core.windows.net/images/fedora-coreos-${version}-azure.x86_64.vhd`,
      },
      resourceId: '/subscriptions/0/resourceGroups/fcos/providers/Microsoft.Compute/images/x',
      location: 'eastus',
    },
  ];
  const input = (overrides: Partial<MetaDocumentInput> = {}): MetaDocumentInput => ({
    nodePath: 'testing/x86_64/Build',
    commit,
    commitMetadata: { ref: 'fedora/x86_64/coreos/testing', version, arch: 'x86_64', driver: 'dnf' },
    commitTimestamp: '2025-11-20T06:12:09Z',
    ostreeArchive: {
      path: `fedora-coreos-${version}-ostree.x86_64.tar`,
      sha256: digest('0'),
      size: 800_000_000,
    },
    images: [
      image('qemu', 'qemu', 'qcow2.xz'),
      image('metal', 'metal', 'raw.xz'),
      image('metal', 'metal', 'raw.xz', 4096),
      image('aws', 'aws', 'vmdk.xz'),
      image('gce', 'gcp', 'tar.gz', 512, false),
      image('azure', 'azure', 'vhd.xz'),
      image('vmware', 'vmware', 'ova', 512, false),
    ],
    cloudImages: clouds,
    parent: { version: '41.20251101.2.0', commit: digest('9') },
    ...overrides,
  });

  it("validates against cosa's schema and makes the release.json cosa's tooling would", () => {
    const meta = metaDocument(input());
    expect(cosaMetaProblems(meta)).toEqual([]);
    expect(Object.keys(meta.images as object).sort()).toEqual([
      'aws',
      'azure',
      'gcp',
      'metal',
      'metal4k',
      'ostree',
      'qemu',
      'vmware',
    ]);
    expect(meta).toMatchObject({
      buildid: version,
      name: 'fedora-coreos',
      'ostree-commit': commit,
      'ostree-version': version,
      'ostree-timestamp': '2025-11-20T06:12:09Z',
      ref: 'fedora/x86_64/coreos/testing',
      'coreos-assembler.basearch': 'x86_64',
      'fedora-coreos.parent-version': '41.20251101.2.0',
      'fedora-coreos.parent-commit': digest('9'),
    });
    // Only the fields of cosa's schema: the uploaders' resource ids and digests stay out.
    expect(meta.azure).toEqual(clouds[2]!.azure);
    expect(meta.amis).toEqual(clouds[0]!.amis);
    expect((meta.images as Record<string, unknown>).vmware).toMatchObject({ 'skip-compression': true });

    const release = releaseFromBuilds([buildMetaSchema.parse(meta)], { stream: 'testing', baseUrl: BASE });
    const media = release.architectures.x86_64!.media;
    expect(Object.keys(media)).toEqual(['aws', 'azure', 'gcp', 'metal', 'qemu', 'vmware']);
    expect(Object.keys(media.metal!.artifacts!)).toEqual(['raw.xz', '4k.raw.xz']);
    expect(Object.keys(media.gcp!.artifacts!)).toEqual(['tar.gz']);
    expect(media.gcp!.image).toEqual({
      project: 'fedora-coreos-cloud',
      family: 'fedora-coreos-testing',
      name: 'fedora-coreos-41-20251120-2-0-gcp-x86-64',
    });
    expect(media.aws!.images).toEqual({
      'us-east-1': { image: 'ami-0123456789abcdef0' },
      'eu-west-1': { image: 'ami-0fedcba9876543210' },
    });
    expect(media.azure!.image).toBeUndefined();
    expect(media.azure!.images).toBeUndefined();
  });

  it('has no parent fields without a parent, and stays valid', () => {
    const meta = metaDocument(input({ parent: undefined, cloudImages: [] }));
    expect(cosaMetaProblems(meta)).toEqual([]);
    expect(Object.keys(meta).filter((key) => key.startsWith('fedora-coreos.'))).toEqual([]);
    expect(meta.amis).toBeUndefined();
  });

  it('refuses images of another commit, a cloud field twice and a cloud image without one', () => {
    const stranger = { ...image('qemu', 'qemu', 'qcow2.xz'), commit: digest('7') };
    expect(() => metaDocument(input({ images: [image('metal', 'metal', 'raw.xz'), stranger] }))).toThrow(
      expect.objectContaining({
        name: 'BuildError',
        field: 'images.1',
        constructPath: 'testing/x86_64/Build',
        message: expect.stringContaining(
          `made from commit ${digest('7')}, not from the build's commit ${commit}`,
        ),
      }),
    );
    expect(() => metaDocument(input({ cloudImages: [clouds[0]!, clouds[0]!] }))).toThrow(
      /two cloud images give meta\.json's 'amis'/,
    );
    expect(() =>
      metaDocument(input({ cloudImages: [{ platform: 'exoscale', arch: 'x86_64', name: 'x' }] })),
    ).toThrow(BuildError);
  });

  it("lets cosa's schema name what it refuses", () => {
    const meta = metaDocument(input());
    const { ostree: _ostree, ...images } = meta.images as Record<string, unknown>;
    const broken = { ...meta, images, 'fedora-coreos.parent-commit': 'short', stream: 'testing' };
    expect(cosaMetaProblems(broken).sort()).toEqual([
      "(top level): must NOT have additional properties 'stream'",
      '/fedora-coreos.parent-commit: must NOT have fewer than 64 characters',
      "/images: must have required property 'ostree'",
    ]);
  });
});
