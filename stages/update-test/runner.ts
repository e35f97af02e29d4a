/**
 * The UpdateTest runner: serves the scenario's releases with fcos-serve on loopback (a tree made
 * by served-tree.ts, the server's clock fixed by the scenario, its FleetLock history recorded),
 * checks the served graph, boots each machine of the scenario from an overlay of the image until
 * it powers off (boot-loop.ts, machine.ts), judges the consoles (scenarios.ts) and writes the
 * report (report.ts). The robustness scenarios add what the host does: FleetLock peers holding the
 * group's slots (fleet-lock-peers.ts), a delaying proxy in front of the ostree repository
 * (slow-repository.ts), a power cut mid-pull, and actions before powering a machine on again. A scenario that fails is a `fail` result in the report, not a node failure:
 * `Release` refuses to release on it.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { defineRunner, type NodeProps, type ResolvedArtifact, type RunnerContext } from '../../lib/runner.ts';
import type { FleetLockEvent } from '../../lib/serve/fleet-lock.ts';
import { resolveSigningKey } from '../../lib/signing/signing-key.ts';
import { uncompressed } from '../../lib/tools/compress.ts';
import { writeIgnitionConfig } from '../../lib/vm/ignition.ts';
import { type VmArch, vmProblem } from '../../lib/vm/machines.ts';
import { bootUntilPowerOff } from './boot-loop.ts';
import { UpdateTestInputError } from './errors.ts';
import { FleetLockPeers } from './fleet-lock-peers.ts';
import { GUEST_HOST_ADDRESS, guestIgnitionConfig, MACHINE_GROUP } from './guest-config.ts';
import type { UpdateTestConfig } from './index.ts';
import { updateTestKind } from './index.ts';
import { type BaseImage, createOverlay, machineBoot } from './machine.ts';
import { writeUpdateReport } from './report.ts';
import {
  assessScenario,
  type MachinePlan,
  type MachineRun,
  type PowerOnAction,
  planScenario,
  pullInterruption,
  type ScenarioReleases,
} from './scenarios.ts';
import { checkServedGraph } from './served-graph-check.ts';
import { type ServedRelease, writeServedTree } from './served-tree.ts';
import { type SlowRepository, startSlowRepository } from './slow-repository.ts';

export { UpdateTestInputError, UpdateTestSetupError } from './errors.ts';

/** The context the runner is called with. */
type UpdateTestContext = RunnerContext<NodeProps<UpdateTestConfig>>;

/** A commit input as a served release: version, ref, arch and timestamp from its metadata. */
function servedRelease(context: UpdateTestContext, field: 'from' | 'to'): ServedRelease {
  const input = context.inputs[field]!;
  const { version, ref, arch, snapshotTime } = input.metadata;
  if (typeof version !== 'string' || typeof ref !== 'string' || typeof snapshotTime !== 'number') {
    throw new UpdateTestInputError(
      `the ${field} commit carries no version, ref or snapshot time: it must come from an RpmOstreeCompose`,
      { constructPath: context.nodePath, field },
    );
  }
  return { version, checksum: input.digest, ref, arch: String(arch ?? 'x86_64'), timestamp: snapshotTime };
}

/** The image input as QEMU opens it (decompressed into the work directory when compressed). */
async function baseImage(context: UpdateTestContext, image: ResolvedArtifact): Promise<BaseImage> {
  const name = String(image.metadata.path ?? image.metadata.fileName ?? path.basename(image.path));
  const format = /\.qcow2(\.|$)/.test(name) || image.metadata.format === 'qcow2' ? 'qcow2' : 'raw';
  const file = await uncompressed(context.exec, image.path, context.workDir, `image.${format}`);
  return { file, format };
}

