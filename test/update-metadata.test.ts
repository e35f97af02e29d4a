/**
 * UpdateMetadata: the pure rules of updates/<stream>.json (snake_case, merge with an existing
 * document, release order, clean-up of finished rollouts without the wall clock, deterministic
 * last-modified, the real file's bytes), the construct's synthesis errors, and a real run of a
 * pipeline where the entry of the release being built gets its version from the Release's output.
 */
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Artifact } from '../lib/artifacts.ts';
import { ValidationError } from '../lib/errors.ts';
import { defineKind } from '../lib/kind.ts';
import { Pipeline } from '../lib/pipeline.ts';
import { type UpdateMetadataDocument, updateMetadataSchema } from '../lib/release/formats.ts';
import {
  buildUpdateMetadata,
  compareReleaseVersions,
  renderUpdateMetadata,
  type UpdateEntryInput,
  UpdateMetadataError,
} from '../lib/release/update-metadata.ts';
import { Step } from '../lib/step.ts';
import { closeSession, openSession } from '../lib/synth/session.ts';
import { synthesize } from '../lib/synth/synthesize.ts';
import { UpdateMetadata } from '../stages/update-metadata/index.ts';
import updateMetadataRunner, {
  UpdateMetadataInputError,
  type UpdateMetadataNodeProps,
} from '../stages/update-metadata/runner.ts';
import { makeTempDir, runIn, synthIn, writeProgram } from './helpers/temp-project.ts';

const REFERENCE_FILE = path.resolve(import.meta.dirname, 'fixtures/reference/fcos-updates-stable.json');
const reference = (): UpdateMetadataDocument =>
  updateMetadataSchema.parse(JSON.parse(readFileSync(REFERENCE_FILE, 'utf8')));

const S = 1_700_000_000;
const HOUR = 3600;

/** The error `build` throws, or a failure when it throws none. */
function thrown(build: () => unknown): UpdateMetadataError {
  try {
    build();
  } catch (error) {
    if (error instanceof UpdateMetadataError) return error;
    throw error;
  }
  throw new Error('expected an UpdateMetadataError');
}

