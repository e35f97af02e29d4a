/**
 * fcos-cdk as a consumer gets it: `npm pack` of this repository installed (without network) into a
 * scratch project, whose own pipeline.ts imports 'fcos-cdk', defines a kind of its own in its own
 * folder (index.ts with defineKind and the construct, runner.ts with defineRunner), type-checks
 * under the consumer's strict tsconfig against the shipped declarations, is synthesized by the
 * package's fcos-synth and run by its fcos-run.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, REPO_ROOT } from './helpers/temp-project.ts';

/** The consumer's tsconfig: strict, exact optional properties, Node's ESM resolution, every .d.ts checked. */
const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    lib: ['ES2023'],
    types: ['node'],
    strict: true,
    exactOptionalPropertyTypes: true,
    skipLibCheck: false,
    noEmit: true,
    verbatimModuleSyntax: true,
  },
  include: ['**/*.ts'],
  exclude: ['node_modules', 'fcos.out'],
};

/** The consumer's kind, construct side: a greeting written to a file, optionally shouted from another's. */
const GREETING_KIND = `/** A kind of this project: writes a greeting, or shouts the greeting of another node. */
import { type Artifact, artifactSchema, type Construct, defineKind, Step } from 'fcos-cdk';
import { z } from 'zod';

/** Props of {@link Greeting}. */
export interface GreetingProps {
  /** Who is greeted. */
  readonly name: string;
  /**
   * A greeting to shout instead of writing one. (With undefined: zod's optional() accepts it, and
   * under exactOptionalPropertyTypes the props must say so to match the schema's input.)
   * @default undefined
   */
  readonly shout?: Artifact<'blob'> | undefined;
}

const schema = z.object({ name: z.string().min(1), shout: artifactSchema('blob').optional() });

/** The Greeting kind. */
export const greetingKind = defineKind({
  kind: 'Greeting',
  version: 1,
  schema,
  resources: () => ({ class: 'io' }),
  runner: new URL('./runner.ts', import.meta.url),
});

/** A node writing greeting.txt. */
export class Greeting extends Step<GreetingProps, z.output<typeof schema>> {
  /** The greeting file. */
  readonly greeting: Artifact<'blob'>;

  constructor(scope: Construct, id: string, props: GreetingProps) {
    super(scope, id, greetingKind, props);
    this.greeting = this.addOutput('greeting', 'blob', {});
  }
}
`;

/** The consumer's kind, run side: props typed from the schema, the input resolved through requireInput. */
const GREETING_RUNNER = `/** The Greeting kind's runner. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defineRunner, requireInput } from 'fcos-cdk';
import { greetingKind } from './index.js';

export default defineRunner(greetingKind, {
  async run(context) {
    const file = path.join(context.workDir, 'greeting.txt');
    const shout = context.props.shout;
    if (shout === undefined) {
      await writeFile(file, \`Hello, \${context.props.name}\`);
    } else {
      const heard = await readFile(requireInput(context, shout).path, 'utf8');
      // A real tool, through the context's exec (argument arrays, output in the node log).
      const upper = await context.exec('tr', ['a-z', 'A-Z'], { input: heard });
      await writeFile(file, upper.stdout);
    }
    return { greeting: { storage: 'file', path: file } };
  },
});
`;

/**
 * The consumer's program: built-in stages (synthesized, not run here) and its own kind, imported
 * with the `.js` specifier Node's ESM resolution expects (tsx finds the .ts behind it).
 */
const CONSUMER_PIPELINE = `import {
  DiskImage,
  LocalPackageRepo,
  Manifest,
  Pipeline,
  PlatformImage,
  RpmOstreeCompose,
} from 'fcos-cdk';
import { Greeting } from './greeting/index.js';

const pipeline = new Pipeline({ name: 'consumer' });
const repo = new LocalPackageRepo(pipeline, 'Packages', { specs: 'local-os/packages' });
const manifest = new Manifest(pipeline, 'Manifest', { file: 'local-os/manifest.yaml', localRepos: [repo.repo] });
const compose = new RpmOstreeCompose(pipeline, 'Compose', { treefile: manifest.treefileFor('x86_64') });
const disk = new DiskImage(pipeline, 'Disk', { commit: compose.commit });
new PlatformImage(pipeline, 'Qemu', { disk: disk.disk, platform: 'qemu' });

const hello = new Greeting(pipeline, 'Hello', { name: 'fcos' });
new Greeting(pipeline, 'Shout', { name: 'fcos', shout: hello.greeting });
`;

