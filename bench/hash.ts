/**
 * Benchmark of the cache's hashing and storing: sha256File against coreutils sha256sum on a
 * 1 GiB file, the passes over an image that PlatformImage and the cache make between them (an
 * image's sha256 goes into its metadata, the cache stores it; target: one pass, none for the
 * uncompressed content of a compressed image), and the peak RSS of a process that puts a 4 GiB
 * file into a CasStore.
 * Run: `npx tsx bench/hash.ts`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, open, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { CasStore } from '../lib/cache/cas-store.ts';
import { bytesHashed, sha256File } from '../lib/cache/hash.ts';
import { runTool, type ToolExec } from '../lib/exec.ts';
import { compressFile } from '../lib/tools/compress.ts';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const HASH_FILE_BYTES = GIB;
const PUT_FILE_BYTES = 4 * GIB;
const TIMED_RUNS = 3;
const CHILD_FLAG = '--put-child';

/** Runs the benchmark, or the child role when invoked with `--put-child <file> <root>`. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  if (argv[0] === CHILD_FLAG) {
    await putChild(argv[1]!, argv[2]!);
    return;
  }
  const directory = await mkdtemp(path.join(tmpdir(), 'fcos-bench-hash-'));
  try {
    await benchmarkHashing(path.join(directory, 'random-1GiB'));
    await benchmarkImagePasses(directory);
    await benchmarkPutMemory(path.join(directory, 'mixed-4GiB'), path.join(directory, 'cache'));
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** Times sha256File and sha256sum on the same page-cached 1 GiB file; prints MiB/s and the ratio. */
async function benchmarkHashing(file: string): Promise<void> {
  await writeRandomishFile(file, HASH_FILE_BYTES);
  const coreutilsDigest = async () => (await execa('sha256sum', [file])).stdout.split(' ')[0];
  // Its mtime set to itself moves its ctime: sha256File reads it again instead of recalling it.
  const ours = async () => {
    const { atime, mtime } = await stat(file);
    await utimes(file, atime, mtime);
    return (await sha256File(file)).digest;
  };
  // Warm-up: both read the file once, so that every timed run reads from the page cache.
  const expected = await coreutilsDigest();
  if ((await ours()) !== expected) throw new Error('sha256File disagrees with sha256sum');
  const coreutilsSeconds = await bestOf(TIMED_RUNS, coreutilsDigest);
  const oursSeconds = await bestOf(TIMED_RUNS, ours);
  const coreutilsRate = HASH_FILE_BYTES / MIB / coreutilsSeconds;
  const oursRate = HASH_FILE_BYTES / MIB / oursSeconds;
  console.log(`hash of a 1 GiB file (page cache, best of ${TIMED_RUNS}):`);
  console.log(`  sha256sum   ${coreutilsRate.toFixed(0)} MiB/s (${coreutilsSeconds.toFixed(3)} s)`);
  console.log(`  sha256File  ${oursRate.toFixed(0)} MiB/s (${oursSeconds.toFixed(3)} s)`);
  console.log(`  ratio sha256File / sha256sum: ${(oursRate / coreutilsRate).toFixed(2)} (target >= 0.80)`);
}

/**
 * An image's way as PlatformImage and the executor take it, for an uncompressed image (hashed for
 * its metadata, then stored) and a compressed one (compressed, the result hashed, then stored):
 * the bytes sha256File read, in passes over the image.
 */
async function benchmarkImagePasses(directory: string): Promise<void> {
  const store = new CasStore(path.join(directory, 'passes-cache'));
  await store.init();
  const exec: ToolExec = (tool, args, options) => runTool(tool, args, options);

  const plainFile = path.join(directory, 'image.vhd');
  await writeMixedSparseFile(plainFile, GIB);
  let before = bytesHashed();
  let started = performance.now();
  await sha256File(plainFile);
  await store.putFile(plainFile, { move: true });
  const plainSeconds = (performance.now() - started) / 1000;
  const plainPasses = (bytesHashed() - before) / GIB;

  const compressedFile = path.join(directory, 'image.raw');
  await writeMixedSparseFile(compressedFile, GIB);
  before = bytesHashed();
  started = performance.now();
  const compressed = await compressFile(exec, compressedFile, 'zstd');
  const packed = await sha256File(compressed.path);
  await store.putFile(compressed.path, { move: true });
  const compressedSeconds = (performance.now() - started) / 1000;
  const rereadOfImage = (bytesHashed() - before - packed.size) / GIB;
  const passesOfArchive = (bytesHashed() - before) / packed.size;

  console.log(
    'passes of sha256File over a 1 GiB image (sparse, 64 MiB of random data), as PlatformImage and the cache make them:',
  );
  console.log(
    `  uncompressed image, hashed then stored   ${plainPasses.toFixed(2)} passes (${plainSeconds.toFixed(2)} s; target 1)`,
  );
  console.log(
    `  zstd image: over the uncompressed image   ${rereadOfImage.toFixed(2)} passes (hashed on its way to zstd; target 0)`,
  );
  console.log(
    `  zstd image: over the compressed file       ${passesOfArchive.toFixed(2)} passes (${compressedSeconds.toFixed(2)} s with zstd; target 1)`,
  );
}

