/**
 * Errors of a compose: a root that cannot become an ostree tree, and inputs a compose cannot use
 * (a repository defined nowhere, an unreachable one, an unusable package list).
 */
import { FcosError } from '../errors.ts';

/** A root that cannot be turned into an ostree tree (no kernel, a file in /var, a failed edit ...). */
export class RootfsError extends FcosError {}

/** The compose failed because of its inputs (a repo without definition, a bad lockfile ...). */
export class ComposeError extends FcosError {}

/**
 * `check-passwd` or `check-groups` failed (a user or group removed while its id still owns files,
 * or its id changed), or its reference could not be read; `field` is the key.
 */
export class PasswdCheckError extends FcosError {}
