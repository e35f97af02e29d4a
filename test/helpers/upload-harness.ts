/**
 * Running Upload pipelines for tests: a project whose platform image is a file the test made, run
 * by `fcos-run` in a child process with an environment the test controls entirely (fake
 * credentials, endpoints of the local servers, a canary secret), so that a test can also kill it
 * mid-run like a crash would. Also: a scan of every file a run leaves for a secret.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'vitest';
import { makeTempDir, REPO_ROOT, synthIn, writeProgram } from './temp-project.ts';

/** What an Upload project is made of. */
export interface UploadProjectSpec {
  /** The image file. */
  readonly file: string;
  /** Its platform. */
  readonly platform: 'aws' | 'azure' | 'gce';
  /**
   * Its architecture.
   * @default 'x86_64'
   */
  readonly arch?: 'x86_64' | 'aarch64';
  /** Upload options. */
  readonly options: Record<string, unknown>;
}

/** Writes and synthesizes a project with one image and one Upload; returns its directory. */
export async function uploadProject(spec: UploadProjectSpec): Promise<string> {
  const kind = pathToFileURL(path.join(REPO_ROOT, 'test/kinds/test-platform-image.ts')).href;
  const directory = await writeProgram(`import { TestPlatformImage } from '${kind}';
const pipeline = new Pipeline({ name: 'upload' });
const image = new TestPlatformImage(pipeline, 'Image', ${JSON.stringify({ file: spec.file, platform: spec.platform, arch: spec.arch ?? 'x86_64' })});
new Upload(pipeline, 'Upload', { image: image.image, options: ${JSON.stringify(spec.options)} });
`);
  const synth = await synthIn(directory);
  expect(synth.stderr).toBe('');
  return directory;
}

/** A finished child fcos-run. */
export interface ChildRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A started child fcos-run. */
export interface StartedRun {
  /** The process (to kill it). */
  readonly child: ChildProcess;
  /** Resolves when it exits. */
  readonly done: Promise<ChildRun>;
}

/** Environment every child gets: no variable of the test process leaks in (real credentials). */
export async function baseEnvironment(): Promise<Record<string, string>> {
  const home = await makeTempDir('fcos-home-');
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    // Keep every SDK's default chain on loopback: no instance metadata probe, no config of the host.
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: path.join(home, 'aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'aws-credentials'),
    METADATA_SERVER_DETECTION: 'none',
    CLOUDSDK_CONFIG: path.join(home, 'gcloud'),
    AZURE_CONFIG_DIR: path.join(home, 'azure'),
  };
}

/** Starts fcos-run on `directory` in a child process with exactly `env`. */
export function startRun(directory: string, env: Record<string, string>, ...extra: string[]): StartedRun {
  const child = spawn(
    process.execPath,
    [
      path.join(REPO_ROOT, 'bin/fcos-run.js'),
      '--out',
      path.join(directory, 'fcos.out'),
      '--cache',
      path.join(directory, 'cache'),
      '--plain',
      ...extra,
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const done = new Promise<ChildRun>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Runs fcos-run on `directory` in a child process and waits for it. */
export function runChild(
  directory: string,
  env: Record<string, string>,
  ...extra: string[]
): Promise<ChildRun> {
  return startRun(directory, env, ...extra).done;
}

/** Every regular file under `directory`. */
async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

/** Whether `file` contains `needle` (streamed, so large blobs are fine). */
async function fileContains(file: string, needle: string): Promise<boolean> {
  const target = Buffer.from(needle);
  let tail = Buffer.alloc(0);
  for await (const chunk of createReadStream(file)) {
    const window = Buffer.concat([tail, chunk as Buffer]);
    if (window.includes(target)) return true;
    tail = window.subarray(Math.max(0, window.length - target.length));
  }
  return false;
}

/** The files of fcos.out/ and cache/ (and texts) that contain `secret`; expected to be none. */
export async function filesContaining(
  directory: string,
  secret: string,
  texts: readonly string[] = [],
): Promise<string[]> {
  const hits: string[] = [];
  for (const root of ['fcos.out', 'cache']) {
    for (const file of await filesUnder(path.join(directory, root))) {
      if ((await stat(file)).size > 0 && (await fileContains(file, secret)))
        hits.push(path.relative(directory, file));
    }
  }
  texts.forEach((text, index) => {
    if (text.includes(secret)) hits.push(`output text #${index}`);
  });
  return hits;
}

/** `stderr` without Node's process warnings (the AWS SDK warns that it will soon need Node 22). */
export function withoutWarnings(stderr: string): string {
  return stderr.replace(
    /\(node:\d+\) Warning:[\s\S]*?\(Use `node --trace-warnings \.\.\.` to show where the warning was created\)\n/g,
    '',
  );
}

/** The Upload's cloud image metadata in outputs.json. */
export async function cloudImageOf(directory: string): Promise<Record<string, unknown>> {
  const outputs = JSON.parse(await readFile(path.join(directory, 'fcos.out/outputs.json'), 'utf8'));
  return outputs.Upload.cloudImage.metadata;
}
