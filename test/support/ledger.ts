// The run's ledger: every netns, cgroup dir, bpffs pin and PID a test makes is appended to
// /run/weft-test/<run>.jsonl the moment it is made (synchronously, before the next step), so the
// leftovers of a test process that was killed outright can still be found and removed.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { trackPid } from '../../agent/lab/host-ops.ts';
import { belongsToPrefix, checkPrefix } from '../../agent/lab/names.ts';
import { parseLabResource, type LabRecorder, type LabResource } from '../../agent/lab/resources.ts';
import { runPrefix } from './run.ts';

/** On tmpfs: a reboot, which also clears every netns and cgroup, clears the ledger with them. */
export const LEDGER_DIR = '/run/weft-test';

export class Ledger implements LabRecorder {
  readonly prefix: string;
  readonly path: string;
  readonly dir: string;
  #warned = false;

  constructor(prefix: string, dir = LEDGER_DIR) {
    this.prefix = checkPrefix(prefix);
    this.dir = dir;
    this.path = join(dir, `${prefix}.jsonl`);
  }

  /** Appends one record. Never throws (a lab step must not fail for it), but warns once if it cannot write. */
  record(resource: LabResource): void {
    try {
      mkdirSync(this.dir, { recursive: true });
      appendFileSync(this.path, `${JSON.stringify({ ...resource, by: process.pid })}\n`);
    } catch (error) {
      if (this.#warned) return;
      this.#warned = true;
      console.warn(`weft test ledger: cannot write ${this.path} (${String(error)}); leftovers of a crash may go unnoticed`);
    }
  }

  /** Records of this ledger and of sub-run ledgers (`<prefix>-*.jsonl`, e.g. fixture processes). */
  entries(): LabResource[] {
    return this.files().flatMap((file) => readRecords(file));
  }

  files(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .filter((name) => name.endsWith('.jsonl') && belongsToPrefix(name.slice(0, -'.jsonl'.length), this.prefix))
      .map((name) => join(this.dir, name))
      .sort((a, b) => (a === this.path ? -1 : b === this.path ? 1 : a.localeCompare(b)));
  }

  /** Deletes this ledger and its sub-run ledgers; for once everything they list is gone. */
  remove(): void {
    for (const file of this.files()) rmSync(file, { force: true });
  }

  exists(): boolean {
    return existsSync(this.path);
  }
}

function readRecords(file: string): LabResource[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const records: LabResource[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const record = parseLabResource(JSON.parse(line) as unknown);
      if (record !== undefined) records.push(record);
    } catch {
      // A line cut short by a crash mid-write: the things it named are still found by prefix.
    }
  }
  return records;
}

let shared: Ledger | undefined;

/**
 * Records a process started outside the lab (e.g. the agent: `AgentProcess.start({ onPid: recordPid })`)
 * in the run's ledger, with its start time so a later sweep never ends a reused PID.
 */
export function recordPid(pid: number): void {
  const tracked = trackPid(pid);
  if (tracked !== undefined) runLedger().record({ kind: 'pid', pid: tracked.pid, startTime: tracked.startTime });
}

/**
 * Records a bpffs pin or pin dir in the run's ledger. Name pins with the run's prefix too
 * (e.g. `/sys/fs/bpf/${labPrefix()}`): the leftover check also finds them by name.
 */
export function recordPin(path: string): void {
  runLedger().record({ kind: 'pin', path });
}

/** The ledger of this run (runPrefix()). Test helpers that start processes or pin maps record here. */
export function runLedger(): Ledger {
  const prefix = runPrefix();
  if (shared?.prefix !== prefix) shared = new Ledger(prefix);
  return shared;
}
