/**
 * The tool reaper: one small `sh` per fcos-run process that kills the process group of every tool
 * still running when fcos-run dies, however it dies (`kill -9` of it or of its process group).
 *
 * Why: a tool runs in a process group of its own (so cancelling it reaches its children), and
 * `setpriv --pdeathsig KILL` makes the kernel kill the tool itself when fcos-run dies; but the
 * tool's own children (rpmbuild's shells, dnf's scriptlets, anything it forks) have no such
 * signal and nobody left to kill them. Something alive has to do it.
 *
 * Why one reaper per run and not a supervisor per tool: many tools run per node, and a supervisor
 * costs a process per tool. Measured here (2 loaded cores, node 20, execa 9), starting `true`:
 * 6.3-7.0 ms plain, 7.1-7.6 ms through setpriv, 10.7-13.4 ms through setpriv and a `sh` supervisor
 * trapping its parent-death signal, so 4-6 ms more per tool, plus a shell between the tool and its
 * exit status (a tool killed by a signal would look like one that exited 128+N) and between the
 * tool and its stdin (a background job's stdin is /dev/null). The reaper is started once, by the
 * first tool, and then a tool costs two short lines written to a pipe, `+PGID` when it starts and
 * `-PGID` once its group has been killed after it ended: 20 µs per tool, measured the same way.
 *
 * How it notices: its stdin is a pipe whose only writer is fcos-run (libuv opens it close-on-exec,
 * so no tool inherits it); when fcos-run dies the kernel closes it, `read` sees end of file, and
 * the reaper sends SIGKILL to every group still registered, then exits. It runs in a session of its
 * own (so a signal to fcos-run's process group, or Ctrl-C on its terminal, does not reach it) with
 * `/` as its working directory (so it keeps no mount busy), and is unreferenced (it never keeps
 * fcos-run alive). The script is a constant: process group ids travel on its stdin, never in a
 * command line. If it cannot be started or is killed, the next tool starts a new one, given every
 * group still running; meanwhile the parent-death signal still kills each tool itself.
 *
 * Limits: a tool that leaves its process group (setsid, as a daemon does) escapes, as it escapes
 * cancellation; a group whose every process has exited could in principle see its id reused in the
 * milliseconds between fcos-run's death and the reaper's kill.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';

/**
 * The reaper's script (POSIX sh; dash's `kill` takes no `--`, so `-PGID` follows the signal).
 * `groups` holds the registered ids, each between spaces.
 */
const REAPER_SCRIPT = `groups=' '
while IFS= read -r line; do
  case $line in
    +*) groups="$groups\${line#+} " ;;
    -*) id=\${line#-}
      case $groups in *" $id "*) groups="\${groups%% "$id" *} \${groups#* "$id" }" ;; esac ;;
  esac
done
for id in $groups; do kill -KILL "-$id" 2>/dev/null; done
`;

/** The process groups of the tools running now (given again to a reaper started anew). */
const runningGroups = new Set<number>();

/** The reaper, or undefined before the first tool and after it died. */
let reaper: ChildProcess | undefined;

/** Starts the reaper and tells it the groups already running; undefined when sh cannot be started. */
function startReaper(): ChildProcess | undefined {
  let child: ChildProcess;
  try {
    child = spawn('/bin/sh', ['-c', REAPER_SCRIPT], {
      cwd: '/',
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
  } catch {
    return undefined;
  }
  const forget = () => {
    if (reaper === child) reaper = undefined;
  };
  child.on('error', forget);
  child.on('exit', forget);
  // A reaper that died makes writes fail with EPIPE: forgotten, the next tool starts another.
  child.stdin?.on('error', forget);
  child.unref();
  (child.stdin as Socket | null)?.unref();
  if (runningGroups.size > 0) {
    child.stdin?.write([...runningGroups].map((group) => `+${group}\n`).join(''));
  }
  return child;
}

/** Sends one line to the reaper, starting it first if it is not running. */
function tellReaper(line: string): void {
  reaper ??= startReaper();
  const input = reaper?.stdin;
  if (input && !input.destroyed) input.write(`${line}\n`);
}

/**
 * Registers the process group `group` (a tool just started as its leader): the reaper kills it if
 * fcos-run dies before {@link releaseToolGroup}.
 */
export function registerToolGroup(group: number): void {
  runningGroups.add(group);
  tellReaper(`+${group}`);
}

/** Forgets the process group `group`, once the tool has ended and its group has been killed. */
export function releaseToolGroup(group: number): void {
  if (!runningGroups.delete(group)) return;
  // No reaper running: there is nothing to tell, and no reason to start one.
  if (reaper) tellReaper(`-${group}`);
}

/** The reaper's pid, if one is running (for tests). */
export function reaperPid(): number | undefined {
  return reaper?.pid;
}
