/**
 * What a platform is: pure data, checked by a zod schema when it is defined. The disk format it
 * ships, its arches, sector sizes and compressions, its Ignition platform id, whether the QEMU
 * harness boots it and, for clouds, the schema of its upload options, how they are read from the
 * pipeline's context and where its uploader module lives (loaded by the Upload runner only, never
 * at synthesis). Each platform is a folder in targets/ calling {@link definePlatform}; the registry
 * (targets/index.ts) lists the built-in ones and `registerPlatform` adds a project's own.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { type Arch, archSchema } from './artifacts.ts';
import { FcosError } from './errors.ts';

/** Compressions a platform image may be shipped with. */
export const COMPRESSIONS = ['none', 'gzip', 'xz', 'zstd'] as const;
/** One of {@link COMPRESSIONS}. */
export type Compression = (typeof COMPRESSIONS)[number];

/** Disk formats produced from the raw disk (lib/disk/formats/converters.ts has one converter each). */
export const DISK_FORMATS = ['raw', 'qcow2', 'vmdk', 'vhd', 'gce-tar', 'ova'] as const;
/** One of {@link DISK_FORMATS}. */
export type DiskFormat = (typeof DISK_FORMATS)[number];

/** Logical sector sizes a disk can have. */
export const SECTOR_SIZES = [512, 4096] as const;
/** One of {@link SECTOR_SIZES}. */
export type SectorSize = (typeof SECTOR_SIZES)[number];

/** VMware settings of an OVA (fedora-coreos-config's image-base.yaml). */
export interface OvaSettings {
  /** Guest OS type (`vmware-os-type`). */
  readonly osType: string;
  /** Virtual hardware version (`vmware-hw-version`). */
  readonly hardwareVersion: number;
}

/**
 * Upload options of each cloud platform, by platform name. Each cloud's `index.ts` adds its own
 * entry by declaration merging (`declare module '.../lib/platform.ts' { interface
 * UploadOptionsByPlatform { aws: AwsUploadOptions } }`), so Upload's `options` type grows with the
 * clouds without the Upload stage naming any of them.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging in each cloud's folder
export interface UploadOptionsByPlatform {}

/** Upload options of any cloud platform (what `Upload`'s `options` prop accepts). */
export type AnyUploadOptions = UploadOptionsByPlatform[keyof UploadOptionsByPlatform];

/** How a cloud's upload options read the pipeline's context (`-c aws.bucket=...`). */
export interface UploadContextReader {
  /** The context value `key`, or undefined when it was neither given nor defaulted. */
  optional(key: string): string | undefined;
  /** The context value `key`; a MissingContextError saying which platform needs it when absent. */
  required(key: string): string;
}

/** What a cloud platform adds to its data: everything Upload needs, the uploader by location only. */
export interface PlatformUploadDefinition<Options, Parsed> {
  /** Validates and defaults Upload's `options` for this cloud (`Options` in, `Parsed` out). */
  readonly options: z.ZodType<Parsed, Options>;
  /**
   * The upload options a pipeline program derives from its context for one image (the default
   * pipeline.ts calls this for every uploaded platform): context keys, their defaults.
   */
  readonly optionsFromContext: (context: UploadContextReader, stream: string, arch: Arch) => Options;
  /**
   * The module whose default export is the cloud's uploader (`defineUploader`), usually
   * `new URL('./uploader.ts', import.meta.url)`. Only its location is recorded at synthesis; the
   * Upload runner imports it when a fingerprint or a run needs it (the cloud SDKs are loaded there).
   */
  readonly uploader: URL | string;
}

/** What {@link definePlatform} takes. */
export interface PlatformDefinition<Options = never, Parsed = never> {
  /** Platform name, as in cosa's meta.json and PlatformImage's `platform` (`aws`, `qemu` ...). */
  readonly name: string;
  /** Disk format of the image. */
  readonly format: DiskFormat;
  /** File name extension of the uncompressed image (`qcow2`, `vmdk`, `tar.gz` ...). */
  readonly extension: string;
  /** Architectures Fedora CoreOS ships this platform for. */
  readonly arches: readonly Arch[];
  /** Logical sector sizes the platform boots from. */
  readonly sectorSizes: readonly SectorSize[];
  /** Compressions that make sense on top of the format (a tar.gz is already compressed). */
  readonly compressions: readonly Compression[];
  /** Compression used when the PlatformImage does not say; one of `compressions`. */
  readonly defaultCompression: Compression;
  /**
   * The platform's id for Ignition and coreos-assembler (`ignition.platform.id=`, the key of
   * targets/platforms.yaml, the image's file name), where it differs from `name` (gce: `gcp`).
   * @default name
   */
  readonly ignitionPlatformId?: string;
  /**
   * Whether the QEMU harness (KolaTest) can boot the image: Ignition reads its config from QEMU's
   * fw_cfg only on the `qemu` platform (a metal image would look on the kernel command line or a disk).
   * @default false
   */
  readonly qemuBootable?: boolean;
  /**
   * Settings of the OVA descriptor; required when `format` is `ova`, refused otherwise.
   * @default undefined
   */
  readonly ova?: OvaSettings;
  /**
   * For clouds: Upload's options schema, their context mapping and the uploader's location.
   * @default undefined (the platform cannot be uploaded)
   */
  readonly upload?: PlatformUploadDefinition<Options, Parsed>;
}

