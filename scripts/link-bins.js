// Links this package into its own node_modules, which npm does not do: its bins into
// node_modules/.bin, so that `npx fcos-synth` and `npx fcos-run` in a checkout run this checkout's
// code (the checkout's manifest keeps its bins in publishConfig.bin, so that npx finds them here
// instead of installing the checkout into its exec cache: see scripts/pack.js), and node_modules/fcos-cdk to the checkout itself, so that `import ... from 'fcos-cdk'`
// resolves to this checkout from any project whose node_modules is this one (the test suite's
// temporary projects link theirs here). Run by `prepare` and scripts/setup.sh.
import { mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { name, publishConfig } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const { bin } = publishConfig;
const modules = path.join(root, 'node_modules');
const binDirectory = path.join(modules, '.bin');
mkdirSync(binDirectory, { recursive: true });
for (const [command, file] of Object.entries(bin)) {
  const link = path.join(binDirectory, command);
  rmSync(link, { force: true });
  symlinkSync(path.relative(binDirectory, path.join(root, file)), link);
}
const self = path.join(modules, name);
rmSync(self, { force: true });
symlinkSync('..', self);
