/**
 * Synthesis never loads a cloud SDK: a child node process imports the public API and synthesizes
 * the default pipeline with uploads to every cloud, under a module resolve hook that records every
 * module it resolves. No `@aws-sdk/*`, `@azure/*` or `@google-cloud/*` module, nor any uploader
 * module, may be among them; importing an SDK afterwards (the control) shows up in the same record.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { makeTempDir, REPO_ROOT } from './helpers/temp-project.ts';

/** The resolve hook: appends every resolved URL to the file named at registration. */
const HOOKS = `import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) {
  log = data.log;
}
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(log, result.url + '\\n');
  return result;
}
`;

/** Registers the hook (after tsx's, so it sees the URLs tsx resolves). */
const REGISTER = `import { register } from 'node:module';
register('./hooks.mjs', import.meta.url, { data: { log: process.env.FCOS_RESOLVE_LOG } });
`;

/** The probe: the public API, a synthesis with uploads, a mark, then an SDK import as the control. */
function probe(out: string): string {
  const url = (relative: string) => pathToFileURL(path.join(REPO_ROOT, relative)).href;
  const context = [
    'upload=true',
    'aws.bucket=fcos-images',
    'azure.subscription=sub',
    'azure.resourceGroup=rg',
    'azure.storageAccount=fcosimages',
    'gcp.project=fedora-coreos-cloud',
    'gcp.bucket=fcos-gce',
  ].flatMap((pair) => ['-c', pair]);
  return `import { appendFileSync } from 'node:fs';
const log = process.env.FCOS_RESOLVE_LOG;
await import(${JSON.stringify(url('lib/index.ts'))});
const { main } = await import(${JSON.stringify(url('lib/cli/synth.ts'))});
const io = { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) };
const argv = ['--app', ${JSON.stringify(path.join(REPO_ROOT, 'pipeline.ts'))}, '--out', ${JSON.stringify(out)}, '-q', ...${JSON.stringify(context)}];
appendFileSync(log, 'MARK synthesized ' + (await main(argv, io)) + '\\n');
const { createRequire } = await import('node:module');
const { pathToFileURL } = await import('node:url');
const sdk = createRequire(${JSON.stringify(path.join(REPO_ROOT, 'package.json'))}).resolve('@aws-sdk/client-s3');
await import(pathToFileURL(sdk).href);
appendFileSync(log, 'MARK control\\n');
`;
}

/** Whether a resolved URL is a cloud SDK module. */
const isSdk = (url: string) => /\/node_modules\/@(aws-sdk|azure|google-cloud)\//.test(url);

describe('synthesis', () => {
  it('loads no cloud SDK and no uploader, even with uploads to every cloud', async () => {
    const directory = await makeTempDir('fcos-no-sdk-');
    const log = path.join(directory, 'resolved.log');
    await writeFile(log, '');
    await writeFile(path.join(directory, 'hooks.mjs'), HOOKS);
    await writeFile(path.join(directory, 'register.mjs'), REGISTER);
    await writeFile(path.join(directory, 'probe.mjs'), probe(path.join(directory, 'fcos.out')));
    const run = await execa(
      process.execPath,
      [
        '--conditions=fcos-cdk-source',
        '--import',
        'tsx',
        '--import',
        pathToFileURL(path.join(directory, 'register.mjs')).href,
        path.join(directory, 'probe.mjs'),
      ],
      { cwd: REPO_ROOT, env: { FCOS_RESOLVE_LOG: log }, reject: false },
    );
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    const mark = lines.indexOf('MARK synthesized 0');
    expect(mark).toBeGreaterThan(0);
    const synthesis = lines.slice(0, mark);
    // The hook saw the synthesis: the program, the clouds' platform data, and packages (zod).
    expect(synthesis.some((url) => url.endsWith('/pipeline.ts'))).toBe(true);
    expect(synthesis.some((url) => url.endsWith('/targets/gce/index.ts'))).toBe(true);
    expect(synthesis.some((url) => url.includes('/node_modules/zod/'))).toBe(true);
    expect(synthesis.filter(isSdk)).toEqual([]);
    // Of the platform folders, only the data (index.ts) is loaded: no uploader nor its helpers.
    expect(synthesis.filter((url) => /\/targets\/[^/]+\/(?!index\.ts$)[^/]+\.ts$/.test(url))).toEqual([]);
    // The control: an SDK import after the mark is recorded.
    expect(lines.slice(mark).some(isSdk)).toBe(true);
    const assembly = JSON.parse(await readFile(path.join(directory, 'fcos.out/pipeline.json'), 'utf8'));
    const uploads = Object.values(
      assembly.nodes as Record<string, { kind: string; props: { uploader: string } }>,
    )
      .filter((node) => node.kind === 'Upload')
      .map((node) => node.props.uploader)
      .sort();
    // One upload per cloud and arch (x86_64 and aarch64).
    expect(uploads).toEqual([
      'fcos-cdk/targets/aws/uploader',
      'fcos-cdk/targets/aws/uploader',
      'fcos-cdk/targets/azure/uploader',
      'fcos-cdk/targets/azure/uploader',
      'fcos-cdk/targets/gce/uploader',
      'fcos-cdk/targets/gce/uploader',
    ]);
  }, 120_000);
});
