/**
 * Zod building blocks shared by stage and target schemas.
 */
import { z } from 'zod';
import { toProjectPath } from './synth/session.ts';

/** A path to a file or directory of the project, recorded relative to the project directory. */
export function projectPathSchema(): z.ZodType<string, string> {
  return z
    .string()
    .min(1, 'expected a path, got an empty string')
    .transform((value) => toProjectPath(value));
}

/** A kernel argument: one word, no whitespace. */
export const kernelArgumentSchema = z
  .string()
  .regex(/^\S+$/, 'a kernel argument is one word without whitespace');

/** A name usable in file names and cloud resource names. */
export const simpleNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    'use letters, digits, dot, dash and underscore, starting with a letter or digit',
  );
