/**
 * Benchmark of the cloud uploads: an image of 256 MiB and one of 2 GiB streamed by each cloud's
 * uploader to real local servers or test doubles — AWS to s3rver (S3 multipart) and the EC2 test
 * double, Azure to azurite (page blob) and the ARM test double, GCE to the Cloud Storage and
 * Compute test double — each upload in a child process. Prints each child's peak RSS (which should
 * not grow with the image) and the throughput. Needs about 8 GiB free in the temporary directory.
 * Run: `npx tsx bench/upload.ts [aws|azure|gce ...]`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execa } from 'execa';
import S3rver from 's3rver';
import { DUMMY_ACCOUNT } from 's3rver/lib/models/account.js';
import type { Arch } from '../lib/artifacts.ts';
import { loadUploader } from '../lib/cloud/uploader-module.ts';
import { runTool } from '../lib/exec.ts';
import { portableModuleSpec } from '../lib/util/package-root.ts';
import { findPlatform } from '../targets/index.ts';
import { ArmTestDouble } from '../test/doubles/arm-test-double.ts';
import { Ec2TestDouble } from '../test/doubles/ec2-test-double.ts';
import { GcpTestDouble } from '../test/doubles/gcp-test-double.ts';
import { makeTestCertificate } from '../test/doubles/http-double.ts';

const MIB = 1024 * 1024;
const SIZES_MIB = [256, 2048];
const CHILD_FLAG = '--upload-child';
/** The clouds benchmarked. */
type CloudName = 'aws' | 'azure' | 'gce';
const CLOUDS: readonly CloudName[] = ['aws', 'azure', 'gce'];
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Azurite's well-known development account (public, documented). */
const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** What the child reports. */
interface ChildReport {
  readonly seconds: number;
  readonly maxRssKiB: number;
  readonly rssBeforeUploadKiB: number;
}

/** What the child is told to do. */
interface ChildTask {
  readonly cloud: CloudName;
  readonly file: string;
  readonly workDir: string;
  readonly options: Record<string, unknown>;
}

/** Runs the benchmark, or the child role when invoked with `--upload-child <task JSON>`. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  if (argv[0] === CHILD_FLAG) {
    await uploadChild(JSON.parse(argv[1]!) as ChildTask);
    return;
  }
  const clouds = argv.length > 0 ? CLOUDS.filter((cloud) => argv.includes(cloud)) : CLOUDS;
  const directory = await mkdtemp(path.join(tmpdir(), 'fcos-bench-upload-'));
  try {
    console.log(
      `cloud uploads (${SIZES_MIB.map((size) => `${size} MiB`).join(', ')}), one child process each:`,
    );
    for (const cloud of clouds) {
      const servers = await startServers(cloud, path.join(directory, `${cloud}-servers`));
      try {
        for (const sizeMiB of SIZES_MIB) {
          const file = path.join(directory, `image-${sizeMiB}`);
          await writeImage(cloud, file, sizeMiB * MIB);
          await execa('sync');
          const report = await runChild(
            { cloud, file, workDir: path.join(directory, 'work'), options: servers.options(sizeMiB) },
            servers.env,
          );
          const rate = sizeMiB / report.seconds;
          console.log(
            `  ${cloud.padEnd(5)} ${String(sizeMiB).padStart(5)} MiB: ${report.seconds.toFixed(1)} s (${rate.toFixed(0)} MiB/s), ` +
              `peak RSS ${(report.maxRssKiB / 1024).toFixed(0)} MB (${(report.rssBeforeUploadKiB / 1024).toFixed(0)} MB with the SDK loaded, before the upload)`,
          );
          await rm(file, { force: true });
        }
      } finally {
        await servers.stop();
      }
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** Local servers for one cloud, the options pointing at them and the child's environment. */
interface Servers {
  readonly options: (sizeMiB: number) => Record<string, unknown>;
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts the servers `cloud` uploads to. */
async function startServers(cloud: CloudName, directory: string): Promise<Servers> {
  await mkdir(directory, { recursive: true });
  const base = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: directory,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  if (cloud === 'aws') {
    const secret = randomBytes(16).toString('hex');
    DUMMY_ACCOUNT.createKeyPair('AKIDFCOSBENCH', secret);
    const s3 = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory,
      configureBuckets: [{ name: 'bench' }],
    });
    const { port } = await s3.run();
    const ec2 = new Ec2TestDouble({
      readObject: async (bucket, key) => readHead(path.join(directory, bucket, `${key}._S3rver_object`)),
    });
    const ec2Url = await ec2.start();
    return {
      options: () => ({
        region: 'us-east-1',
        bucket: 'bench',
        endpoint: ec2Url,
        s3Endpoint: `http://127.0.0.1:${port}`,
        pollIntervalSeconds: 0.1,
      }),
      env: { ...base, AWS_ACCESS_KEY_ID: 'AKIDFCOSBENCH', AWS_SECRET_ACCESS_KEY: secret },
      stop: async () => {
        await ec2.stop();
        s3.httpServer.closeAllConnections();
        await s3.close();
      },
    };
  }
  if (cloud === 'azure') {
    const azurite = await startAzurite(path.join(directory, 'azurite'));
    const certificate = makeTestCertificate();
    const caFile = path.join(directory, 'ca.pem');
    await writeFile(caFile, certificate.caPem);
    const identityHeader = randomBytes(16).toString('hex');
    const arm = new ArmTestDouble({
      certificate,
      identityHeader,
      // The footer is checked by the tests; here the image only has to be accepted.
      readBlobFooter: async () => Buffer.from('conectix'.padEnd(512, '\0')),
    });
    const { managementEndpoint, identityEndpoint } = await arm.start();
    return {
      options: () => ({
        subscriptionId: '00000000-0000-0000-0000-0000000000aa',
        resourceGroup: 'bench',
        location: 'eastus',
        storageAccount: AZURITE_ACCOUNT,
        container: 'vhds',
        blobEndpoint: `${azurite.url}/${AZURITE_ACCOUNT}`,
        managementEndpoint,
        pollIntervalSeconds: 0.1,
      }),
      env: {
        ...base,
        NODE_EXTRA_CA_CERTS: caFile,
        IDENTITY_ENDPOINT: identityEndpoint,
        IDENTITY_HEADER: identityHeader,
        AZURE_STORAGE_KEY: AZURITE_KEY,
      },
      stop: async () => {
        await arm.stop();
        await stopChild(azurite.process);
      },
    };
  }
  const gcp = new GcpTestDouble({ project: 'fcos-bench', buckets: ['bench'], keepContent: false });
  const endpoint = await gcp.start();
  return {
    options: () => ({ project: 'fcos-bench', bucket: 'bench', endpoint, pollIntervalSeconds: 0.1 }),
    env: {
      ...base,
      METADATA_SERVER_DETECTION: 'ping-only',
      GCE_METADATA_HOST: endpoint.replace('http://', ''),
    },
    stop: () => gcp.stop(),
  };
}

