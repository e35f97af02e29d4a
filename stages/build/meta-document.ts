/**
 * meta.json of one arch of a build, as coreos-assembler writes it (`schema/cosa-meta-v1.schema.json`),
 * from what the Build's inputs recorded: pure, so it is tested without tools. cosa names a platform
 * image by its platform as Ignition knows it (`gcp` for GCE), `metal4k` for the metal image with
 * 4096-byte sectors; the file names PlatformImage gives (`<os>-<version>-<name>.<arch>.<format>`)
 * carry the same name, which is what release.json's format keys are read from.
 */
import type { JsonValue } from '../../lib/util/canonical-json.ts';
import { BuildError } from './errors.ts';
import type { CloudImageMetadata, CommitMetadata, PlatformImageMetadata } from './input-metadata.ts';
import type { ParentRelease } from './previous-releases.ts';

/** A file of the build as meta.json's `images.<name>` lists it. */
export interface BuildFile {
  /** The file name (meta.json paths are relative to the arch directory). */
  readonly path: string;
  /** sha256 of the file. */
  readonly sha256: string;
  /** Size in bytes. */
  readonly size: number;
}

/** Everything meta.json is made of. */
export interface MetaDocumentInput {
  /** Construct path of the Build (for errors). */
  readonly nodePath: string;
  /** The commit's checksum. */
  readonly commit: string;
  /** The commit's metadata (ref, version, arch). */
  readonly commitMetadata: CommitMetadata;
  /** The commit's timestamp, `YYYY-MM-DDTHH:MM:SSZ`. */
  readonly commitTimestamp: string;
  /** The commit's archive (`images.ostree`). */
  readonly ostreeArchive: BuildFile;
  /** The platform images, in the props' order. */
  readonly images: readonly PlatformImageMetadata[];
  /** The cloud images, in the props' order. */
  readonly cloudImages: readonly CloudImageMetadata[];
  /** The live ISO and PXE files by meta.json's names (`live-iso` ...), if the build has them. */
  readonly liveFiles?: Readonly<Record<string, BuildFile>> | undefined;
  /** The previous release, if there is one. */
  readonly parent?: ParentRelease | undefined;
}

/** cosa's name of a platform image in `images`: its Ignition platform id, `4k` appended for 4096-byte sectors. */
export function cosaImageName(
  image: Pick<PlatformImageMetadata, 'ignitionPlatformId' | 'sectorSize'>,
): string {
  return `${image.ignitionPlatformId}${image.sectorSize === 4096 ? '4k' : ''}`;
}

/** The meta.json document; throws a BuildError when the inputs are not of one commit. */
export function metaDocument(input: MetaDocumentInput): { [key: string]: JsonValue } {
  const { commitMetadata: commit, nodePath } = input;
  const first = input.images[0];
  if (first === undefined) {
    throw new BuildError('a build needs at least one image', { constructPath: nodePath, field: 'images' });
  }
  const images: { [name: string]: JsonValue } = {
    ostree: { ...input.ostreeArchive },
  };
  for (const [index, image] of input.images.entries()) {
    const field = `images.${index}`;
    if (image.commit !== input.commit) {
      throw new BuildError(
        `the ${image.platform} image ${image.path} was made from commit ${image.commit}, not from the build's commit ${input.commit}`,
        { constructPath: nodePath, field },
      );
    }
    if (image.version !== commit.version || image.arch !== commit.arch) {
      throw new BuildError(
        `the ${image.platform} image ${image.path} is version ${image.version} for ${image.arch}, the commit is ${commit.version} for ${commit.arch}`,
        { constructPath: nodePath, field },
      );
    }
    if (image.osName !== first.osName) {
      throw new BuildError(
        `the ${image.platform} image is of OS '${image.osName}', images.0 of '${first.osName}': one build is one OS`,
        { constructPath: nodePath, field },
      );
    }
    const name = cosaImageName(image);
    if (images[name] !== undefined) {
      throw new BuildError(`two images are '${name}' in meta.json (${image.platform} is the second)`, {
        constructPath: nodePath,
        field,
      });
    }
    images[name] = {
      path: image.path,
      sha256: image.sha256,
      size: image.size,
      ...(image['uncompressed-sha256'] !== undefined
        ? { 'uncompressed-sha256': image['uncompressed-sha256'] }
        : {}),
      ...(image['uncompressed-size'] !== undefined
        ? { 'uncompressed-size': image['uncompressed-size'] }
        : {}),
      ...(image['skip-compression'] === true ? { 'skip-compression': true } : {}),
    };
  }
  for (const [name, file] of Object.entries(input.liveFiles ?? {})) {
    images[name] = { path: file.path, sha256: file.sha256, size: file.size };
  }
  return {
    buildid: commit.version,
    name: first.osName,
    'ostree-commit': input.commit,
    'ostree-version': commit.version,
    'ostree-timestamp': input.commitTimestamp,
    ref: commit.ref,
    'coreos-assembler.basearch': commit.arch,
    images,
    ...cloudFields(input),
    ...(input.parent !== undefined
      ? {
          'fedora-coreos.parent-version': input.parent.version,
          'fedora-coreos.parent-commit': input.parent.commit,
        }
      : {}),
  };
}

/** `amis`, `gcp` and `azure` from the cloud images, each given once. */
function cloudFields(input: MetaDocumentInput): { [key: string]: JsonValue } {
  const fields: { [key: string]: JsonValue } = {};
  for (const [index, cloudImage] of input.cloudImages.entries()) {
    const found: Array<[string, JsonValue]> = [];
    // Only the fields cosa's schema has: the uploader's metadata carries more (resource ids, digests).
    const { amis, gcp, azure } = cloudImage;
    if (amis !== undefined) {
      found.push(['amis', amis.map(({ name, hvm, snapshot }) => ({ name, hvm, snapshot }))]);
    }
    if (gcp !== undefined) {
      found.push([
        'gcp',
        {
          image: gcp.image,
          url: gcp.url,
          ...(gcp.project !== undefined ? { project: gcp.project } : {}),
          ...(gcp.family !== undefined ? { family: gcp.family } : {}),
        },
      ]);
    }
    if (azure !== undefined) {
      found.push(['azure', { ...(azure.image !== undefined ? { image: azure.image } : {}), url: azure.url }]);
    }
    if (found.length === 0) {
      throw new BuildError(
        `the ${cloudImage.platform} cloud image has none of meta.json's cloud fields (amis, gcp, azure)`,
        { constructPath: input.nodePath, field: `cloudImages.${index}` },
      );
    }
    for (const [key, value] of found) {
      if (fields[key] !== undefined) {
        throw new BuildError(`two cloud images give meta.json's '${key}'`, {
          constructPath: input.nodePath,
          field: `cloudImages.${index}`,
        });
      }
      fields[key] = value;
    }
  }
  return fields;
}
