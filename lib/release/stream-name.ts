/** The name of a release stream as props take it: it becomes a path segment and a URL segment. */
import { z } from 'zod';

/** A stream name (`stable`, `testing-devel`): lowercase letters, digits, `.`, `_` and `-`. */
export const streamNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]*$/, { error: 'a stream name is lowercase letters, digits, `.`, `_` and `-`' });
