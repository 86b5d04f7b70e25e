// What the HTTP and gRPC workload drivers share: a workload process in a pod that reports JSON
// lines on stdout (kept, in order) and takes JSON-line commands on stdin; waits that fail loudly
// with the workload's stderr when it exits, rejects a command, or says nothing in time.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WeftError } from '../errors.ts';
import { readJsonLines } from './json-lines.ts';
import type { LabPod } from './pod.ts';
import { awaitStart, stopProcess, tail, workloadEnv } from './workload-process.ts';

export type StdioWorkloadName = 'http-server' | 'http-client' | 'grpc-server' | 'grpc-client';

export interface StdioWorkloadStart<E> {
  readonly pod: LabPod;
  readonly name: StdioWorkloadName;
  readonly args?: readonly string[];
  /** Named in errors: "http server in pod web". */
  readonly what: string;
  /** The line that says it is ready (listening, or ready for commands). */
  readonly ready: (event: E) => boolean;
  readonly startTimeoutMs?: number;
}

interface Waiter {
  readonly check: () => void;
  readonly fail: (error: Error) => void;
}

export class StdioWorkload<E extends { readonly event: string }> {
  readonly pod: LabPod;
  readonly process: ChildProcess;
  readonly pid: number;
  readonly what: string;
  /** Every line it has written, oldest first. */
  readonly events: E[] = [];
  readonly #stderr: () => string;
  readonly #waiters = new Set<Waiter>();
  #failure: WeftError | undefined;

  /** Starts the workload in `start.pod` and resolves once it has written its ready line. */
  static async start<E extends { readonly event: string }>(start: StdioWorkloadStart<E>): Promise<StdioWorkload<E>> {
    const script = fileURLToPath(new URL(`./workloads/${start.name}.ts`, import.meta.url));
    const child = start.pod.spawn(process.execPath, [script, ...(start.args ?? [])], { env: workloadEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    const workload = new StdioWorkload<E>(start.pod, child, start.what);
    const ready = workload.until(() => workload.events.find(start.ready), Infinity, 'its ready line');
    ready.catch(() => {}); // awaitStart reports an early exit with the stderr itself
    await awaitStart(child, ready, start.what, workload.#stderr, start.startTimeoutMs ?? 10_000);
    return workload;
  }

  private constructor(pod: LabPod, child: ChildProcess, what: string) {
    this.pod = pod;
    this.process = child;
    this.pid = child.pid ?? -1;
    this.what = what;
    this.#stderr = tail(child.stderr);
    if (child.stdout === null || child.stdin === null) throw new WeftError('WEFT_E_LAB_WORKLOAD', `${what} spawned without stdio pipes`);
    child.stdin.on('error', () => {}); // EPIPE once it has exited; reported through 'exit' below
    readJsonLines(
      child.stdout,
      (value) => {
        const event = value as E;
        this.events.push(event);
        if (event.event === 'bad-command') {
          // Only a driver writes commands, so a rejected one is a driver bug: fail every wait loudly.
          this.#fail(new WeftError('WEFT_E_LAB_WORKLOAD', `${what} rejected a command: ${JSON.stringify(value)}`));
        }
        for (const waiter of [...this.#waiters]) waiter.check();
      },
      (line) => this.#fail(new WeftError('WEFT_E_LAB_WORKLOAD', `${what} wrote a line that is not JSON: ${JSON.stringify(line)}`)),
    );
    child.once('exit', (code, signal) => {
      this.#fail(new WeftError('WEFT_E_LAB_WORKLOAD', `${what} has exited (${signal ?? `exit ${code ?? '?'}`}); its stderr: ${JSON.stringify(this.stderr.trim())}`));
    });
  }

  get stderr(): string {
    return this.#stderr();
  }

  /** Writes one command line; throws if the workload has already failed or exited. */
  send(command: object): void {
    if (this.#failure !== undefined) throw this.#failure;
    this.process.stdin?.write(`${JSON.stringify(command)}\n`);
  }

  /**
   * Resolves with the first defined value of `check`, re-run after every line; rejects if the
   * workload exits or fails first, or after `timeoutMs`.
   */
  until<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs === Infinity
          ? undefined
          : setTimeout(() => {
              this.#waiters.delete(waiter);
              const last = this.events.slice(-5).map((e) => JSON.stringify(e).slice(0, 300));
              reject(
                new WeftError(
                  'WEFT_E_LAB_TIMEOUT',
                  `${this.what} did not report ${what} within ${timeoutMs} ms; its last lines: ${last.join(' | ') || 'none'}; stderr: ${JSON.stringify(this.stderr.trim())}`,
                ),
              );
            }, timeoutMs);
      const waiter: Waiter = {
        check: () => {
          const value = check();
          if (value === undefined) return;
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(value);
        },
        fail: (error) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          reject(error);
        },
      };
      this.#waiters.add(waiter);
    });
  }

  /** SIGTERM (then SIGKILL) to its PID; resolves once it has exited. */
  stop(): Promise<void> {
    return stopProcess(this.process);
  }

  #fail(error: WeftError): void {
    this.#failure ??= error;
    for (const waiter of [...this.#waiters]) waiter.fail(error);
  }
}

/**
 * What every driver of a stdio workload offers (pod, PID, stderr, stop) and how it talks to it:
 * a command carries an id, and its answer is the line of the expected event with that id.
 */
export abstract class WorkloadDriver<E extends { readonly event: string }> {
  protected readonly workload: StdioWorkload<E>;
  #nextId = 1;

  protected constructor(workload: StdioWorkload<E>) {
    this.workload = workload;
  }

  get pod(): LabPod {
    return this.workload.pod;
  }

  get pid(): number {
    return this.workload.pid;
  }

  get stderr(): string {
    return this.workload.stderr;
  }

  /** Sends `command` with a fresh id; resolves with the `reply` event carrying that id. */
  protected async ask<N extends E['event']>(command: { readonly op: string } & Record<string, unknown>, reply: N, timeoutMs: number, what: string): Promise<Extract<E, { readonly event: N; readonly id: number }>> {
    const id = this.#nextId++;
    this.workload.send({ ...command, id });
    return this.workload.until(
      () => this.workload.events.find((e): e is Extract<E, { readonly event: N; readonly id: number }> => e.event === reply && (e as { readonly id?: unknown }).id === id),
      timeoutMs,
      what,
    );
  }

  /** SIGTERM (then SIGKILL) to its PID; resolves once it has exited. */
  stop(): Promise<void> {
    return this.workload.stop();
  }
}