/** The cloud part of a {@link Platform}. */
export interface PlatformUpload<Options = unknown, Parsed = unknown> {
  /** Validates and defaults Upload's `options`. */
  readonly options: z.ZodType<Parsed, Options>;
  /** Upload options from the pipeline's context, for one stream and arch. */
  readonly optionsFromContext: (context: UploadContextReader, stream: string, arch: Arch) => Options;
  /** Absolute path of the uploader module (recorded as a portable spec at synthesis, never loaded). */
  readonly uploaderFile: string;
}

/** A platform: the data every synthesis-time check and every runner needs, defaults applied. */
export interface Platform<Options = unknown, Parsed = unknown> {
  /** Platform name. */
  readonly name: string;
  /** Disk format of the image. */
  readonly format: DiskFormat;
  /** File name extension of the uncompressed image. */
  readonly extension: string;
  /** Architectures the platform is shipped for. */
  readonly arches: readonly Arch[];
  /** Logical sector sizes the platform boots from. */
  readonly sectorSizes: readonly SectorSize[];
  /** Compressions allowed on top of the format. */
  readonly compressions: readonly Compression[];
  /** Compression used when the PlatformImage does not say. */
  readonly defaultCompression: Compression;
  /** The platform's id for Ignition and coreos-assembler (`gcp` for gce). */
  readonly ignitionPlatformId: string;
  /** Whether the QEMU harness boots its images. */
  readonly qemuBootable: boolean;
  /** Settings of the OVA descriptor (ova format only). */
  readonly ova?: OvaSettings;
  /** For clouds: what Upload needs; absent for platforms that cannot be uploaded. */
  readonly upload?: PlatformUpload<Options, Parsed>;
}

/** A platform definition is not valid: the field names what to fix. */
export class PlatformDefinitionError extends FcosError {}

/** Whether `value` is a zod schema (has `safeParse`). */
const isZodSchema = (value: unknown): boolean =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { safeParse?: unknown }).safeParse === 'function';

/** The checks of a platform definition: each field's shape, then the rules between fields. */
const definitionSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]*$/, 'a platform name is lowercase letters, digits and dashes'),
    format: z.enum(DISK_FORMATS),
    extension: z.string().regex(/^[A-Za-z0-9]+(\.[A-Za-z0-9]+)*$/, 'an extension is words joined by dots'),
    arches: z.array(archSchema).min(1),
    sectorSizes: z.array(z.union([z.literal(512), z.literal(4096)])).min(1),
    compressions: z.array(z.enum(COMPRESSIONS)).min(1),
    defaultCompression: z.enum(COMPRESSIONS),
    ignitionPlatformId: z
      .string()
      .regex(/^[a-z][a-z0-9-]*$/, 'an Ignition platform id is lowercase letters, digits and dashes')
      .optional(),
    qemuBootable: z.boolean().default(false),
    ova: z
      .object({ osType: z.string().min(1), hardwareVersion: z.number().int().positive() })
      .strict()
      .optional(),
    upload: z
      .object({
        options: z.custom<z.ZodType>(isZodSchema, 'expected a zod schema'),
        optionsFromContext: z.custom<(...args: never[]) => unknown>(
          (value) => typeof value === 'function',
          'expected a function (context, stream, arch) => options',
        ),
        uploader: z.union([
          z.instanceof(URL),
          z
            .string()
            .refine(
              (value) => value.startsWith('file:') || path.isAbsolute(value),
              "the uploader's location is a file: URL (new URL('./uploader.ts', import.meta.url)) or an absolute path",
            ),
        ]),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((definition, context) => {
    if (!definition.compressions.includes(definition.defaultCompression)) {
      context.addIssue({
        code: 'custom',
        path: ['defaultCompression'],
        message: `${definition.defaultCompression} is not one of the platform's compressions (${definition.compressions.join(', ')})`,
      });
    }
    if ((definition.format === 'ova') !== (definition.ova !== undefined)) {
      context.addIssue({
        code: 'custom',
        path: ['ova'],
        message:
          definition.format === 'ova'
            ? 'an ova platform needs its OVA settings (osType, hardwareVersion)'
            : `OVA settings are for the ova format, not ${definition.format}`,
      });
    }
  });

/** Declares a platform: its data validated, defaults applied, frozen; register it to use it. */
export function definePlatform<Options = never, Parsed = never>(
  definition: PlatformDefinition<Options, Parsed>,
): Platform<Options, Parsed> {
  const parsed = definitionSchema.safeParse(definition);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.map(String).join('.');
    throw new PlatformDefinitionError(
      `platform ${JSON.stringify(definition.name)}: ${field || 'definition'}: ${issue.message}`,
      { field },
    );
  }
  const data = parsed.data;
  const upload = definition.upload;
  return Object.freeze({
    name: data.name,
    format: data.format,
    extension: data.extension,
    arches: Object.freeze(data.arches),
    sectorSizes: Object.freeze(data.sectorSizes),
    compressions: Object.freeze(data.compressions),
    defaultCompression: data.defaultCompression,
    ignitionPlatformId: data.ignitionPlatformId ?? data.name,
    qemuBootable: data.qemuBootable,
    ...(data.ova ? { ova: Object.freeze(data.ova) } : {}),
    ...(upload
      ? {
          upload: Object.freeze({
            options: upload.options,
            optionsFromContext: upload.optionsFromContext,
            uploaderFile: moduleFile(upload.uploader),
          }),
        }
      : {}),
  });
}

/** The absolute path of a module given as a URL (`import.meta.url`-relative) or a path. */
function moduleFile(location: URL | string): string {
  const text = String(location);
  return text.startsWith('file:') ? fileURLToPath(text) : text;
}