/** Puts a 4 GiB file into a fresh CasStore in a child process and prints its peak RSS. */
async function benchmarkPutMemory(file: string, root: string): Promise<void> {
  await writeMixedSparseFile(file, PUT_FILE_BYTES);
  // Flush the files just written: on ext4 (data=ordered) the put's fsync would otherwise wait
  // for them too, and the time would measure the benchmark's own setup.
  await execa('sync');
  const script = fileURLToPath(import.meta.url);
  const nodeArguments = ['--import', 'tsx', script, CHILD_FLAG, file, root];
  const timeBinary = '/usr/bin/time';
  const useTime = existsSync(timeBinary);
  const started = performance.now();
  const result = useTime
    ? await execa(timeBinary, ['-v', process.execPath, ...nodeArguments])
    : await execa(process.execPath, nodeArguments);
  const seconds = (performance.now() - started) / 1000;
  const childReport = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as {
    digest: string;
    seconds: number;
    maxRssKiB: number;
  };
  console.log(
    'putFile of a 4 GiB file (sparse, 256 MiB of random data) into a CasStore, in a child process:',
  );
  const putRate = PUT_FILE_BYTES / MIB / childReport.seconds;
  console.log(`  putFile     ${childReport.seconds.toFixed(2)} s (${putRate.toFixed(0)} MiB/s, fsync on)`);
  console.log(`  child       ${seconds.toFixed(2)} s including process start`);
  if (useTime) {
    const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr);
    if (match)
      console.log(
        `  peak RSS    ${(Number(match[1]) / 1024).toFixed(0)} MB (/usr/bin/time -v; target < 200 MB)`,
      );
  }
  console.log(
    `  peak RSS    ${(childReport.maxRssKiB / 1024).toFixed(0)} MB (process.resourceUsage in the child)`,
  );
}

/** The child role: puts `file` into a CasStore at `root`, then prints its digest and peak RSS as JSON. */
async function putChild(file: string, root: string): Promise<void> {
  const store = new CasStore(root);
  await store.init();
  const started = performance.now();
  const { digest } = await store.putFile(file);
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ digest, seconds, maxRssKiB: process.resourceUsage().maxRSS }));
}

/** Writes `size` bytes of random-looking data: one random 4 MiB block, varied per chunk. */
async function writeRandomishFile(file: string, size: number): Promise<void> {
  const block = randomBytes(4 * MIB);
  const handle = await open(file, 'w');
  try {
    for (let offset = 0, index = 0; offset < size; offset += block.length, index += 1) {
      block.writeUInt32LE(index, 0);
      await handle.write(block, 0, Math.min(block.length, size - offset), offset);
    }
  } finally {
    await handle.close();
  }
}

/** Writes a sparse file of `size` bytes with a random 4 MiB block every 64 MiB. */
async function writeMixedSparseFile(file: string, size: number): Promise<void> {
  const block = randomBytes(4 * MIB);
  const handle = await open(file, 'w');
  try {
    await handle.truncate(size);
    for (let offset = 0; offset < size; offset += 64 * MIB)
      await handle.write(block, 0, block.length, offset);
  } finally {
    await handle.close();
  }
}

/** The shortest wall-clock time of `runs` runs of `task`, in seconds. */
async function bestOf(runs: number, task: () => Promise<unknown>): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < runs; run += 1) {
    const started = performance.now();
    await task();
    best = Math.min(best, (performance.now() - started) / 1000);
  }
  return best;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await main();
}