describe('buildUpdateMetadata', () => {
  it('writes typed entries in the real snake_case format, start_percentage as a float', () => {
    const document = buildUpdateMetadata({
      stream: 'testing',
      entries: [
        { version: '40.20240101.2.0', barrier: { reason: 'https://example.com/1' } },
        { version: '40.20240201.2.0', deadend: { reason: 'https://example.com/2' } },
        { version: '40.20240301.2.0', rollout: { startEpoch: S, startPercentage: 0, durationMinutes: 2880 } },
      ],
    });
    expect(document).toEqual({
      stream: 'testing',
      metadata: { 'last-modified': '2023-11-14T22:13:20Z' },
      releases: [
        { version: '40.20240101.2.0', metadata: { barrier: { reason: 'https://example.com/1' } } },
        { version: '40.20240201.2.0', metadata: { deadend: { reason: 'https://example.com/2' } } },
        {
          version: '40.20240301.2.0',
          metadata: { rollout: { duration_minutes: 2880, start_epoch: S, start_percentage: 0 } },
        },
      ],
    });
    expect(renderUpdateMetadata(document)).toContain(
      '"rollout": {\n          "duration_minutes": 2880,\n          "start_epoch": 1700000000,\n          "start_percentage": 0.0\n        }',
    );
  });

  it('reproduces the real stable document byte for byte when nothing changes', () => {
    const original = readFileSync(REFERENCE_FILE, 'utf8');
    const existing = reference();
    const asOf = Date.parse(existing.metadata['last-modified']) / 1000;
    expect(renderUpdateMetadata(buildUpdateMetadata({ stream: 'stable', entries: [], existing, asOf }))).toBe(
      original,
    );
  });

  const rollout = (startEpoch: number, durationMinutes?: number): UpdateEntryInput['rollout'] => ({
    startEpoch,
    startPercentage: 0.1,
    ...(durationMinutes === undefined ? {} : { durationMinutes }),
  });
  const cleanUpCases: {
    name: string;
    entries: UpdateEntryInput[];
    asOf?: number;
    collapsed: string[];
    lastModified: string;
  }[] = [
    {
      name: 'a rollout that ended when a later one started is finished; the newest is not',
      entries: [
        { version: '40.1.2.0', rollout: rollout(S, 60) },
        { version: '40.2.2.0', rollout: rollout(S + HOUR, 60) },
      ],
      collapsed: ['40.1.2.0'],
      lastModified: '2023-11-14T23:13:20Z',
    },
    {
      name: 'a rollout still running when the later one started is kept',
      entries: [
        { version: '40.1.2.0', rollout: rollout(S, 61) },
        { version: '40.2.2.0', rollout: rollout(S + HOUR, 60) },
      ],
      collapsed: [],
      lastModified: '2023-11-14T23:13:20Z',
    },
    {
      name: 'asOf decides instead, and is the last-modified',
      entries: [
        { version: '40.1.2.0', rollout: rollout(S, 60) },
        { version: '40.2.2.0', rollout: rollout(S + HOUR, 60) },
      ],
      asOf: S + 2 * HOUR,
      collapsed: ['40.1.2.0', '40.2.2.0'],
      lastModified: '2023-11-15T00:13:20Z',
    },
    {
      name: 'an asOf before any end collapses nothing',
      entries: [{ version: '40.1.2.0', rollout: rollout(S, 60) }],
      asOf: S + HOUR - 1,
      collapsed: [],
      lastModified: '2023-11-14T23:13:19Z',
    },
    {
      name: 'a rollout without a duration never finishes',
      entries: [{ version: '40.1.2.0', rollout: rollout(S) }],
      asOf: S + 1000 * HOUR,
      collapsed: [],
      lastModified: '2023-12-26T14:13:20Z',
    },
    {
      name: 'without rollouts nor asOf, last-modified is the epoch',
      entries: [{ version: '40.1.2.0', barrier: { reason: 'r' } }],
      collapsed: [],
      lastModified: '1970-01-01T00:00:00Z',
    },
  ];
  for (const testCase of cleanUpCases) {
    it(`clean-up: ${testCase.name}`, () => {
      const document = buildUpdateMetadata({
        stream: 'testing',
        entries: testCase.entries,
        ...(testCase.asOf === undefined ? {} : { asOf: testCase.asOf }),
      });
      const collapsed = document.releases
        .filter((entry) => JSON.stringify(entry.metadata.rollout) === '{"start_percentage":1}')
        .map((entry) => entry.version);
      expect(collapsed).toEqual(testCase.collapsed);
      expect(document.metadata['last-modified']).toBe(testCase.lastModified);
      // The same inputs give the same bytes, whenever they are built.
      expect(renderUpdateMetadata(document)).toBe(
        renderUpdateMetadata(
          buildUpdateMetadata({ stream: 'testing', entries: testCase.entries, asOf: testCase.asOf }),
        ),
      );
    });
  }

  it('starts from an existing document: replaces an entry in place, appends the others, keeps unknown keys', () => {
    const existing: UpdateMetadataDocument = {
      stream: 'testing',
      metadata: { 'last-modified': '2030-01-01T00:00:00Z', generator: 'hand' },
      releases: [
        { version: '40.1.2.0', metadata: { barrier: { reason: 'keys' } } },
        {
          version: '40.2.2.0',
          metadata: { rollout: { start_epoch: S, start_percentage: 0, duration_minutes: 60 } },
        },
        { version: '40.3.2.0', metadata: { deadend: { reason: 'broken' } }, note: 'kept' },
      ],
      extra: true,
    };
    const document = buildUpdateMetadata({
      stream: 'testing',
      existing,
      entries: [
        { version: '40.3.2.0', deadend: { reason: 'still broken' } },
        { version: '40.4.2.0', rollout: { startEpoch: S + HOUR, startPercentage: 0 } },
      ],
    });
    expect(document.releases.map((entry) => [entry.version, entry.metadata])).toEqual([
      ['40.1.2.0', { barrier: { reason: 'keys' } }],
      ['40.2.2.0', { rollout: { start_percentage: 1 } }],
      ['40.3.2.0', { deadend: { reason: 'still broken' } }],
      ['40.4.2.0', { rollout: { start_epoch: S + HOUR, start_percentage: 0 } }],
    ]);
    expect(document.releases[2]).toMatchObject({ note: 'kept' });
    expect(document).toMatchObject({ extra: true, metadata: { generator: 'hand' } });
    // The existing document's last-modified is later than every rollout start: it stays.
    expect(document.metadata['last-modified']).toBe('2030-01-01T00:00:00Z');
    expect(updateMetadataSchema.parse(document)).toEqual(document);
  });

  const errorCases: {
    name: string;
    input: Parameters<typeof buildUpdateMetadata>[0];
    field: string;
    message: RegExp;
  }[] = [
    {
      name: 'a version listed twice',
      input: {
        stream: 'testing',
        entries: [{ version: '40.1.2.0' }, { version: '40.2.2.0' }, { version: '40.1.2.0' }],
      },
      field: 'releases.2.version',
      message: /40\.1\.2\.0 is listed twice \(also releases\.0\)/,
    },
    {
      name: 'entries out of release order',
      input: { stream: 'testing', entries: [{ version: '40.10.2.0' }, { version: '40.9.2.0' }] },
      field: 'releases.1.version',
      message: /older than 40\.10\.2\.0/,
    },
    {
      name: 'an appended entry older than the existing document',
      input: {
        stream: 'testing',
        existing: {
          stream: 'testing',
          metadata: { 'last-modified': '2024-01-01T00:00:00Z' },
          releases: [{ version: '40.5.2.0', metadata: {} }],
        },
        entries: [{ version: '40.4.2.0' }],
      },
      field: 'releases.0.version',
      message: /40\.4\.2\.0 comes after 40\.5\.2\.0 but is older/,
    },
    {
      name: 'an existing document of another stream',
      input: {
        stream: 'testing',
        existing: { stream: 'stable', metadata: { 'last-modified': '2024-01-01T00:00:00Z' }, releases: [] },
        entries: [],
      },
      field: 'from',
      message: /stream 'stable', not 'testing'/,
    },
  ];
  for (const testCase of errorCases) {
    it(`refuses ${testCase.name}, naming the field`, () => {
      const error = thrown(() => buildUpdateMetadata({ ...testCase.input, constructPath: 'p/Updates' }));
      expect(error.field).toBe(testCase.field);
      expect(error.constructPath).toBe('p/Updates');
      expect(error.message).toMatch(testCase.message);
    });
  }

  it('orders versions part by part, numerically where both are numbers', () => {
    const sorted = [
      '40.20240110.2.10',
      '39.20231201.2.0',
      '40.20240110.2.2',
      '40.20240110.2',
      'a.1',
      '40.20240109.2.0',
    ];
    expect(sorted.sort(compareReleaseVersions)).toEqual([
      '39.20231201.2.0',
      '40.20240109.2.0',
      '40.20240110.2',
      '40.20240110.2.2',
      '40.20240110.2.10',
      'a.1',
    ]);
  });
});

