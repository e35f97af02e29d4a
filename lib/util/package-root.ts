/** Where fcos-cdk itself is installed. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the fcos-cdk package (the directory holding package.json). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