/** Links `name` (a package of this repository's node_modules) into `modules`, as an install would place it. */
async function linkDependency(modules: string, name: string): Promise<void> {
  const target = path.join(modules, name);
  await mkdir(path.dirname(target), { recursive: true });
  await symlink(path.join(REPO_ROOT, 'node_modules', name), target);
}

/** A project with the packed fcos-cdk installed; returns its directory and the packed file list. */
async function installPackedPackage(): Promise<{ project: string; packed: string[] }> {
  const scratch = await makeTempDir('fcos-package-');
  const project = path.join(scratch, 'consumer');
  const modules = path.join(project, 'node_modules');
  const installed = path.join(modules, 'fcos-cdk');
  await mkdir(installed, { recursive: true });
  // Packed as published: `npm run pack` (the checkout's manifest keeps its bins in publishConfig).
  const pack = await execa('node', [path.join(REPO_ROOT, 'scripts/pack.js'), '--destination', scratch], {
    cwd: REPO_ROOT,
  });
  const [report] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  await execa('tar', ['-xzf', path.join(scratch, report!.filename), '-C', installed, '--strip-components=1']);
  // Dependencies as npm would hoist them, from this repository's node_modules (no network).
  const manifest = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    bin: Record<string, string>;
  };
  for (const name of Object.keys(manifest.dependencies)) await linkDependency(modules, name);
  // The consumer's own development dependencies.
  for (const name of ['typescript', '@types/node']) await linkDependency(modules, name);
  await mkdir(path.join(modules, '.bin'));
  for (const [command, file] of Object.entries(manifest.bin)) {
    await symlink(path.join('..', 'fcos-cdk', file), path.join(modules, '.bin', command));
  }
  return { project, packed: report!.files.map((file) => file.path) };
}

