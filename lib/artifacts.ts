/**
 * Typed references to what a node produces. Handing an artifact to another construct's props is
 * what creates an edge of the DAG; the `type` literal makes a mismatch a `tsc` error, and the
 * schemas built by {@link artifactSchema} make it a synthesis error for JavaScript programs.
 */
import type { IConstruct } from 'constructs';
import { z } from 'zod';

/** CPU architectures Fedora CoreOS is built for. */
export const ARCHES = ['x86_64', 'aarch64', 'ppc64le', 's390x'] as const;
/** One of {@link ARCHES}. */
export type Arch = (typeof ARCHES)[number];
/** Zod schema of an {@link Arch}. */
export const archSchema = z.enum(ARCHES);

/** What each artifact type knows about itself at synthesis time, used for cross-node checks. */
export interface ArtifactAttributeMap {
  /** An RPM repository (repodata + packages); `arch` when its packages are built for one arch. */
  'rpm-repo': { readonly name: string; readonly arch?: Arch };
  /** A flattened rpm-ostree treefile for one architecture. */
  treefile: { readonly arch: Arch };
  /** An ostree commit in the cache's repository. */
  'ostree-commit': { readonly arch: Arch };
  /** The NEVRA list of a compose, as JSON. */
  'package-list': { readonly arch: Arch };
  /** A raw GPT disk image holding a deployed ostree sysroot. */
  'disk-image': { readonly arch: Arch; readonly sectorSize: 512 | 4096 };
  /** A disk converted for one platform (qcow2, vmdk, vhd, tar.gz ...). */
  'platform-image': { readonly arch: Arch; readonly platform: string; readonly sectorSize: 512 | 4096 };
  /** The live ISO and PXE artifacts (kernel, initramfs, rootfs image) of one commit. */
  'live-image': { readonly arch: Arch };
  /** An image registered in a cloud (AMI ids, GCE image, Azure image). */
  'cloud-image': { readonly arch: Arch; readonly platform: string };
  /** An opaque file or directory (for kinds a pipeline defines itself). */
  blob: Readonly<Record<string, never>>;
  /** A kola-style test report (JSON and JUnit XML). */
  'test-report': Readonly<Record<string, never>>;
  /** One arch of a build of a stream: cosa's meta.json (images, commit, cloud images, parent). */
  build: { readonly arch: Arch; readonly stream: string };
  /** A release of a stream, every arch: release.json. */
  release: { readonly stream: string };
  /** A stream's update metadata (barriers, dead-ends, rollouts): updates/<stream>.json. */
  'update-metadata': { readonly stream: string };
  /** What a Publish step put into its destination, as JSON (keys, digests, the stream's versions). */
  publication: { readonly stream: string };
}

/** The name of an artifact type. */
export type ArtifactType = keyof ArtifactAttributeMap;

/** The construct side of a producer: enough to name it in errors and edges. */
export interface ArtifactProducer extends IConstruct {
  /** The node's kind (`DiskImage`, `RpmOstreeCompose` ...). */
  readonly kind: string;
}

const ARTIFACT_MARK = Symbol.for('fcos-cdk.artifact');

/** A reference to output `output` of node `producer`, of type `T`. */
export class Artifact<T extends ArtifactType = ArtifactType> {
  /** Whether `value` is an artifact reference (works across duplicate copies of this module). */
  static isArtifact(value: unknown): value is Artifact {
    return typeof value === 'object' && value !== null && ARTIFACT_MARK in value;
  }

  /** The artifact type: the literal that makes mismatched edges a type error. */
  readonly type: T;
  /** The construct that produces it. */
  readonly producer: ArtifactProducer;
  /** The producer's output name. */
  readonly output: string;
  /** Facts known at synthesis time (arch, platform ...). */
  readonly attributes: ArtifactAttributeMap[T];

  constructor(producer: ArtifactProducer, output: string, type: T, attributes: ArtifactAttributeMap[T]) {
    this.type = type;
    this.producer = producer;
    this.output = output;
    this.attributes = Object.freeze({ ...attributes }) as ArtifactAttributeMap[T];
    Object.defineProperty(this, ARTIFACT_MARK, { value: true });
  }

  /** `'path' output 'name' (type)`, for messages. */
  describe(): string {
    return `${this.type} '${this.output}' of '${this.producer.node.path}'`;
  }
}

/** Zod schema accepting only an artifact of type `type`; the message says what was given instead. */
export function artifactSchema<T extends ArtifactType>(type: T): z.ZodType<Artifact<T>, Artifact<T>> {
  return z.custom<Artifact<T>>((value) => Artifact.isArtifact(value) && value.type === type, {
    error: (issue) => {
      const given = issue.input;
      if (Artifact.isArtifact(given))
        return `expected an artifact of type ${type}, got the ${given.describe()}`;
      return `expected an artifact of type ${type} (the output of another construct), got ${describeValue(given)}`;
    },
  });
}

/** Short description of a non-artifact value for error messages. */
function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'a plain object';
  return `the ${typeof value} ${JSON.stringify(value)}`;
}
