/**
 * The boots of one machine: QEMU runs with `-no-reboot`, so both a reboot and a power-off end the
 * process; the loop boots the same persistent disk again after a console that ended with
 * `FCOS-CDK: reboot ...`, and stops on `FCOS-CDK: done` (power-off), when a boot hits its time
 * limit or ends without either line, when the scenario has seen enough, at the most boots, or at
 * the scenario's deadline. A scenario may power the machine on again after it powered off or was
 * stopped by a watchdog (a FleetLock slot freed meanwhile, a pull cut by a power failure). Each boot's console is kept in its own file. The boot itself is a
 * function, so the loop is tested with fake consoles.
 */
import { type BootConsole, parseBootConsole } from './console-protocol.ts';

/** What one boot is asked to do. */
export interface BootRequest {
  /** 1 for the first boot. */
  readonly index: number;
  /** Where the console goes. */
  readonly consoleFile: string;
  /** This boot's hard limit. */
  readonly timeoutSeconds: number;
}

/** What one boot gave (lib/vm/qemu.ts's BootResult, and why it was stopped early, if it was). */
export interface BootOutcome {
  /** The raw console. */
  readonly console: string;
  /** Killed at the time limit. */
  readonly timedOut: boolean;
  /** Wall-clock seconds. */
  readonly seconds: number;
  /** Why a watchdog stopped it before it ended (a kernel panic ...). */
  readonly stoppedBecause?: string;
}

/** One boot as the loop recorded it. */
export interface MachineBoot {
  /** 1 for the first boot. */
  readonly index: number;
  /** Its console file. */
  readonly consoleFile: string;
  /** Its console, parsed. */
  readonly console: BootConsole;
  /** The raw console text. */
  readonly raw: string;
  /** Wall-clock seconds. */
  readonly seconds: number;
  /** Killed at its time limit. */
  readonly timedOut: boolean;
  /** Why a watchdog stopped it, if one did. */
  readonly stoppedBecause?: string;
}

/** Why the loop stopped booting. */
export type LoopEnd =
  | 'power-off' // the machine powered off by itself
  | 'stopped' // the scenario had seen enough
  | 'boot-timeout' // a boot hit its limit
  | 'no-end' // a boot ended without a reboot or done line (crash, watchdog)
  | 'max-boots' // it was still rebooting after the most boots
  | 'deadline'; // the scenario's time was up before the next boot

/** The boots of one machine and why they ended. */
export interface BootLoopResult {
  /** Every boot, in order. */
  readonly boots: readonly MachineBoot[];
  /** Why no further boot was made. */
  readonly end: LoopEnd;
}

/** Options of {@link bootUntilPowerOff}. */
export interface BootLoopOptions {
  /** Boots the machine once. */
  readonly boot: (request: BootRequest) => Promise<BootOutcome>;
  /** The console file of boot `index`. */
  readonly consoleFileOf: (index: number) => string;
  /** Most boots. */
  readonly maxBoots: number;
  /** Hard limit of one boot. */
  readonly bootTimeoutSeconds: number;
  /** No boot starts after this time (ms since the epoch), and none runs past it. */
  readonly deadline: number;
  /** Stops after a boot the scenario has seen enough of (even if it rebooted). @default never */
  readonly stopAfter?: (boot: MachineBoot) => boolean;
  /**
   * Called after a boot that powered off, or that a watchdog stopped, before the loop ends there:
   * true powers the same disk on again (the host may change the world first). Not called after a
   * boot killed at its time limit.
   * @default never powers on again
   */
  readonly powerOnAgain?: (boot: MachineBoot) => Promise<boolean>;
  /** Progress lines. */
  readonly log: (line: string) => void;
  /** Cancels (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** The clock (ms since the epoch). @default Date.now */
  readonly now?: () => number;
}

/** Boots the machine again after each reboot until it powers off or a limit is reached. */
export async function bootUntilPowerOff(options: BootLoopOptions): Promise<BootLoopResult> {
  const now = options.now ?? Date.now;
  const boots: MachineBoot[] = [];
  for (let index = 1; index <= options.maxBoots; index++) {
    options.signal?.throwIfAborted();
    const remainingSeconds = Math.floor((options.deadline - now()) / 1000);
    if (remainingSeconds <= 0) return { boots, end: 'deadline' };
    const timeoutSeconds = Math.min(options.bootTimeoutSeconds, remainingSeconds);
    const consoleFile = options.consoleFileOf(index);
    const outcome = await options.boot({ index, consoleFile, timeoutSeconds });
    const boot: MachineBoot = {
      index,
      consoleFile,
      console: parseBootConsole(outcome.console),
      raw: outcome.console,
      seconds: outcome.seconds,
      timedOut: outcome.timedOut,
      ...(outcome.stoppedBecause === undefined ? {} : { stoppedBecause: outcome.stoppedBecause }),
    };
    boots.push(boot);
    const { end } = boot.console;
    options.log(
      `boot ${index}: ${end.kind === 'reboot' ? `reboot reason=${end.reason}` : end.kind} in ${outcome.seconds.toFixed(1)} s${outcome.timedOut ? ` (killed at ${timeoutSeconds} s)` : ''}${outcome.stoppedBecause ? ` (stopped: ${outcome.stoppedBecause})` : ''}`,
    );
    if (outcome.timedOut) return { boots, end: 'boot-timeout' };
    if (options.stopAfter?.(boot)) return { boots, end: 'stopped' };
    if (end.kind === 'reboot') continue;
    // Powered off, or stopped without an end line: the scenario may power it on again.
    if (index < options.maxBoots && (await options.powerOnAgain?.(boot))) {
      options.log(`boot ${index}: powered on again`);
      continue;
    }
    return { boots, end: end.kind === 'power-off' ? 'power-off' : 'no-end' };
  }
  return { boots, end: 'max-boots' };
}
