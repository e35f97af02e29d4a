/**
 * The metadata of a kola external test, as coreos-assembler's mantle/kola/harness.go reads it:
 * a directory's `kola.json`, or inside the test file a `# kola: {...}` JSON line or a `## kola:`
 * block of YAML lines. Every key kola knows is accepted (kola rejects unknown keys, so do we); the
 * ones the QEMU harness cannot honour are listed so the report can warn about them.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** A string of space-separated words (kola's form), or a list of them. */
const words = z
  .union([z.string(), z.array(z.string())])
  .transform((value) => (Array.isArray(value) ? value : value.split(/\s+/).filter((word) => word !== '')));

/**
 * An inclusion list, or an exclusion list when kola's string starts with `!` (`"!s390x ppc64le"`
 * excludes both): normalised to words, each excluded one carrying its own `!`.
 */
const selection = z.union([z.string(), z.array(z.string())]).transform((value) => {
  if (Array.isArray(value)) return value;
  const excluding = value.trimStart().startsWith('!');
  const list = (excluding ? value.trimStart().slice(1) : value).split(/\s+/).filter((word) => word !== '');
  return excluding ? list.map((word) => `!${word.replace(/^!/, '')}`) : list;
});

/** The keys of kola's externalTestMeta, checked; an unknown key is an error, as in kola. */
export const kolaMetadataSchema = z
  .object({
    architectures: selection.optional(),
    platforms: selection.optional(),
    distros: selection.optional(),
    tags: words.optional(),
    requiredTag: z.string().optional(),
    timeoutMin: z.number().positive().optional(),
    minMemory: z.number().int().positive().optional(),
    exclusive: z.boolean().optional(),
    conflicts: z.array(z.string()).optional(),
    description: z.string().optional(),
    creationDate: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')
      .optional(),
    allowConfigWarnings: z.boolean().optional(),
    additionalDisks: z.array(z.string()).optional(),
    primaryDisk: z.string().optional(),
    injectContainer: z.boolean().optional(),
    numaNodes: z.boolean().optional(),
    minDisk: z.number().int().optional(),
    additionalNics: z.number().int().optional(),
    appendKernelArgs: z.string().optional(),
    appendFirstbootKernelArgs: z.string().optional(),
    noInstanceCreds: z.boolean().optional(),
    instanceType: z.string().optional(),
    bindMountHostRO: z.array(z.string()).optional(),
    bootFrom: z.string().optional(),
    requiredHostPorts: z.array(z.number().int()).optional(),
  })
  .strict();

/** Parsed test metadata. */
export type KolaMetadata = z.output<typeof kolaMetadataSchema>;

/**
 * kola's keys the QEMU harness does not implement, with why; a test using one still runs, and its
 * report carries a warning naming the key (they change the machine, which this harness cannot).
 */
export const UNSUPPORTED_KEYS: Readonly<Partial<Record<keyof KolaMetadata, string>>> = {
  additionalDisks: 'extra disks are not attached',
  primaryDisk: 'the primary disk is the image as built',
  injectContainer: 'no ostree container image is injected',
  numaNodes: 'the VM has no NUMA topology',
  minDisk: 'the disk is not resized',
  additionalNics: 'no extra network interfaces are attached',
  appendKernelArgs: 'the image boots with its own kernel arguments',
  appendFirstbootKernelArgs: 'the image boots with its own first-boot kernel arguments',
  bindMountHostRO: 'no host directory is shared with the VM',
  bootFrom: 'the VM boots from its disk only',
  requiredHostPorts: 'no host port is forwarded',
};

/**
 * kola's keys that only mean something on a cloud (kola ignores them on qemu too): accepted and
 * ignored without a warning.
 */
export const CLOUD_ONLY_KEYS: ReadonlySet<keyof KolaMetadata> = new Set(['noInstanceCreds', 'instanceType']);

/** Where a test's metadata came from. */
export type MetadataSource = 'kola.json' | 'inline JSON' | 'inline YAML' | 'none';

/** The `# kola:` prefix of a single-line JSON stanza (kola's InstalledTestMetaPrefix). */
const JSON_PREFIX = '# kola:';

/** The `## kola:` prefix of a YAML block (kola's InstalledTestMetaPrefixYaml). */
const YAML_PREFIX = '## kola:';

/** kola reads at most this many bytes of a test file looking for its metadata. */
const INLINE_METADATA_LIMIT = 8192;

/** The inline metadata of a test file, unparsed: the JSON text or the YAML text, if any. */
export function inlineMetadataText(
  contents: Buffer,
): { readonly format: 'inline JSON' | 'inline YAML'; readonly text: string } | undefined {
  const lines = contents.subarray(0, INLINE_METADATA_LIMIT).toString('utf8').split('\n');
  let yaml: string[] | undefined;
  for (const line of lines) {
    if (line.startsWith(JSON_PREFIX)) {
      if (yaml) throw new Error(`found both ${YAML_PREFIX} and ${JSON_PREFIX} metadata`);
      return { format: 'inline JSON', text: line.slice(JSON_PREFIX.length).trim() };
    }
    if (line.startsWith(YAML_PREFIX)) {
      if (yaml) throw new Error(`found more than one ${YAML_PREFIX}`);
      yaml = [];
    } else if (yaml) {
      // The block is the `## ` lines right after the prefix, with those three characters removed.
      if (!line.startsWith('## ')) break;
      yaml.push(line.slice(3));
    }
  }
  return yaml ? { format: 'inline YAML', text: yaml.join('\n') } : undefined;
}

/** Parses metadata text of `format` into a checked object; throws with the key and problem. */
export function parseMetadata(text: string, format: MetadataSource): KolaMetadata {
  const document: unknown = format === 'inline YAML' ? (parseYaml(text) ?? {}) : JSON.parse(text);
  const parsed = kolaMetadataSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${issue?.path.length ? `${issue.path.join('.')}: ` : ''}${issue?.message}`);
  }
  return parsed.data;
}

/** Warnings for the keys of `metadata` that the harness does not honour. */
export function unsupportedKeyWarnings(metadata: KolaMetadata, source: MetadataSource): string[] {
  return Object.entries(UNSUPPORTED_KEYS)
    .filter(([key]) => metadata[key as keyof KolaMetadata] !== undefined)
    .map(
      ([key, why]) =>
        `${source} key ${key} (${JSON.stringify(metadata[key as keyof KolaMetadata])}) is not supported by the QEMU harness and was ignored: ${why}`,
    );
}

/** Whether a kola list (`x86_64 aarch64`, `!s390x`) admits `value`; absent admits everything. */
export function admits(list: readonly string[] | undefined, value: string): boolean {
  if (!list || list.length === 0) return true;
  const denied = list.filter((item) => item.startsWith('!')).map((item) => item.slice(1));
  const allowed = list.filter((item) => !item.startsWith('!'));
  if (denied.includes(value)) return false;
  return allowed.length === 0 || allowed.includes(value);
}
