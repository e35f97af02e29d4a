/**
 * Test planning for the KolaTest runner: the built-in `basic` and the external tests of the tests
 * directory (found as kola finds them), selected by name patterns, tags and required tags,
 * architecture, platform and distro, with the denylist and the creation-date grace period applied,
 * the way kola's filterTests does. Tests that are not run but apply are returned as skip results.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { judge, readDenylist } from '../../lib/kola/denylist.ts';
import { type ExternalTest, scanExternalTests } from '../../lib/kola/external-tests.ts';
import type { TestResult } from '../../lib/kola/report.ts';
import { type DataFile, readDataFiles } from '../../lib/kola/test-data.ts';
import { admits } from '../../lib/kola/test-metadata.ts';
import { globMatcher } from '../../lib/run/glob.ts';
import { basicTest } from './basic-test.ts';
import { NoMatchingTestError } from './errors.ts';
import type { KolaRunnerProps } from './runner-context.ts';

/** A test to run: the built-in `basic`, or an external test. */
export interface PlannedTest {
  /** Test name (`basic`, `ext.config.hello`). */
  readonly name: string;
  /** The executable run in the guest: its file name and contents. */
  readonly executable: { readonly name: string; readonly contents: Buffer };
  /** An external test: run with kola's environment (`KOLA_TEST`, `KOLA_EXT_DATA` ...). */
  readonly external: boolean;
  /** Its `data/` files, copied to `$KOLA_EXT_DATA`. */
  readonly dataFiles: readonly DataFile[];
  /** Time limit inside the guest, seconds. */
  readonly timeoutSeconds: number;
  /** Memory its VM needs, MiB. */
  readonly minMemoryMiB: number;
  /** Needs a VM of its own (kola's default for external tests). */
  readonly exclusive: boolean;
  /** Tests that must not share its VM. */
  readonly conflicts: readonly string[];
  /** A failure is reported as a warning (denylist `warn: true`, or a new test in its grace period). */
  readonly warnOnly: boolean;
  /** Tag `skip-base-checks`: kola's console checks (panics, failed units ...) do not fail it. */
  readonly skipBaseChecks: boolean;
  /** The test's own Ignition config, merged into its VM's. */
  readonly ignitionConfig?: Record<string, unknown>;
  /** The file of its own config (absolute), checked before any VM boots (test-configs.ts). */
  readonly ignitionConfigFile?: string;
  /**
   * kola.json `allowConfigWarnings`: the validator's warnings about its config are not reported.
   * @default false
   */
  readonly allowConfigWarnings?: boolean;
  /** What of its metadata the harness could not honour. */
  readonly warnings: readonly string[];
}

/** The plan: tests to run, tests reported as skipped, warnings about the tests directory. */
export interface TestPlan {
  /** Tests to run. */
  readonly planned: PlannedTest[];
  /** Selected tests that do not run here, with why. */
  readonly skipped: TestResult[];
  /** Warnings not tied to one test. */
  readonly warnings: readonly string[];
}

/** Where the tests run and what selects them. */
export interface PlanOptions {
  /** The node's props. */
  readonly props: KolaRunnerProps;
  /** The project directory (testsDir and denylist are relative to it). */
  readonly projectDir: string;
  /** The image's architecture. */
  readonly arch: string;
  /** The platform (`qemu`). */
  readonly platform: string;
  /** Today, for the denylist's snoozes and the grace period. */
  readonly today: Date;
}

/** The distribution the harness tests (kola's `distros`). */
const DISTRIBUTION = 'fcos';

/** kola turns failures of a test created less than this long ago into warnings. */
const GRACE_PERIOD_MS = 30 * 24 * 60 * 60 * 1000;

/** The tag with which kola's console checks do not fail a test. */
const SKIP_BASE_CHECKS_TAG = 'skip-base-checks';

/** A candidate test, before the denylist. */
type Candidate = PlannedTest & {
  readonly tags: readonly string[];
  readonly requiredTag?: string;
  readonly arches?: readonly string[];
  readonly platforms?: readonly string[];
  readonly distros?: readonly string[];
  readonly creationDate?: string;
  readonly unrunnable?: string;
};

