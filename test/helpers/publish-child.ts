/**
 * Runs the Publish runner (or its fingerprint) in a child process, for the S3 tests: the AWS SDK
 * does not load under vitest's module conditions, so `node --import tsx` runs it with Node's own.
 * Reads the context (JSON) from the file named by argv[3]; argv[2] is `run` or `fingerprint`.
 * Prints one JSON line: the publication and the output's metadata, the fingerprint, or the error.
 */
import { readFile } from 'node:fs/promises';
import { FcosError } from '../../lib/errors.ts';
import { runTool } from '../../lib/exec.ts';
import type { RunnerContext } from '../../lib/runner.ts';
import publishRunner, { runPublish } from '../../stages/publish/runner.ts';

/** The serializable part of a runner context. */
type ContextSpec = Omit<RunnerContext, 'signal' | 'log' | 'exec'>;

const [mode, specFile] = process.argv.slice(2);
const spec = JSON.parse(await readFile(specFile!, 'utf8')) as ContextSpec;
const log: string[] = [];
const context: RunnerContext = {
  ...spec,
  signal: new AbortController().signal,
  log: (line) => log.push(line),
  exec: (file, args, options) => runTool(file, args, { ...options, log: (line) => log.push(line) }),
};
try {
  if (mode === 'fingerprint') {
    process.stdout.write(
      `${JSON.stringify({ fingerprint: await publishRunner.fingerprint!(context as never) })}\n`,
    );
  } else {
    const { publication } = await runPublish(context as never);
    if (publication.storage !== 'file') throw new Error('the publication is not a file');
    process.stdout.write(
      `${JSON.stringify({
        publication: JSON.parse(await readFile(publication.path, 'utf8')),
        metadata: publication.metadata,
        log,
      })}\n`,
    );
  }
} catch (error) {
  const fields = error instanceof FcosError ? { constructPath: error.constructPath, field: error.field } : {};
  process.stdout.write(
    `${JSON.stringify({ error: { name: (error as Error).name, message: (error as Error).message, ...fields }, log })}\n`,
  );
  process.exitCode = 1;
}
