/**
 * KolaTest: kola's `basic` checks and a config checkout's external tests (`tests/kola/`), run in
 * VMs booted from a platform image under QEMU, with the denylist applied. Run by runner.ts.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { projectPathSchema } from '../../lib/schemas.ts';
import { Step } from '../../lib/step.ts';
import { harnessImageCheck } from './harness-check.ts';

/** Props of {@link KolaTest}. */
export interface KolaTestProps {
  /** The image to boot (a qemu PlatformImage). */
  readonly image: Artifact<'platform-image'>;
  /**
   * Test names or glob patterns (`basic`, `ext.*`).
   * @default ['basic']
   */
  readonly tests?: readonly string[];
  /**
   * Run only tests carrying one of these tags (kola.json `tags`).
   * @default [] (no tag filter)
   */
  readonly tags?: readonly string[];
  /**
   * Directory of external tests laid out as in fedora-coreos-config (`tests/kola/`: every
   * executable is a test, named and described as kola does), relative to the project.
   * @default 'tests/kola'
   */
  readonly testsDir?: string;
  /**
   * Denylist in kola-denylist.yaml format, relative to the project.
   * @default undefined (no denylist)
   */
  readonly denylist?: string;
  /**
   * Stream name matched against the denylist's `streams`.
   * @default undefined
   */
  readonly stream?: string;
  /**
   * VMs booted at once by this node.
   * @default 1
   */
  readonly parallelism?: number;
  /**
   * Memory of each VM in MiB (a test's `minMemory` raises it).
   * @default 1024
   */
  readonly memoryMiB?: number;
  /**
   * Firmware the VM boots with.
   * @default 'uefi'
   */
  readonly firmware?: 'uefi' | 'bios';
  /**
   * Run failed tests once more; a test that then passes is reported flaky.
   * @default true
   */
  readonly rerunFailed?: boolean;
  /**
   * Seconds a VM may take to boot, on top of its tests' own time limits.
   * @default 120
   */
  readonly bootTimeoutSeconds?: number;
  /**
   * QEMU accelerator: `kvm` where KVM works; TCG emulation everywhere else.
   * @default 'tcg'
   */
  readonly accelerator?: 'tcg' | 'kvm';
}

const schema = z
  .object({
    image: artifactSchema('platform-image'),
    tests: z.array(z.string().min(1)).default(['basic']),
    tags: z.array(z.string().min(1)).default([]),
    testsDir: projectPathSchema().default('tests/kola'),
    denylist: projectPathSchema().optional(),
    stream: z.string().optional(),
    parallelism: z.number().int().min(1).max(64).default(1),
    memoryMiB: z.number().int().min(256).default(1024),
    firmware: z.enum(['uefi', 'bios']).default('uefi'),
    rerunFailed: z.boolean().default(true),
    bootTimeoutSeconds: z.number().int().min(10).max(3600).default(120),
    accelerator: z.enum(['tcg', 'kvm']).default('tcg'),
  })
  .strict();

/** Parsed props of {@link KolaTest}. */
export type KolaTestConfig = z.output<typeof schema>;

/** The KolaTest kind. */
export const kolaTestKind = defineKind({
  kind: 'KolaTest',
  version: 1,
  schema,
  resources: (props) => ({ class: 'vm', memoryMiB: props.memoryMiB * props.parallelism }),
  runner: new URL('./runner.ts', import.meta.url),
});

/** Tests run against booted VMs of an image. */
export class KolaTest extends Step<KolaTestProps, KolaTestConfig> {
  /** The test report (JSON and JUnit XML, console logs). */
  readonly report: Artifact<'test-report'>;

  constructor(scope: Construct, id: string, props: KolaTestProps) {
    super(scope, id, kolaTestKind, props);
    this.report = this.addOutput('report', 'test-report', {});
    const imageCheck = harnessImageCheck(this.props.image, this.props.firmware);
    this.addCheck(() => imageCheck().map(({ field, message }) => this.issue(field, message)));
  }
}