/** An external test as a candidate: its executable and data read, kola's defaults applied. */
async function externalCandidate(test: ExternalTest): Promise<Candidate> {
  const { metadata } = test;
  return {
    name: test.name,
    executable: {
      name: test.executable,
      contents: await readFile(path.join(test.directory, test.executable)),
    },
    external: true,
    dataFiles: test.dataDirectory ? await readDataFiles(test.dataDirectory) : [],
    timeoutSeconds: Math.round((metadata.timeoutMin ?? 2) * 60),
    minMemoryMiB: metadata.minMemory ?? 0,
    // kola: "When the exclusive key is not provided, tests are marked exclusive: true by default."
    exclusive: metadata.exclusive ?? true,
    conflicts: metadata.conflicts ?? [],
    warnOnly: false,
    skipBaseChecks: (metadata.tags ?? []).includes(SKIP_BASE_CHECKS_TAG),
    ...(test.ignitionConfig ? { ignitionConfig: test.ignitionConfig } : {}),
    ...(test.ignitionConfigFile ? { ignitionConfigFile: test.ignitionConfigFile } : {}),
    ...(metadata.allowConfigWarnings ? { allowConfigWarnings: true } : {}),
    warnings: test.warnings,
    tags: metadata.tags ?? [],
    ...(metadata.requiredTag ? { requiredTag: metadata.requiredTag } : {}),
    ...(metadata.architectures ? { arches: metadata.architectures } : {}),
    ...(metadata.platforms ? { platforms: metadata.platforms } : {}),
    ...(metadata.distros ? { distros: metadata.distros } : {}),
    ...(metadata.creationDate ? { creationDate: metadata.creationDate } : {}),
    ...(test.butaneConfig
      ? {
          unrunnable: `its config.bu needs Butane, which this harness does not run; translate it to config.ign (butane --strict config.bu > config.ign)`,
        }
      : {}),
  };
}

/** A skip result. */
function skip(name: string, reason: string): TestResult {
  return { name, result: 'skip', durationSeconds: 0, reason };
}

/** The tests the props select, with the denylist applied; skipped ones are returned as results. */
export async function planTests(options: PlanOptions): Promise<TestPlan> {
  const { props, projectDir, arch, platform, today } = options;
  const discovery = await scanExternalTests(path.resolve(projectDir, props.testsDir));
  const denylist = props.denylist ? await readDenylist(path.resolve(projectDir, props.denylist)) : [];
  const candidates: Candidate[] = [
    basicTest(),
    ...(await Promise.all(discovery.tests.map(externalCandidate))),
  ];
  // kola refuses a pattern that matches no test at all, before any other filter.
  for (const pattern of props.tests) {
    if (candidates.some((test) => globMatcher(pattern)(test.name))) continue;
    throw new NoMatchingTestError(
      `the pattern '${pattern}' matches no test (tests: ${candidates.map((test) => test.name).join(', ')})${discovery.warnings.length > 0 ? `; ${discovery.warnings.join('; ')}` : ''}`,
      { field: 'tests' },
    );
  }
  const wanted = (name: string) => props.tests.some((pattern) => globMatcher(pattern)(name));
  const planned: PlannedTest[] = [];
  const skipped: TestResult[] = [];
  for (const test of candidates) {
    if (!wanted(test.name)) continue;
    // kola counts a test's requiredTag as one of its tags, and runs it only when that tag is asked for.
    const tags = test.requiredTag ? [...test.tags, test.requiredTag] : test.tags;
    if (props.tags.length > 0 && !tags.some((tag) => props.tags.includes(tag))) continue;
    if (test.requiredTag && !props.tags.includes(test.requiredTag)) {
      skipped.push(skip(test.name, `requires tag ${test.requiredTag}`));
      continue;
    }
    if (!admits(test.arches, arch) || !admits(test.platforms, platform)) {
      skipped.push(skip(test.name, `not for ${arch} on ${platform}`));
      continue;
    }
    if (!admits(test.distros, DISTRIBUTION)) {
      skipped.push(skip(test.name, `not for distro ${DISTRIBUTION}`));
      continue;
    }
    if (test.unrunnable) {
      skipped.push(skip(test.name, test.unrunnable));
      continue;
    }
    const verdict = judge(denylist, {
      test: test.name,
      arch,
      platform,
      ...(props.stream ? { stream: props.stream } : {}),
      today,
    });
    if (verdict.action === 'skip') {
      skipped.push(
        skip(test.name, `denylisted${verdict.entry.tracker ? ` (${verdict.entry.tracker})` : ''}`),
      );
      continue;
    }
    const inGracePeriod =
      test.creationDate !== undefined && today.getTime() < Date.parse(test.creationDate) + GRACE_PERIOD_MS;
    planned.push({
      name: test.name,
      executable: test.executable,
      external: test.external,
      dataFiles: test.dataFiles,
      timeoutSeconds: test.timeoutSeconds,
      minMemoryMiB: test.minMemoryMiB,
      exclusive: test.exclusive,
      conflicts: test.conflicts,
      warnOnly: verdict.action === 'warn' || inGracePeriod,
      skipBaseChecks: test.skipBaseChecks,
      ...(test.ignitionConfig ? { ignitionConfig: test.ignitionConfig } : {}),
      ...(test.ignitionConfigFile ? { ignitionConfigFile: test.ignitionConfigFile } : {}),
      ...(test.allowConfigWarnings ? { allowConfigWarnings: true } : {}),
      warnings: inGracePeriod
        ? [
            ...test.warnings,
            `created ${test.creationDate}: in kola's 30-day grace period, a failure is a warning`,
          ]
        : test.warnings,
    });
  }
  return { planned, skipped, warnings: discovery.warnings };
}
