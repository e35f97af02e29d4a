/**
 * The `packages` output of a compose (`package-list` artifacts): `packages.json`, `{"packages":
 * [{name, epoch, version, release, arch}, ...]}` in canonical JSON, written by every compose
 * driver and read by `fcos-run --update-lockfiles` to pin exactly these versions.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import type { PackageIdentity } from '../tools/rpm.ts';
import { canonicalStringify } from '../util/canonical-json.ts';
import { ComposeError } from './errors.ts';

/** File name of the package list in a compose's work directory. */
export const PACKAGE_LIST_FILE = 'packages.json';

/** One package of the list. */
const packageIdentitySchema = z
  .object({
    name: z.string().min(1),
    epoch: z.number().int().nonnegative(),
    version: z.string().min(1),
    release: z.string().min(1),
    arch: z.string().min(1),
  })
  .strict();

/** The package list file. */
const packageListSchema = z.object({ packages: z.array(packageIdentitySchema) }).strict();

/** Writes the package list to `file`: canonical JSON, 2-space indent, final newline. */
export async function writePackageList(file: string, packages: readonly PackageIdentity[]): Promise<void> {
  const checked: z.input<typeof packageListSchema> = { packages: [...packages] };
  await writeFile(file, `${canonicalStringify(checked, 2)}\n`);
}

/** Reads and validates a package list; a malformed one names the node. */
export async function readPackageList(file: string, constructPath: string): Promise<PackageIdentity[]> {
  const parsed = packageListSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ComposeError(`package list ${file}: ${issue?.path.join('.')}: ${issue?.message}`, {
      constructPath,
      field: 'packages',
    });
  }
  return parsed.data.packages;
}
