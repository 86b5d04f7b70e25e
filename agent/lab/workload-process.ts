// What the workload drivers share: where the workload programs are, the environment they run
// with, waiting for a workload's first line, and stopping one by its PID.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { WeftError } from '../errors.ts';

export type WorkloadName = 'echo-server' | 'tcp-client';

export function workloadPath(name: WorkloadName): string {
  return fileURLToPath(new URL(`./workloads/${name}.ts`, import.meta.url));
}

/**
 * The caller's environment minus NODE_TEST_CONTEXT: under `node --test` that variable would make a
 * workload (itself a Node process) believe it is a test file and speak the runner's protocol.
 */
export function workloadEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT'];
  return env;
}

/** Keeps the last `limit` characters of a stream, for error messages. */
export function tail(stream: NodeJS.ReadableStream | null, limit = 4000): () => string {
  let text = '';
  stream?.on('data', (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-limit);
  });
  return () => text;
}

/**
 * Resolves when `ready` settles; fails with the workload's stderr if the process exits first or
 * takes longer than `timeoutMs`.
 */
export async function awaitStart<T>(child: ChildProcess, ready: Promise<T>, what: string, stderr: () => string, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    const fail = (why: string): void =>
      reject(new WeftError('WEFT_E_LAB_WORKLOAD', `${what} ${why}; its stderr: ${JSON.stringify(stderr().trim())}`));
    child.once('exit', (code, signal) => fail(`exited before it was ready (${signal ?? `exit ${code ?? '?'}`})`));
    child.once('error', (error) => fail(`could not start: ${error.message}`));
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(`was not ready within ${timeoutMs} ms (killed)`);
    }, timeoutMs);
  });
  try {
    return await Promise.race([ready, failed]);
  } finally {
    clearTimeout(timer);
  }
}

/** SIGTERM to the process's PID, SIGKILL after `graceMs`; resolves once it has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}
