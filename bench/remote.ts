/**
 * The remote cache (issue #15), on a real nginx (WebDAV, Bazel's HTTP cache protocol) on
 * loopback: (1) a cold local run that fills the remote, (2) a run on a machine with an empty
 * local cache and that warm remote — download-bound — against a raw transfer of the same blobs
 * with curl from the same server, (3) the cost of a fully cached distributed job: every job of
 * the workflow `fcos-synth --emit github-actions` writes, each in a fresh copy of the project with
 * an empty cache, its `npx fcos-synth && npx fcos-run --only ...` timed as whole processes.
 *
 * `npx tsx --conditions=fcos-cdk-source bench/remote.ts` (about 6 min on 2 cores: the cold run).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { workflowJobsInOrder } from '../lib/synth/emit/workflow-jobs.ts';
import { startNginxWebdav } from '../test/helpers/nginx-webdav.ts';
import { copyProject } from './project-copy.ts';

/** One event of events.jsonl, as far as read here. */
interface RemoteEvent {
  readonly event: string;
  readonly direction?: string;
  readonly bytes?: number;
  readonly blobs?: number;
}

/** Runs `command` through bash in `directory` with `environment`; wall milliseconds. */
async function timed(
  directory: string,
  command: string,
  environment: Record<string, string>,
): Promise<number> {
  const start = performance.now();
  await execa('bash', ['-e', '-c', command], { cwd: directory, env: environment });
  return performance.now() - start;
}

/** Bytes and blobs of the last run's `remote` events of `direction`. */
async function transferred(
  directory: string,
  direction: 'download' | 'upload',
): Promise<{ bytes: number; blobs: number }> {
  const events = (await readFile(path.join(directory, 'fcos.out/events.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as RemoteEvent)
    .filter((event) => event.event === 'remote' && event.direction === direction);
  return {
    bytes: events.reduce((sum, event) => sum + (event.bytes ?? 0), 0),
    blobs: events.reduce((sum, event) => sum + (event.blobs ?? 0), 0),
  };
}

/** MiB per second. */
function mibPerSecond(bytes: number, ms: number): string {
  return (bytes / 1024 ** 2 / (ms / 1000)).toFixed(0);
}

/** The benchmark. */
export async function main(): Promise<void> {
  const nginx = await startNginxWebdav();
  const environment = { FCOS_REMOTE_CACHE: `${nginx.url}/bench` };
  try {
    console.log('remote cache (nginx WebDAV on 127.0.0.1, Bazel HTTP protocol), local profile');
    const first = await copyProject('fcos-bench-remote-a-');
    const coldMs = await timed(first, 'npx fcos-synth -q && npx fcos-run -q', environment);
    const uploaded = await transferred(first, 'upload');
    console.log(
      `  cold run filling the remote        ${(coldMs / 1000).toFixed(1)} s in ${first} (uploaded ${uploaded.blobs} blobs, ${(uploaded.bytes / 1024 ** 2).toFixed(0)} MiB, in the background of the build)`,
    );

    const second = await copyProject('fcos-bench-remote-b-');
    const warmMs = await timed(second, 'npx fcos-synth -q && npx fcos-run -q', environment);
    const downloaded = await transferred(second, 'download');
    const started = (await readFile(path.join(second, 'fcos.out/events.jsonl'), 'utf8'))
      .split('\n')
      .filter((line) => line.includes('"event":"start"'))
      .map((line) => (JSON.parse(line) as { node: string }).node);
    console.log(
      `  empty local cache, warm remote     ${(warmMs / 1000).toFixed(1)} s: ${downloaded.blobs} blobs, ${(downloaded.bytes / 1024 ** 2).toFixed(0)} MiB, ${mibPerSecond(downloaded.bytes, warmMs)} MiB/s over the whole run; nodes run: ${started.length === 0 ? 'none' : started.join(', ')}`,
    );

    // The same bytes as a raw transfer: curl GETs of every blob, one after another, into files.
    const blobs = (await execa('find', [path.join(nginx.root, 'bench/cas'), '-type', 'f'])).stdout.split(
      '\n',
    );
    const scratch = path.join(second, 'raw');
    await execa('mkdir', ['-p', scratch]);
    const rawStart = performance.now();
    let rawBytes = 0;
    for (const blob of blobs) {
      const name = path.basename(blob);
      const { stdout } = await execa('curl', [
        '-sf',
        '-o',
        path.join(scratch, name),
        '-w',
        '%{size_download}',
        `${nginx.url}/bench/cas/${name}`,
      ]);
      rawBytes += Number(stdout);
    }
    const rawMs = performance.now() - rawStart;
    console.log(
      `  raw transfer (curl, every blob)    ${(rawMs / 1000).toFixed(1)} s: ${(rawBytes / 1024 ** 2).toFixed(0)} MiB, ${mibPerSecond(rawBytes, rawMs)} MiB/s`,
    );
    await execa('rm', ['-rf', scratch]);

    await execa('npx', ['fcos-synth', '-q', '--emit', 'github-actions'], { cwd: first });
    const workflowDirectory = path.join(first, '.github/workflows');
    const [workflowFile] = (await execa('ls', [workflowDirectory])).stdout.split('\n');
    const jobs = workflowJobsInOrder(await readFile(path.join(workflowDirectory, workflowFile!), 'utf8'));
    const times: Array<{ job: string; ms: number }> = [];
    for (const job of jobs) {
      const run = job.steps.find((step) => step.run.startsWith('npx fcos-run'))!.run;
      const directory = await copyProject('fcos-bench-remote-job-');
      times.push({ job: job.name, ms: await timed(directory, `npx fcos-synth -q && ${run}`, environment) });
      await execa('rm', ['-rf', directory]);
    }
    times.sort((a, b) => a.ms - b.ms);
    const median = times[Math.floor(times.length / 2)]!;
    const slowest = times[times.length - 1]!;
    console.log(
      `  fully cached distributed job       median ${(median.ms / 1000).toFixed(2)} s, slowest ${(slowest.ms / 1000).toFixed(2)} s (${slowest.job}) over ${times.length} jobs: npx fcos-synth && npx fcos-run --only, fresh copy, empty cache (setup.sh not included)`,
    );
  } finally {
    await nginx.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