/** The first 4 KiB of a file, or undefined if it does not exist. */
async function readHead(file: string): Promise<Buffer | undefined> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Starts azurite's blob service on a free loopback port, persisting to `location`. */
async function startAzurite(location: string): Promise<{ url: string; process: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      path.join(REPO_ROOT, 'node_modules/azurite/dist/src/blob/main.js'),
      ...['--blobHost', '127.0.0.1', '--blobPort', '0', '--location', location],
      ...['--disableTelemetry', '--skipApiVersionCheck', '--loose'],
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      output += text;
      const match = /listens on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`azurite exited with ${code}: ${output}`)));
  });
  return { url, process: child };
}

/** Stops a child process and waits for it. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Writes an image the cloud accepts: random-looking data (no zero page) with the right magic. */
async function writeImage(cloud: CloudName, file: string, size: number): Promise<void> {
  const block = randomBytes(4 * MIB);
  const handle = await open(file, 'w');
  try {
    for (let offset = 0, index = 0; offset < size; offset += block.length, index += 1) {
      block.writeUInt32LE(index, 8);
      await handle.write(block, 0, Math.min(block.length, size - offset), offset);
    }
    if (cloud === 'aws') await handle.write(Buffer.from('KDMV'), 0, 4, 0);
    if (cloud === 'gce') await handle.write(Buffer.from([0x1f, 0x8b]), 0, 2, 0);
    if (cloud === 'azure') await handle.write(Buffer.from('conectix'.padEnd(512, '\0')), 0, 512, size);
  } finally {
    await handle.close();
  }
}

/** Runs one upload in a child process with `env`; its report. */
async function runChild(task: ChildTask, env: Record<string, string>): Promise<ChildReport> {
  const script = fileURLToPath(import.meta.url);
  const result = await execa(
    process.execPath,
    ['--import', 'tsx', script, CHILD_FLAG, JSON.stringify(task)],
    {
      env,
      extendEnv: false,
      cwd: REPO_ROOT,
    },
  );
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as ChildReport;
}

/** The child role: uploads `task.file` with the cloud's uploader, then prints its timing and peak RSS. */
async function uploadChild(task: ChildTask): Promise<void> {
  // Loaded the way the Upload runner loads it: by the module spec synthesis would record.
  const spec = portableModuleSpec(findPlatform(task.cloud)!.upload!.uploaderFile, REPO_ROOT);
  const uploader = await loadUploader(spec, task.cloud, { projectDir: REPO_ROOT, nodePath: 'bench' });
  const options = uploader.parseOptions(task.options);
  const digest = randomBytes(32).toString('hex');
  const arch: Arch = 'x86_64';
  const signal = new AbortController().signal;
  await mkdir(task.workDir, { recursive: true });
  // Load the SDK first (a lookup does), so that the RSS before the upload includes it.
  await uploader.lookup({ nodePath: 'bench', options, digest, arch, signal });
  const rssBeforeUploadKiB = Math.round(process.memoryUsage.rss() / 1024);
  const started = performance.now();
  await uploader.upload({
    nodePath: 'bench',
    options,
    digest,
    arch,
    signal,
    imagePath: task.file,
    workDir: task.workDir,
    log: () => {},
    exec: (file, args, execOptions) => runTool(file, args, { ...execOptions, signal }),
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ seconds, maxRssKiB: process.resourceUsage().maxRSS, rssBeforeUploadKiB }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await main();
}
