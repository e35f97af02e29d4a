/**
 * The compiled fcos-synth compiles a TypeScript program once (esbuild, into node_modules/.cache/
 * fcos-synth) and imports the JavaScript afterwards, while every file that went into it is
 * unchanged: an edit of any local module is seen, each module keeps its own import.meta.url, and
 * errors stay located in the program's own lines.
 */
import { mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, writeProgram } from './helpers/temp-project.ts';

const BIN = path.join(REPO_ROOT, 'bin/fcos-synth.js');

/** Runs the compiled fcos-synth in `directory`. */
function synth(directory: string) {
  return execa('node', [BIN, '--app', 'app.ts', '-q'], { cwd: directory, reject: false });
}

/** The pipeline name synthesized in `directory`. */
async function pipelineName(directory: string): Promise<string> {
  const assembly = JSON.parse(await readFile(path.join(directory, 'fcos.out/pipeline.json'), 'utf8'));
  return assembly.pipeline.name as string;
}

/** The record the cache keeps of `directory`'s program. */
async function cacheRecord(
  directory: string,
): Promise<{ app: string; inputs: Record<string, string>; bundle: string }> {
  const folder = path.join(REPO_ROOT, 'node_modules/.cache/fcos-synth');
  const { createHash } = await import('node:crypto');
  const app = path.join(await realDirectory(directory), 'app.ts');
  const name = createHash('sha256').update(app).digest('hex').slice(0, 16);
  return JSON.parse(await readFile(path.join(folder, `${name}.json`), 'utf8'));
}

/** `directory` with symbolic links resolved (temporary directories may live under one). */
async function realDirectory(directory: string): Promise<string> {
  const { realpath } = await import('node:fs/promises');
  return realpath(directory);
}

describe('the compiled program cache of fcos-synth', () => {
  beforeAll(async () => {
    // The bin runs dist/: bring it up to date (nothing to do when npm test has just built it).
    const build = await execa('node', [path.join(REPO_ROOT, 'scripts/build.js')], { reject: false });
    expect([0, 2], build.stdout).toContain(build.exitCode);
  }, 300_000);

  it('sees an edit of an imported module, and keeps each module its own import.meta.url', async () => {
    // The pipeline is named after the file that names it: a bundle's own URL would give its hash.
    const directory = await writeProgram(
      "import { nameOf } from './naming/name.ts';\nnew Pipeline({ name: nameOf('first') });",
      {},
    );
    await execa('mkdir', [path.join(directory, 'naming')]);
    const naming = path.join(directory, 'naming/name.ts');
    await writeFile(
      naming,
      "export const nameOf = (tag: string): string => tag + '-' + new URL(import.meta.url).pathname.split('/').at(-2);\n",
    );
    const first = await synth(directory);
    expect(first.stderr).toBe('');
    expect(await pipelineName(directory)).toBe('first-naming');
    const record = await cacheRecord(directory);
    const sources = Object.keys(record.inputs).filter((file) => file.endsWith('.ts'));
    expect(sources.map((file) => path.basename(file))).toEqual(['app.ts', 'name.ts']);

    await writeFile(
      naming,
      "export const nameOf = (tag: string): string => tag + '-edited-' + import.meta.filename.endsWith('name.ts');\n",
    );
    expect((await synth(directory)).stderr).toBe('');
    expect(await pipelineName(directory)).toBe('first-edited-true');
    expect((await cacheRecord(directory)).bundle).not.toBe(record.bundle);
  }, 60_000);

  it('compiles again when a tsconfig.json appears that changes the output (class field semantics)', async () => {
    // With define semantics (esbuild's default for modern targets) B's declared field is reset to
    // undefined after A's constructor set it; useDefineForClassFields: false keeps the value.
    const directory = await writeProgram(
      [
        'class A { constructor() { this.setName(); } setName(): void {} }',
        "class B extends A { name?: string; override setName(): void { this.name = 'assigned'; } }",
        'new Pipeline({ name: String(new B().name) });',
      ].join('\n'),
    );
    expect((await synth(directory)).stderr).toBe('');
    expect(await pipelineName(directory)).toBe('undefined');
    await writeFile(
      path.join(directory, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { useDefineForClassFields: false } }),
    );
    expect((await synth(directory)).stderr).toBe('');
    expect(await pipelineName(directory)).toBe('assigned');
  }, 60_000);

  it('compiles once: an unchanged program is imported from the cache', async () => {
    const directory = await writeProgram("new Pipeline({ name: 'cached' });");
    expect((await synth(directory)).exitCode).toBe(0);
    const record = await cacheRecord(directory);
    const bundle = path.join(REPO_ROOT, 'node_modules/.cache/fcos-synth', record.bundle);
    const written = (await stat(bundle)).mtimeMs;
    const again = await synth(directory);
    expect(again.exitCode).toBe(0);
    expect(await pipelineName(directory)).toBe('cached');
    expect(await cacheRecord(directory)).toEqual(record);
    expect((await stat(bundle)).mtimeMs).toBe(written);
  }, 60_000);

  it('falls back to tsx when the cache folder cannot be written', async () => {
    // A project with its own node_modules, where a file stands in the way of .cache/fcos-synth.
    const directory = await writeProgram("new Pipeline({ name: 'uncached' });");
    const modules = path.join(directory, 'node_modules');
    await rm(modules);
    await mkdir(modules);
    await symlink(path.join(REPO_ROOT, 'node_modules', 'fcos-cdk'), path.join(modules, 'fcos-cdk'));
    await symlink(path.join(REPO_ROOT, 'node_modules', 'constructs'), path.join(modules, 'constructs'));
    await writeFile(path.join(modules, '.cache'), 'not a folder');
    const run = await synth(directory);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(await pipelineName(directory)).toBe('uncached');
  }, 60_000);

  // The program's header takes three lines: the body's first line is line 4.
  it("locates a program's runtime error in its own line, through the source map", async () => {
    const directory = await writeProgram("const pipeline = new Pipeline();\n\nthrow new Error('boom');");
    const run = await synth(directory);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/'[^']*app\.ts' line 6:7 threw: boom/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('locates a syntax error in the file and line, with no stack and fcos.out untouched', async () => {
    const directory = await writeProgram('const pipeline = new Pipeline(;');
    const run = await synth(directory);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^fcos-synth: error: 'app\.ts' line 4:31 threw: Unexpected ";"/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(await readFile(path.join(directory, 'fcos.out/pipeline.json'), 'utf8').catch(() => 'none')).toBe(
      'none',
    );
  }, 60_000);
});
