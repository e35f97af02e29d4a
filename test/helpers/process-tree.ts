/**
 * The processes a test started, read from /proc: every descendant of a process (whatever its
 * process group or session), and whether a process still runs (a zombie waiting for its new
 * parent to reap it counts as gone: it runs no code and holds nothing open).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** pid, parent pid and state of one /proc/<pid>/stat, or undefined when the process is gone. */
function readStat(pid: number): { readonly parent: number; readonly state: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so split after its last `)`.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, parent: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** Whether process `pid` exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

/** The pids of every process descending from `root` now (children, their children ...), `root` excluded. */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (!stat) continue;
    children.set(stat.parent, [...(children.get(stat.parent) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const pending = [...(children.get(root) ?? [])];
  while (pending.length > 0) {
    const pid = pending.pop()!;
    found.push(pid);
    pending.push(...(children.get(pid) ?? []));
  }
  return found.sort((a, b) => a - b);
}