/** Wraps a machine's boot to log how many ostree objects the proxy delivered during each boot. */
function countingObjects(
  boot: ReturnType<typeof machineBoot>,
  proxy: SlowRepository,
  machine: MachinePlan,
  log: (line: string) => void,
): ReturnType<typeof machineBoot> {
  return async (request) => {
    const before = proxy.objectsDelivered();
    const outcome = await boot(request);
    log(
      `${machine.name}: boot ${request.index}: ${proxy.objectsDelivered() - before} ostree objects delivered`,
    );
    return outcome;
  };
}

/**
 * fcos-serve's server, imported when a test runs: every null run imports this runner, and fastify
 * was 100 ms of that.
 */
function importServer(): Promise<typeof import('../../lib/serve/server.ts')> {
  return import('../../lib/serve/server.ts');
}

export default defineRunner(updateTestKind, {
  timeoutSeconds: 6 * 3600,

  /** Serves, boots, judges and reports. */
  async run(context) {
    const { props, nodePath } = context;
    const image = context.inputs.image!;
    const arch = String(image.metadata.arch ?? 'x86_64');
    // The machine is of the image's arch (lib/vm/machines.ts): one the harness has, with that firmware.
    const problem = vmProblem(arch, props.firmware);
    if (problem) {
      throw new UpdateTestInputError(problem.message, {
        constructPath: nodePath,
        field: problem.field === 'arch' ? 'image' : problem.field,
      });
    }
    const vmArch = arch as VmArch;
    const releases: ScenarioReleases = {
      from: servedRelease(context, 'from'),
      to: servedRelease(context, 'to'),
    };
    if (image.metadata.commit !== releases.from.checksum) {
      throw new UpdateTestInputError(
        `the image is of commit ${String(image.metadata.commit)}, not of the from commit ${releases.from.checksum}: give the image built from it`,
        { constructPath: nodePath, field: 'image' },
      );
    }
    const stream = props.stream ?? releases.to.ref.split('/').pop()!;
    const plan = planScenario(props.scenario, releases, props.maxBoots);
    const deadline = Date.now() + props.totalTimeoutSeconds * 1000;
    const key = await resolveSigningKey(context.exec, {
      mode: props.signing,
      environment: process.env,
      workDir: context.workDir,
      cacheDirectory: context.cacheDirectory,
      nodePath,
    });
    if (!key) {
      throw new UpdateTestInputError(
        'no signing key: the guest verifies the served commits (set FCOS_SIGNING_*)',
        {
          constructPath: nodePath,
          field: 'signing',
        },
      );
    }
    const fleetLock: FleetLockEvent[] = [];
    const root = path.join(context.workDir, 'served');
    await mkdir(root, { recursive: true });
    const { startServer } = await importServer();
    const server = await startServer({
      root,
      port: 0,
      now: () => plan.nowMs,
      onFleetLock: (event) => fleetLock.push(event),
      log: (line) => context.log(`fcos-serve: ${line}`),
    });
    const reportDir = path.join(context.workDir, 'report');
    await mkdir(reportDir, { recursive: true });
    const runs: MachineRun[] = [];
    let slowRepository: SlowRepository | undefined;
    try {
      const peers = new FleetLockPeers(server.url, MACHINE_GROUP, nodePath);
      await peers.take(plan.fleetLockHolders ?? []);
      if (plan.objectDelayMs !== undefined) {
        slowRepository = await startSlowRepository(server.port, plan.objectDelayMs);
        context.log(
          `ostree objects served through a proxy on port ${slowRepository.port}, ${plan.objectDelayMs} ms each`,
        );
      }
      const proxy = slowRepository;
      /** Does what the plan says before a machine is powered on again. */
      const beforePowerOn = async (action: PowerOnAction): Promise<string> => {
        if (action === 'free-fleet-lock-slot')
          return `FleetLock peer ${await peers.freeOne()} gave its slot back`;
        proxy?.setDelay(0);
        return 'ostree objects served at full speed';
      };
      const served = await writeServedTree({
        exec: context.exec,
        log: context.log,
        root,
        workDir: path.join(context.workDir, 'served-scratch'),
        stream,
        baseUrl: `http://${GUEST_HOST_ADDRESS}:${server.port}`,
        sourceRepository: context.ostreeRepo,
        releases: [releases.from, releases.to],
        updates: plan.updates,
        key,
      });
      context.log(
        `serving ${stream} (${releases.from.version} → ${releases.to.version}) at ${server.url}, clock fixed at ${new Date(plan.nowMs).toISOString()} (threshold ${plan.threshold})`,
      );
      await checkServedGraph(
        server.url,
        stream,
        arch,
        releases,
        plan.machines.map((machine) => ({
          machine: machine.name,
          ...(machine.rolloutWariness === undefined ? {} : { rolloutWariness: machine.rolloutWariness }),
          offered: (machine.rolloutWariness ?? 0) <= plan.threshold,
        })),
        nodePath,
      );
      const base = await baseImage(context, image);
      for (const machine of plan.machines) {
        const machineDir = path.join(context.workDir, 'machines', machine.name);
        const consoleDir = path.join(reportDir, 'consoles', machine.name);
        await mkdir(machineDir, { recursive: true });
        await mkdir(consoleDir, { recursive: true });
        const overlay = path.join(machineDir, 'disk.qcow2');
        await createOverlay(context.exec, base, overlay);
        const ignitionConfig = path.join(machineDir, 'config.ign');
        const config = guestIgnitionConfig({
          port: server.port,
          stream,
          publicKey: served.publicKey,
          strategy: machine.strategy,
          ...(machine.rolloutWariness === undefined ? {} : { rolloutWariness: machine.rolloutWariness }),
          ...(proxy ? { repositoryPort: proxy.port } : {}),
          ...(machine.fleetLockRetries ? { fleetLockRetries: machine.fleetLockRetries } : {}),
          ...(machine.checkRepository ? { checkRepository: true } : {}),
        });
        await writeIgnitionConfig(config, ignitionConfig, {
          signal: context.signal,
          constructPath: nodePath,
        });
        context.log(`${machine.name}: booting ${releases.from.version} (at most ${machine.maxBoots} boots)`);
        const boot = machineBoot({
          overlay,
          ignitionConfig,
          arch: vmArch,
          firmware: props.firmware,
          memoryMiB: props.memoryMiB,
          accelerator: props.accelerator,
          signal: context.signal,
          log: context.log,
          stopWhen: (request, text) =>
            pullInterruption(plan, request.index, text, proxy?.objectsDelivered() ?? 0),
        });
        const powerOns = [...(machine.powerOns ?? [])];
        const loop = await bootUntilPowerOff({
          boot: proxy ? countingObjects(boot, proxy, machine, context.log) : boot,
          ...(powerOns.length > 0
            ? {
                powerOnAgain: async () => {
                  const action = powerOns.shift();
                  if (action === undefined) return false;
                  context.log(`${machine.name}: before powering on again: ${await beforePowerOn(action)}`);
                  return true;
                },
              }
            : {}),
          consoleFileOf: (index) => path.join(consoleDir, `console-${index}.log`),
          maxBoots: machine.maxBoots,
          bootTimeoutSeconds: props.bootTimeoutSeconds,
          deadline,
          ...(machine.stopAfter ? { stopAfter: machine.stopAfter } : {}),
          log: (line) => context.log(`${machine.name}: ${line}`),
          signal: context.signal,
        });
        runs.push({ plan: machine, loop });
      }
    } finally {
      await slowRepository?.close();
      await server.close();
      await key.release();
    }
    const verdict = assessScenario(props.scenario, releases, runs, fleetLock);
    context.log(
      verdict.passed
        ? `update.${props.scenario}: pass`
        : `update.${props.scenario}: FAIL\n  ${verdict.problems.join('\n  ')}`,
    );
    const metadata = await writeUpdateReport(reportDir, {
      nodePath,
      image: image.digest,
      arch,
      scenario: props.scenario,
      runs,
      verdict,
      fleetLock,
    });
    return { report: { storage: 'tree', path: reportDir, metadata } };
  },
});
