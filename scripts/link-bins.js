// Links this package's own bins into node_modules/.bin (npm links only dependencies' bins), so
// that `npx fcos-synth` and `npx fcos-run` in a checkout run this checkout's code. Run by `prepare`.
import { mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { bin } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const binDirectory = path.join(root, 'node_modules', '.bin');
mkdirSync(binDirectory, { recursive: true });
for (const [name, file] of Object.entries(bin)) {
  const link = path.join(binDirectory, name);
  rmSync(link, { force: true });
  symlinkSync(path.relative(binDirectory, path.join(root, file)), link);
}
