// Labs for tests, with cleanup guaranteed: on success and failure (the test's `after` hook), on a
// timeout (node:test runs `after` hooks then too), on process.exit or an uncaught exception (a
// synchronous teardown from the 'exit' event), and on SIGINT/SIGTERM/SIGHUP. A process killed
// outright leaves the run's ledger, which the leftover check at the end of `npm test` sweeps.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';
import { describeError } from '../../agent/errors.ts';
import { findCgroup2Mount } from '../../agent/host/cgroup2.ts';
import { Lab } from '../../agent/lab/lab.ts';
import { runLedger } from './ledger.ts';
import { labPrefix } from './run.ts';

/** Anything with an `after` hook: a TestContext, or `{ after }` from node:test for a suite. */
export interface AfterHook {
  after(fn: () => Promise<void>): void;
}

export interface WithLabOptions {
  /** SIGTERM → SIGKILL grace at teardown; default 2000 ms. */
  readonly graceMs?: number;
}

const live = new Set<Lab>();
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let installed = false;

/**
 * A new lab (own prefix inside the run's, every resource in the run's ledger) that is destroyed
 * when `hooks.after` runs. A teardown failure fails the test: leftovers are a defect.
 */
export function withLab(hooks: AfterHook, options: WithLabOptions = {}): Lab {
  const lab = new Lab({
    prefix: labPrefix(),
    recorder: runLedger(),
    ...(options.graceMs === undefined ? {} : { graceMs: options.graceMs }),
  });
  live.add(lab);
  installFallbacks();
  hooks.after(async () => {
    await lab.destroy();
    live.delete(lab);
    if (live.size === 0) uninstallFallbacks();
  });
  return lab;
}

/** Why the lab cannot run here, or undefined if it can. */
export function whyNoLab(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root: the lab makes network namespaces, veths and cgroups (run the tests as root)';
  if (findCgroup2Mount() === undefined) return 'needs a cgroup2 mount (none in /proc/mounts)';
  for (const [command, from] of [['ip', 'iproute2'], ['nsenter', 'util-linux'], ['sysctl', 'procps']] as const) {
    if (!onPath(command)) return `needs ${command} (Debian package ${from}; scripts/setup.sh installs it)`;
  }
  return undefined;
}

/**
 * For test and suite options: `describe('x', { skip: labSkip('x') }, …)`. Returns the reason (and warns
 * loudly) when the lab cannot run, else false. With WEFT_TEST_NO_SKIP=1 it throws instead.
 * `alsoNeeds`: the suite's own missing requirement, if any (skipped the same loud way).
 */
export function labSkip(what?: string, alsoNeeds?: string): string | false {
  const reason = whyNoLab() ?? alsoNeeds;
  return reason === undefined ? false : loudSkip(reason, what);
}

/** Inside a test: skips it loudly and returns false when the lab cannot run. */
export function requireLab(t: TestContext): boolean {
  const reason = whyNoLab();
  if (reason === undefined) return true;
  t.skip(loudSkip(reason, t.fullName));
  return false;
}

/** Inside a test: skips it loudly and returns false when not root. */
export function requireRoot(t: TestContext): boolean {
  if (process.getuid?.() === 0) return true;
  t.skip(loudSkip('needs root', t.fullName));
  return false;
}

function loudSkip(reason: string, test?: string): string {
  const where = test === undefined ? '' : ` ${test}`;
  if (process.env['WEFT_TEST_NO_SKIP'] === '1') throw new Error(`test${where} cannot run: ${reason} (WEFT_TEST_NO_SKIP=1 forbids skipping)`);
  console.warn(`WEFT TEST SKIPPED${where}: ${reason}`);
  return reason;
}

function onPath(command: string): boolean {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  return dirs.some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Synchronous teardown of every lab not yet destroyed; for 'exit' and signals, where nothing async runs. */
function destroyLiveLabsSync(why: string): void {
  for (const lab of [...live]) {
    try {
      lab.destroySync();
      live.delete(lab);
    } catch (error) {
      console.error(`weft test lab ${lab.prefix}: teardown on ${why} failed: ${describeError(error)}`);
    }
  }
}

function onExit(): void {
  destroyLiveLabsSync('process exit');
}

function onSignal(signal: NodeJS.Signals): void {
  destroyLiveLabsSync(signal);
  uninstallFallbacks();
  // Die of the signal as we would have without our handler, unless someone else also handles it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installFallbacks(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function uninstallFallbacks(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', onExit);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}