/** A stand-in for the Release kind: an output of type `release` of a stream. */
const fakeReleaseKind = defineKind({
  kind: 'FakeRelease',
  version: 1,
  schema: z.object({ stream: z.string() }),
  runner: new URL('./kinds/not-a-runner.ts', import.meta.url),
});
/** A construct with a `release` output. */
class FakeRelease extends Step<{ stream: string }> {
  readonly release: Artifact<'release'>;
  constructor(scope: Construct, id: string, stream: string) {
    super(scope, id, fakeReleaseKind, { stream });
    this.release = this.addOutput('release', 'release', { stream });
  }
}

/** The issues `build` fails with, as `field: message`. */
function validationIssues(build: () => unknown): string[] {
  try {
    build();
  } catch (error) {
    if (error instanceof ValidationError)
      return error.issues.map((issue) => `${issue.field}: ${issue.message}`);
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('the UpdateMetadata construct', () => {
  it('names the construct path and field of a bad prop', () => {
    const pipeline = new Pipeline({ name: 'p' });
    let error: unknown;
    try {
      new UpdateMetadata(pipeline, 'Updates', {
        stream: 'testing',
        releases: [
          { version: '40.1.2.0' },
          { version: '40.2.2.0', rollout: { startEpoch: S, startPercentage: 1.5 } },
        ],
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).constructPath).toBe('Updates');
    expect((error as ValidationError).field).toBe('releases.1.rollout.startPercentage');
  });

  const synthesisCases: {
    name: string;
    releases: (release: Artifact<'release'>, other: Artifact<'release'>) => unknown;
    issues: RegExp[];
  }[] = [
    {
      name: 'a version that is neither a string nor a release',
      releases: () => [{ version: 40 }],
      issues: [/^releases\.0\.version: expected a version \(a string\) or a release artifact/],
    },
    {
      name: 'the same version twice, and versions out of order',
      releases: () => [{ version: '40.2.2.0' }, { version: '40.1.2.0' }, { version: '40.2.2.0' }],
      issues: [
        /^releases\.1\.version: version 40\.1\.2\.0 is older than 40\.2\.2\.0/,
        /^releases\.2\.version: the same release is listed twice \(also releases\.0\)/,
      ],
    },
    {
      name: 'the same Release twice',
      releases: (release) => [{ version: release }, { version: release, barrier: { reason: 'r' } }],
      issues: [/^releases\.1\.version: the same release is listed twice/],
    },
    {
      name: 'a Release of another stream',
      releases: (_release, other) => [{ version: other }],
      issues: [
        /^releases\.0\.version: the release 'release' of 'Stable' is of stream 'stable', not 'testing'/,
      ],
    },
    {
      name: 'a rollout of a version given as a string without its start',
      releases: () => [{ version: '40.1.2.0', rollout: { durationMinutes: 60 } }],
      issues: [/^releases\.0\.rollout\.startEpoch: give the rollout's start/],
    },
    {
      name: 'unknown and missing fields',
      releases: () => [{ version: '40.1.2.0', barrier: {}, rollout: { startEpoch: S, duration: 5 } }],
      issues: [
        /^releases\.0\.barrier\.reason: /,
        /^releases\.0\.rollout\.duration: unknown prop of UpdateMetadata/,
      ],
    },
  ];
  for (const testCase of synthesisCases) {
    it(`refuses ${testCase.name}`, () => {
      const pipeline = new Pipeline({ name: 'p' });
      const release = new FakeRelease(pipeline, 'Release', 'testing').release;
      const other = new FakeRelease(pipeline, 'Stable', 'stable').release;
      const issues = validationIssues(
        () =>
          new UpdateMetadata(pipeline, 'Updates', {
            stream: 'testing',
            releases: testCase.releases(release, other) as never,
          }),
      );
      expect(issues).toHaveLength(testCase.issues.length);
      expect(issues).toEqual(testCase.issues.map((pattern) => expect.stringMatching(pattern)));
    });
  }

  it('checks the from document at synthesis: missing, not update metadata, another stream', async () => {
    const projectDir = await makeTempDir('fcos-updates-');
    await writeFile(path.join(projectDir, 'bad.json'), '{"stream": "testing"}');
    await writeFile(path.join(projectDir, 'stable.json'), readFileSync(REFERENCE_FILE, 'utf8'));
    // As fcos-synth does: a session says where project paths are relative to.
    openSession({ projectDir });
    const pipeline = new Pipeline({ name: 'p' });
    try {
      new UpdateMetadata(pipeline, 'Missing', { stream: 'testing', from: 'none.json' });
      // Not published yet: allowed to be missing.
      new UpdateMetadata(pipeline, 'Unpublished', {
        stream: 'testing',
        from: 'none.json',
        allowMissingFrom: true,
      });
      new UpdateMetadata(pipeline, 'Bad', { stream: 'testing', from: 'bad.json' });
      new UpdateMetadata(pipeline, 'Other', { stream: 'testing', from: 'stable.json' });
      new UpdateMetadata(pipeline, 'Good', { stream: 'stable', from: 'stable.json' });
    } finally {
      closeSession();
    }
    const issues = validationIssues(() => synthesize(pipeline, { projectDir }));
    expect(issues).toEqual([
      expect.stringMatching(/^from: 'bad\.json' is not update metadata: metadata: /),
      expect.stringMatching(/^from: update metadata 'none\.json' does not exist/),
      expect.stringMatching(/^from: 'stable\.json' is the update metadata of stream 'stable', not 'testing'/),
    ]);
  });
});

describe('the UpdateMetadata runner', () => {
  /** Runs the runner with `props` and release inputs (by field, their metadata) in `projectDir`; returns the file's text and the output metadata. */
  async function run(
    projectDir: string,
    props: UpdateMetadataNodeProps,
    inputMetadata: Record<string, Record<string, string>> = {},
  ): Promise<{ text: string; metadata: unknown }> {
    const resolved = Object.fromEntries(
      Object.entries(inputMetadata).map(([field, metadata]) => [
        field,
        { type: 'release', digest: 'sha256:0', storage: 'file' as const, path: '/nonexistent', metadata },
      ]),
    );
    const outputs = await updateMetadataRunner.run({
      nodePath: 'p/Updates',
      props,
      inputs: resolved,
      declaredOutputs: { updates: { type: 'update-metadata', attributes: { stream: props.stream } } },
      projectDir,
      signal: new AbortController().signal,
      workDir: await makeTempDir('fcos-updates-work-'),
      ostreeRepo: '',
      log: () => {},
      exec: () => Promise.reject(new Error('UpdateMetadata runs no tools')),
    });
    const output = outputs.updates;
    if (output?.storage !== 'file') throw new Error('no file output');
    expect(path.basename(output.path)).toBe(`${props.stream}.json`);
    return { text: await readFile(output.path, 'utf8'), metadata: output.metadata };
  }

  it('reads the release version from the input, and refuses an input without one', async () => {
    const projectDir = await makeTempDir('fcos-updates-');
    const props: UpdateMetadataNodeProps = {
      stream: 'testing',
      allowMissingFrom: false,
      releases: [
        { version: { $input: 'releases.0.version' }, rollout: { startEpoch: S, startPercentage: 0.5 } },
      ],
    };
    const { text, metadata } = await run(projectDir, props, {
      'releases.0.version': { version: '40.1.2.0', stream: 'testing' },
    });
    expect(JSON.parse(text).releases).toEqual([
      { version: '40.1.2.0', metadata: { rollout: { start_epoch: S, start_percentage: 0.5 } } },
    ]);
    expect(metadata).toEqual({
      stream: 'testing',
      'last-modified': '2023-11-14T22:13:20Z',
      versions: ['40.1.2.0'],
    });
    await expect(
      run(projectDir, props, { 'releases.0.version': { stream: 'testing' } }),
    ).rejects.toMatchObject({
      constructor: UpdateMetadataInputError,
      field: 'releases.0.version',
      constructPath: 'p/Updates',
    });
    await expect(run(projectDir, props, {})).rejects.toMatchObject({ field: 'releases.0.version' });
  });

  it("starts a Release's rollout at its snapshot time unless startEpoch is given", async () => {
    const projectDir = await makeTempDir('fcos-updates-');
    const props: UpdateMetadataNodeProps = {
      stream: 'testing',
      allowMissingFrom: false,
      releases: [
        { version: { $input: 'releases.0.version' }, rollout: { startPercentage: 0, durationMinutes: 60 } },
      ],
    };
    const release = { version: '40.1.2.0', stream: 'testing', snapshotTime: S + 7 } as unknown as Record<
      string,
      string
    >;
    const { text } = await run(projectDir, props, { 'releases.0.version': release });
    expect(JSON.parse(text).releases[0].metadata.rollout).toEqual({
      start_epoch: S + 7,
      start_percentage: 0,
      duration_minutes: 60,
    });
    const given = await run(
      projectDir,
      { ...props, releases: [{ ...props.releases[0]!, rollout: { startEpoch: S, startPercentage: 0 } }] },
      { 'releases.0.version': release },
    );
    expect(JSON.parse(given.text).releases[0].metadata.rollout.start_epoch).toBe(S);
    await expect(
      run(projectDir, props, { 'releases.0.version': { version: '40.1.2.0', stream: 'testing' } }),
    ).rejects.toMatchObject({
      constructor: UpdateMetadataInputError,
      field: 'releases.0.rollout.startEpoch',
    });
  });

  it('starts empty from a missing from file only when allowMissingFrom says so', async () => {
    const projectDir = await makeTempDir('fcos-updates-');
    const props: UpdateMetadataNodeProps = {
      stream: 'testing',
      releases: [{ version: '40.1.2.0', barrier: { reason: 'r' } }],
      from: 'publish/updates/testing.json',
      allowMissingFrom: true,
    };
    const { text } = await run(projectDir, props);
    expect(JSON.parse(text).releases.map((entry: { version: string }) => entry.version)).toEqual([
      '40.1.2.0',
    ]);
    await expect(run(projectDir, { ...props, allowMissingFrom: false })).rejects.toMatchObject({
      constructor: UpdateMetadataInputError,
      field: 'from',
    });
  });

  it('names the from file when it is not update metadata', async () => {
    const projectDir = await makeTempDir('fcos-updates-');
    await writeFile(path.join(projectDir, 'testing.json'), '{"stream": "testing", "releases": [{}]}');
    await expect(
      run(projectDir, { stream: 'testing', releases: [], from: 'testing.json', allowMissingFrom: false }),
    ).rejects.toMatchObject({
      constructor: UpdateMetadataInputError,
      field: 'from',
      message: expect.stringMatching(/'testing\.json' is not update metadata/),
    });
  });
});

describe('an UpdateMetadata node in a pipeline', () => {
  it('records the Release as an input in pipeline.json, and fcos-run writes <stream>.json with its version', async () => {
    const library = 'fcos-cdk';
    const directory = await writeProgram(
      `import { FakeRelease } from './fake-release.ts';
const pipeline = new Pipeline({ name: 'updates' });
const release = new FakeRelease(pipeline, 'Release', { stream: 'testing', version: '40.20240301.2.0' });
new stages.UpdateMetadata(pipeline, 'Updates', {
  stream: 'testing',
  from: 'updates/testing.json',
  releases: [
    { version: '40.20240201.2.0', barrier: { reason: 'https://example.com/keys' } },
    { version: release.release, rollout: { startEpoch: ${S + 2 * HOUR}, durationMinutes: 2880 } },
  ],
});`,
      {
        'fake-release.ts': `
import { z } from 'zod';
import { Step, defineKind } from '${library}';
export const fakeReleaseKind = defineKind({ kind: 'FakeRelease', version: 1, schema: z.object({ stream: z.string(), version: z.string() }), runner: new URL('./fake-release-runner.ts', import.meta.url) });
export class FakeRelease extends Step {
  constructor(scope, id, props) { super(scope, id, fakeReleaseKind, props); this.release = this.addOutput('release', 'release', { stream: props.stream }); }
}
`,
        'fake-release-runner.ts': `
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defineRunner } from '${library}';
import { fakeReleaseKind } from './fake-release.ts';
export default defineRunner(fakeReleaseKind, { async run(context) {
  const file = path.join(context.workDir, 'release.json');
  const { stream, version } = context.props;
  await writeFile(file, JSON.stringify({ release: version, stream, architectures: {} }));
  return { release: { storage: 'file', path: file, metadata: { stream, version } } };
} });
`,
      },
    );
    await mkdir(path.join(directory, 'updates'));
    const existing = {
      stream: 'testing',
      metadata: { 'last-modified': '2023-11-01T00:00:00Z' },
      releases: [
        {
          version: '40.20240101.2.0',
          metadata: { rollout: { start_epoch: S, start_percentage: 0.0, duration_minutes: 60 } },
        },
        { version: '40.20240201.2.0', metadata: {} },
      ],
    };
    await writeFile(path.join(directory, 'updates/testing.json'), JSON.stringify(existing));

    const synth = await synthIn(directory);
    expect(synth.stderr).toBe('');
    expect(synth.code).toBe(0);
    const assembly = JSON.parse(await readFile(path.join(directory, 'fcos.out/pipeline.json'), 'utf8'));
    const node = assembly.nodes.Updates;
    expect(node.inputs).toEqual({
      'releases.1.version': { node: 'Release', output: 'release', type: 'release' },
    });
    expect(node.props.releases[1]).toEqual({
      version: { $input: 'releases.1.version' },
      rollout: { startEpoch: S + 2 * HOUR, startPercentage: 0, durationMinutes: 2880 },
    });
    expect(node.props.from).toBe('updates/testing.json');
    expect(node.outputs).toEqual({ updates: { type: 'update-metadata', attributes: { stream: 'testing' } } });

    const run = await runIn(directory);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const written = await readFile(path.join(directory, 'fcos.out/artifacts/Updates/testing.json'), 'utf8');
    expect(written).toBe(
      `${JSON.stringify(
        {
          stream: 'testing',
          metadata: { 'last-modified': '2023-11-15T00:13:20Z' },
          releases: [
            { version: '40.20240101.2.0', metadata: { rollout: { start_percentage: 1 } } },
            { version: '40.20240201.2.0', metadata: { barrier: { reason: 'https://example.com/keys' } } },
            {
              version: '40.20240301.2.0',
              metadata: {
                rollout: { duration_minutes: 2880, start_epoch: S + 2 * HOUR, start_percentage: 0 },
              },
            },
          ],
        },
        null,
        2,
      ).replace(/("start_percentage": )(\d+)/g, '$1$2.0')}\n`,
    );
  });
});
