/**
 * Test reports: the JSON report kept as an artifact, and JUnit XML for CI systems.
 */

/** The result of one test. */
export interface TestResult {
  /** Test name (`basic`, `ext.hello`). */
  readonly name: string;
  /** pass, fail, skip (denylisted or not applicable), flaky (failed, then passed on rerun), warn (failed, denylisted with warn). */
  readonly result: 'pass' | 'fail' | 'skip' | 'flaky' | 'warn';
  /** Seconds the VM that ran it took (0 for skipped). */
  readonly durationSeconds: number;
  /** Why it failed or was skipped. */
  readonly reason?: string;
  /** The console log of its VM, relative to the report directory. */
  readonly console?: string;
  /** What of the test's metadata the harness could not honour. */
  readonly warnings?: readonly string[];
}

/** A whole report. */
export interface TestReport {
  /** The node that ran the tests. */
  readonly node: string;
  /** The image tested (digest). */
  readonly image: string;
  /** Platform and arch. */
  readonly platform: string;
  /** Architecture. */
  readonly arch: string;
  /** Every test, in name order. */
  readonly tests: readonly TestResult[];
  /** Warnings about the tests directory not tied to one test (a script that is not executable). */
  readonly warnings?: readonly string[];
}

/** Characters XML 1.0 cannot carry (most control characters), removed from reports. */
const XML_INVALID = /[^\t\n\r -\ud7ff\ue000-\ufffd]/g;

/** Escapes text for XML attributes and content. */
function xml(text: string): string {
  return text
    .replace(XML_INVALID, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** The JUnit XML of a report: one testsuite, one testcase per test. */
export function toJunitXml(report: TestReport, consoles: ReadonlyMap<string, string> = new Map()): string {
  const failures = report.tests.filter((test) => test.result === 'fail').length;
  const skipped = report.tests.filter((test) => test.result === 'skip').length;
  const time = report.tests.reduce((total, test) => total + test.durationSeconds, 0);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="kola" tests="${report.tests.length}" failures="${failures}" skipped="${skipped}" time="${time.toFixed(3)}">`,
    `  <testsuite name="${xml(`${report.node} (${report.platform}, ${report.arch})`)}" tests="${report.tests.length}" failures="${failures}" skipped="${skipped}" time="${time.toFixed(3)}">`,
  ];
  for (const test of report.tests) {
    const open = `    <testcase classname="kola.${xml(report.platform)}" name="${xml(test.name)}" time="${test.durationSeconds.toFixed(3)}"`;
    const body: string[] = [];
    if (test.result === 'fail') body.push(`      <failure message="${xml(test.reason ?? 'failed')}"/>`);
    if (test.result === 'skip') body.push(`      <skipped message="${xml(test.reason ?? 'skipped')}"/>`);
    const errorLines = [
      ...(test.result === 'flaky' || test.result === 'warn' ? [`${test.result}: ${test.reason ?? ''}`] : []),
      ...(test.warnings ?? []).map((warning) => `warning: ${warning}`),
    ];
    if (errorLines.length > 0) body.push(`      <system-err>${xml(errorLines.join('\n'))}</system-err>`);
    const consoleText = test.console ? consoles.get(test.console) : undefined;
    if (consoleText !== undefined) body.push(`      <system-out>${xml(consoleText)}</system-out>`);
    lines.push(
      body.length === 0 ? `${open}/>` : `${open}>`,
      ...body,
      ...(body.length === 0 ? [] : ['    </testcase>']),
    );
  }
  if (report.warnings?.length) {
    lines.push(
      `    <system-err>${xml(report.warnings.map((warning) => `warning: ${warning}`).join('\n'))}</system-err>`,
    );
  }
  lines.push('  </testsuite>', '</testsuites>');
  return `${lines.join('\n')}\n`;
}