describe('the packed package', () => {
  let project: string;
  let packed: string[];

  beforeAll(async () => {
    // The package is what the build makes: bring dist/ up to date first (nothing to do when npm
    // test has just built it). Exit 2 is a type error somewhere with every file emitted; the
    // consumer's type check below is what counts here.
    const build = await execa('node', [path.join(REPO_ROOT, 'scripts/build.js')], { reject: false });
    expect([0, 2], build.stdout).toContain(build.exitCode);
    ({ project, packed } = await installPackedPackage());
    await writeFile(path.join(project, 'package.json'), '{ "private": true, "type": "module" }\n');
    await writeFile(path.join(project, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG, null, 2));
    await mkdir(path.join(project, 'greeting'));
    await writeFile(path.join(project, 'greeting/index.ts'), GREETING_KIND);
    await writeFile(path.join(project, 'greeting/runner.ts'), GREETING_RUNNER);
    await writeFile(path.join(project, 'pipeline.ts'), CONSUMER_PIPELINE);
    await execa('cp', ['-r', path.join(REPO_ROOT, 'local-os'), path.join(project, 'local-os')]);
  }, 300_000);

  it('publishes the bins that the checkout keeps in publishConfig.bin, and nothing private', async () => {
    const checkout = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8'));
    const published = JSON.parse(
      await readFile(path.join(project, 'node_modules/fcos-cdk/package.json'), 'utf8'),
    );
    expect(Object.keys(published.bin)).toEqual(['fcos-synth', 'fcos-run', 'fcos-serve', 'fcos-iso']);
    expect(published.bin).toEqual(checkout.publishConfig.bin);
    expect(published.private).toBeUndefined();
    expect(published.publishConfig).toBeUndefined();
    expect(published.devDependencies).toBeUndefined();
    expect(published.dependencies).toEqual(checkout.dependencies);
  });

  it('holds the compiled code, its declarations and the bins, not the sources or the tests', () => {
    for (const file of [
      'package.json',
      'bin/fcos-synth.js',
      'bin/fcos-run.js',
      'dist/lib/index.js',
      'dist/lib/index.d.ts',
      'dist/lib/cli/run.js',
      'dist/stages/manifest/runner.js',
      'targets/platforms.yaml',
      'schema/pipeline.schema.json',
    ]) {
      expect(packed).toContain(file);
    }
    expect(packed.filter((file) => /^(lib|stages|test|bench|scripts|local-os)\//.test(file))).toEqual([]);
    expect(packed.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))).toEqual([]);
  });

  it('ships JavaScript whose relative imports, static and dynamic, name .js files', async () => {
    // tsc rewrites a `.ts` specifier only where it sees one it resolves (it once left a dynamic
    // import inside a runner's method as it was, and the node failed at run time).
    const offenders: string[] = [];
    for (const file of packed.filter((name) => name.endsWith('.js'))) {
      const code = await readFile(path.join(project, 'node_modules/fcos-cdk', file), 'utf8');
      for (const match of code.matchAll(/(?:from\s*|import\s*\(\s*)(['"])(\.{1,2}\/[^'"]*)\1/g)) {
        if (!match[2]!.endsWith('.js') && !match[2]!.endsWith('.json'))
          offenders.push(`${file}: ${match[2]}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('ships declarations whose relative imports name the .js files beside them', async () => {
    const index = await readFile(path.join(project, 'node_modules/fcos-cdk/dist/lib/index.d.ts'), 'utf8');
    expect(index).toContain("export * from './pipeline.js';");
    expect(index).not.toMatch(/from '\.{1,2}\/[^']*\.ts'/);
  });

  it("type-checks the consumer's program and kind under its strict tsconfig, without the cloud SDKs' types", async () => {
    const tsc = await execa('node', ['node_modules/typescript/bin/tsc', '-p', '.', '--listFiles'], {
      cwd: project,
      reject: false,
    });
    const errors = tsc.stdout.split('\n').filter((line) => line.includes('error TS'));
    expect(errors).toEqual([]);
    expect(tsc.exitCode).toBe(0);
    const files = tsc.stdout.split('\n').filter((line) => line.startsWith('/'));
    // The shipped declarations, not this repository's sources.
    expect(files).toContain(path.join(project, 'node_modules/fcos-cdk/dist/lib/index.d.ts'));
    expect(files.filter((file) => file.startsWith(path.join(REPO_ROOT, 'lib')))).toEqual([]);
    expect(files.filter((file) => /\/(@aws-sdk|@azure|@google-cloud)\//.test(file))).toEqual([]);
  }, 180_000);

  it("synthesizes with the package's fcos-synth and runs the consumer's kind with its fcos-run", async () => {
    const synth = await execa('node_modules/.bin/fcos-synth', ['-q'], { cwd: project, reject: false });
    expect(synth.stderr).toBe('');
    expect(synth.exitCode).toBe(0);
    const assembly = JSON.parse(await readFile(path.join(project, 'fcos.out/pipeline.json'), 'utf8'));
    expect(assembly.nodes.Hello.runner).toBe('./greeting/runner.ts');
    expect(assembly.nodes.Disk.runner).toBe('fcos-cdk/stages/disk-image/runner');
    expect(assembly.nodes.Shout.inputs.shout.node).toBe('Hello');

    const run = await execa('node_modules/.bin/fcos-run', ['--only', 'Shout', '--plain'], {
      cwd: project,
      reject: false,
    });
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(await readFile(path.join(project, 'fcos.out/artifacts/Hello/greeting.txt'), 'utf8')).toBe(
      'Hello, fcos',
    );
    expect(await readFile(path.join(project, 'fcos.out/artifacts/Shout/greeting.txt'), 'utf8')).toBe(
      'HELLO, FCOS',
    );
    expect(existsSync(path.join(project, 'fcos.out/artifacts/Disk'))).toBe(false);
  }, 120_000);
});

describe('this repository', () => {
  it("runs its own bins through npx from node_modules/.bin, without installing itself into npm's exec cache", async () => {
    // A manifest with a bin of the name makes npx install the checkout into the exec cache on
    // every call (~1.3 s); the checkout keeps its bins in publishConfig.bin for that reason.
    const npmCache = await makeTempDir('fcos-npx-cache-');
    const npx = await execa('npx', ['--offline', 'fcos-run', '--help'], {
      cwd: REPO_ROOT,
      env: { npm_config_cache: npmCache, npm_config_update_notifier: 'false' },
      reject: false,
    });
    expect(npx.stderr).toBe('');
    expect(npx.exitCode).toBe(0);
    expect(npx.stdout).toContain('fcos-run');
    expect(existsSync(path.join(npmCache, '_npx'))).toBe(false);
  }, 60_000);

  it("resolves 'fcos-cdk' to its own sources in the test suite: one copy of the library", async () => {
    const byName = await import('fcos-cdk');
    const bySource = await import('../lib/index.ts');
    expect(byName.Pipeline).toBe(bySource.Pipeline);
    expect(byName.Step).toBe(bySource.Step);
  });
});
