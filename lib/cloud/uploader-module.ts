/**
 * Uploader modules by location: synthesis records a cloud's uploader in the Upload node's props as
 * a portable spec (`fcos-cdk/targets/aws/uploader`, or a project-relative path for a platform a
 * project defines), the same way it records runners; the Upload runner imports it from there, so
 * the run side needs no platform registry and synthesis never loads a cloud SDK.
 */
import { existsSync } from 'node:fs';
import { FcosError } from '../errors.ts';
import { resolveModuleSpec } from '../util/package-root.ts';
import { importDefaultExport } from '../util/typescript-loader.ts';
import { type CloudUploader, isUploader } from './uploader.ts';

/** The uploader module a node names is missing, exports no uploader, or uploads another platform. */
export class UploaderModuleError extends FcosError {}

/** Imports the uploader module `spec` (resolved like a runner spec) and checks it uploads `platform`. */
export async function loadUploader(
  spec: string,
  platform: string,
  where: { readonly projectDir: string; readonly nodePath: string },
): Promise<CloudUploader> {
  const located = { constructPath: where.nodePath, field: 'uploader' };
  const file = resolveModuleSpec(spec, where.projectDir);
  if (!existsSync(file)) {
    throw new UploaderModuleError(
      `the uploader of ${platform} (${spec}) does not exist at ${file}: run fcos-synth again`,
      located,
    );
  }
  // A project's own uploader is TypeScript: compiled fcos-cdk registers tsx first, as for runners.
  const uploader = await importDefaultExport(file);
  if (!isUploader(uploader)) {
    throw new UploaderModuleError(
      `${spec} does not export an uploader: its default export must be defineUploader(${platform}, { lookup, upload })`,
      located,
    );
  }
  if (uploader.cloud !== platform) {
    throw new UploaderModuleError(
      `${spec} uploads ${uploader.cloud} images, not ${platform}: run fcos-synth again`,
      located,
    );
  }
  return uploader;
}
