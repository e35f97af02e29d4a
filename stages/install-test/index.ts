/**
 * InstallTest: kola testiso's scenarios for a LiveImage, under QEMU. Each boots the live system
 * (from the ISO as a CD or as a disk, or PXE-style with QEMU's -kernel/-initrd), and the install
 * scenarios then boot the installed disk on its own and run kola's basic checks there:
 *
 *   iso-live-login       the ISO as a CD under UEFI, then under BIOS: Ignition ran (its embedded config), basic passes
 *   iso-as-disk          the ISO as a disk (a USB stick) under UEFI, then under BIOS
 *   iso-offline-install  install from the ISO's own metal image to a blank disk, then boot that disk (UEFI)
 *   iso-install.4k       the same to a disk with 4096-byte sectors: the 4Kn image is picked (UEFI)
 *   pxe-online-install   kernel + initramfs with coreos.live.rootfs_url and coreos.inst.* pointing at
 *                        fcos-serve on loopback; before the install the live system checks that a wrong
 *                        sha256 in stream metadata and a bad image signature are refused with the disk
 *                        untouched; then the installed disk boots (BIOS)
 *
 * The report has KolaTest's format (one test named `testiso.<scenario>`), so Release gates on it.
 * Run by runner.ts.
 */
import type { Construct } from 'constructs';
import { z } from 'zod';
import { type Artifact, artifactSchema } from '../../lib/artifacts.ts';
import { defineKind } from '../../lib/kind.ts';
import { Step } from '../../lib/step.ts';
import { vmProblem } from '../../lib/vm/machines.ts';

/** The scenarios, by kola testiso's names. */
export const INSTALL_TEST_SCENARIOS = [
  'iso-live-login',
  'iso-as-disk',
  'iso-offline-install',
  'iso-install.4k',
  'pxe-online-install',
] as const;
/** One scenario. */
export type InstallTestScenario = (typeof INSTALL_TEST_SCENARIOS)[number];

/** Props of {@link InstallTest}. */
export interface InstallTestProps {
  /** The live ISO and PXE artifacts to test. */
  readonly live: Artifact<'live-image'>;
  /** The scenario. */
  readonly scenario: InstallTestScenario;
  /**
   * Memory of each VM in MiB (the live system runs from RAM).
   * @default 1024
   */
  readonly memoryMiB?: number;
  /**
   * Time limit of one boot, in seconds (an install writes the whole image under TCG).
   * @default 600
   */
  readonly bootTimeoutSeconds?: number;
  /**
   * Size of the target disk in MiB (at least the metal image's).
   * @default 1536
   */
  readonly diskMiB?: number;
  /**
   * The key the served image is signed with (pxe-online-install; the live system trusts it).
   * @default 'throwaway' (the local builds' key kept in the cache)
   */
  readonly signing?: 'throwaway' | 'environment';
}

const schema = z
  .object({
    live: artifactSchema('live-image'),
    scenario: z.enum(INSTALL_TEST_SCENARIOS),
    memoryMiB: z.number().int().min(512).max(16384).default(1024),
    bootTimeoutSeconds: z.number().int().min(30).max(7200).default(600),
    diskMiB: z
      .number()
      .int()
      .min(64)
      .max(1024 * 1024)
      .default(1536),
    signing: z.enum(['throwaway', 'environment']).default('throwaway'),
  })
  .strict();

/** Parsed props of {@link InstallTest}. */
export type InstallTestConfig = z.output<typeof schema>;

/** The InstallTest kind. */
export const installTestKind = defineKind({
  kind: 'InstallTest',
  version: 1,
  schema: schema as unknown as z.ZodType<InstallTestConfig, InstallTestProps>,
  resources: (props) => ({ class: 'vm', memoryMiB: props.memoryMiB }),
  runner: new URL('./runner.ts', import.meta.url),
});

/** One of kola testiso's scenarios for a live image. */
export class InstallTest extends Step<InstallTestProps, InstallTestConfig> {
  /** The report (report.json, junit.xml, boots.json and the consoles). */
  readonly report: Artifact<'test-report'>;

  constructor(scope: Construct, id: string, props: InstallTestProps) {
    super(scope, id, installTestKind, props);
    this.report = this.addOutput('report', 'test-report', {});
    this.addCheck(() => {
      // Its scenarios boot UEFI on every arch (BIOS too where the machine has one).
      const problem = vmProblem(this.props.live.attributes.arch, 'uefi');
      return problem ? [this.issue('live', `${problem.message} (${this.props.live.describe()})`)] : [];
    });
  }
}
