// Lab set-up and teardown written once, run two ways. A plan is a generator that yields the slow
// steps (run a command, sleep) and does quick syscalls (rmdir, kill) itself; `runAsync` drives it
// on the event loop, `runSync` blocks. Teardown needs both: normally async, but from a process
// 'exit' handler only synchronous code runs, and leftovers must still go.
import { execFile, spawnSync } from 'node:child_process';
import { WeftError } from '../errors.ts';

export type Step =
  | { readonly kind: 'exec'; readonly file: string; readonly args: readonly string[]; readonly timeoutMs: number }
  | { readonly kind: 'sleep'; readonly ms: number };

export interface ExecResult {
  /** Exit code, or null if the command was killed or could not start. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Why there is no exit code: spawn failure (ENOENT …) or "timed out after N ms". */
  readonly failure: string | null;
}

export type Plan<T> = Generator<Step, T, ExecResult | undefined>;

export const DEFAULT_COMMAND_TIMEOUT_MS = 15_000;

export function* exec(file: string, args: readonly string[], timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): Plan<ExecResult> {
  const result = yield { kind: 'exec', file, args, timeoutMs };
  if (result === undefined) throw new Error(`plan driver gave no result for ${file}`);
  return result;
}

/** Runs a command that must succeed; `hint` says what to do when it does not. */
export function* execOk(file: string, args: readonly string[], hint: string): Plan<string> {
  const result = yield* exec(file, args);
  if (result.code !== 0) throw commandError(file, args, result, hint);
  return result.stdout;
}

export function* sleep(ms: number): Plan<void> {
  yield { kind: 'sleep', ms };
}

export function commandError(file: string, args: readonly string[], result: ExecResult, hint: string): WeftError {
  const how = result.failure ?? `exit ${result.code ?? '?'}`;
  const detail = result.stderr.trim() || result.stdout.trim();
  return new WeftError(
    'WEFT_E_LAB_COMMAND',
    `\`${[file, ...args].join(' ')}\` failed (${how})${detail ? `: ${detail}` : ''}; ${hint}`,
  );
}

export function runSync<T>(plan: Plan<T>): T {
  let next = plan.next();
  while (!next.done) {
    const step = next.value;
    if (step.kind === 'sleep') {
      sleepSync(step.ms);
      next = plan.next(undefined);
    } else {
      next = plan.next(execSync(step.file, step.args, step.timeoutMs));
    }
  }
  return next.value;
}

export async function runAsync<T>(plan: Plan<T>): Promise<T> {
  let next = plan.next();
  while (!next.done) {
    const step = next.value;
    if (step.kind === 'sleep') {
      await new Promise((resolve) => setTimeout(resolve, step.ms));
      next = plan.next(undefined);
    } else {
      next = plan.next(await execAsync(step.file, step.args, step.timeoutMs));
    }
  }
  return next.value;
}

function execSync(file: string, args: readonly string[], timeoutMs: number): ExecResult {
  const result = spawnSync(file, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout = result.stdout ?? '';
  const stderr = result.stderr ?? '';
  if (result.error !== undefined) {
    const timedOut = (result.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
    return { code: null, stdout, stderr, failure: timedOut ? `timed out after ${timeoutMs} ms` : result.error.message };
  }
  if (result.status === null) return { code: null, stdout, stderr, failure: `killed by ${result.signal ?? 'a signal'}` };
  return { code: result.status, stdout, stderr, failure: null };
}

function execAsync(file: string, args: readonly string[], timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error === null) return resolve({ code: 0, stdout, stderr, failure: null });
      if (typeof error.code === 'number') return resolve({ code: error.code, stdout, stderr, failure: null });
      const failure = error.killed ? `timed out after ${timeoutMs} ms` : error.message;
      resolve({ code: null, stdout, stderr, failure });
    });
  });
}

/** Blocks the thread; only for the synchronous teardown path, where nothing else may run anyway. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
