/**
 * The shell commands every emitted job runs on its clean checkout, whatever the engine:
 * install the host tools, synthesize with the same context the export was made with, run the
 * job's nodes (what they need comes from the remote cache, configured by the `FCOS_REMOTE_CACHE*`
 * environment), and print the nodes' output digests for the engine to publish. Files travel only
 * through the remote cache; a job passes on nothing but digests.
 */
import type { Assembly } from '../assembly.ts';
import { EmitError, type PlannedJob } from './job-plan.ts';

/** What the export was made with, beyond the assembly. */
export interface EmitOptions {
  /** The `-c KEY=VALUE` values given to fcos-synth (not the program's defaults), so jobs synthesize the same DAG. */
  readonly context: Readonly<Record<string, string>>;
}

/** Major version of Node.js the jobs install (the version the project is tested with; engines: >=20.5). */
export const NODE_MAJOR = '20';

/** Longest digests text published as is; a longer one is published as its sha256 (Tekton results: 4 KiB in all). */
export const DIGESTS_MAX_LENGTH = 3000;

/** The remote-cache environment contract of fcos-run (the values come from the engine). */
export const REMOTE_CACHE_VARIABLES = [
  'FCOS_REMOTE_CACHE',
  'FCOS_REMOTE_CACHE_MODE',
  'FCOS_REMOTE_CACHE_TOKEN',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_REGION',
  'AWS_ENDPOINT_URL_S3',
] as const;

/** The commands of one job, one shell command line each. */
export interface JobCommands {
  /** Installs the host tools and npm packages, builds dist/. */
  readonly setup: string;
  /** Synthesizes fcos.out/ with the export's context. */
  readonly synth: string;
  /** Runs the job's nodes. */
  readonly run: string;
  /** Prints the job's digests (compact JSON, or `sha256:` of it when long) on stdout, without a newline. */
  readonly digests: string;
}

/** The commands `job` runs. */
export function jobCommands(assembly: Assembly, job: PlannedJob, options: EmitOptions): JobCommands {
  const synth = ['npx', 'fcos-synth', '-q'];
  if (assembly.pipeline.app !== 'pipeline.ts') synth.push('--app', assembly.pipeline.app);
  for (const key of Object.keys(options.context).sort()) synth.push('-c', `${key}=${options.context[key]}`);
  // --no-artifacts: a job only makes sure its nodes' outputs are in the remote cache, so a hit
  // downloads nothing and a build downloads only the inputs it consumes.
  const run = ['npx', 'fcos-run', '-q', '--no-artifacts', ...job.nodes.flatMap((node) => ['--only', node])];
  for (const argument of [...synth, ...run]) refuseExpressions(argument);
  return {
    setup: './scripts/setup.sh',
    synth: synth.map(shellQuote).join(' '),
    run: run
      .map((argument, index) => (run[index - 1] === '--only' ? singleQuote(argument) : shellQuote(argument)))
      .join(' '),
    digests: ['node', '-e', singleQuote(DIGESTS_SCRIPT), ...job.nodes.map(singleQuote)].join(' '),
  };
}

/**
 * Reads fcos.out/outputs.json and prints `{"<node>":{"<output>":"<digest>"}}` for the nodes named
 * in its arguments; a node missing from it fails the job. No single quote inside: it is passed in one.
 */
const DIGESTS_SCRIPT = [
  'const fs=require("fs"),crypto=require("crypto");',
  'const outputs=JSON.parse(fs.readFileSync("fcos.out/outputs.json","utf8"));',
  'const digests={};',
  'for(const node of process.argv.slice(1)){',
  'if(!outputs[node])throw new Error("fcos.out/outputs.json has no outputs of "+node);',
  'digests[node]=Object.fromEntries(Object.entries(outputs[node]).map(([name,output])=>[name,output.digest]));',
  '}',
  'const text=JSON.stringify(digests);',
  `process.stdout.write(text.length<=${DIGESTS_MAX_LENGTH}?text:"sha256:"+crypto.createHash("sha256").update(text).digest("hex"));`,
].join('');

/** `text` as one shell word, quoted only when it needs to be. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./=:,+@%-]+$/.test(text) ? text : singleQuote(text);
}

/** `text` in single quotes, each single quote inside written as `'\''`. */
function singleQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Refuses a value GitHub would evaluate as an expression (`${{`) inside a `run:` step. */
function refuseExpressions(argument: string): void {
  if (argument.includes('${{')) {
    throw new EmitError(
      `'${argument}' contains '\${{', which GitHub Actions would evaluate inside a run step`,
      {
        field: 'context',
      },
    );
  }
}
