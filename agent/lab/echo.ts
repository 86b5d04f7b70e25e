// Driver for the echo-server workload: start it in a pod, learn its port, and watch the
// connections it reports (with the peer address its kernel saw).
import type { ChildProcess } from 'node:child_process';
import { WeftError } from '../errors.ts';
import { readJsonLines } from './json-lines.ts';
import type { LabPod } from './pod.ts';
import { awaitStart, stopProcess, tail, workloadEnv, workloadPath } from './workload-process.ts';
import type { ConnectionEnd, EchoServerEvent } from './workloads/protocol.ts';

export interface EchoServerOptions {
  /** Default 0: the kernel picks, and `port` tells which. */
  readonly port?: number;
  /** Default 0.0.0.0. */
  readonly host?: string;
  /** Send `{"peer":…,"port":…}\n` to each client first. */
  readonly greet?: boolean;
  /** Answer the first bytes with a TCP reset. */
  readonly reset?: boolean;
  readonly startTimeoutMs?: number;
}

export interface EchoClose {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly how: ConnectionEnd;
  readonly errorCode: string | null;
}

export interface EchoConnection {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Set once the server has seen the connection close. */
  readonly closed: EchoClose | undefined;
}

type MutableConnection = { -readonly [K in keyof EchoConnection]: EchoConnection[K] };

export class EchoServer {
  readonly pod: LabPod;
  readonly process: ChildProcess;
  readonly pid: number;
  #address = '';
  #port = 0;
  readonly #connections = new Map<number, MutableConnection>();
  readonly #changed = new Set<() => void>();
  readonly #stderr: () => string;
  readonly #listening: Promise<void>;

  /** Starts the echo-server workload in `pod` and resolves once it listens. */
  static async start(pod: LabPod, options: EchoServerOptions = {}): Promise<EchoServer> {
    const args = [workloadPath('echo-server'), '--port', String(options.port ?? 0), '--host', options.host ?? '0.0.0.0'];
    if (options.greet === true) args.push('--greet');
    if (options.reset === true) args.push('--reset');
    const child = pod.spawn(process.execPath, args, { env: workloadEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new EchoServer(pod, child);
    await awaitStart(child, server.#listening, `echo server in pod ${pod.name}`, server.#stderr, options.startTimeoutMs ?? 10_000);
    return server;
  }

  private constructor(pod: LabPod, child: ChildProcess) {
    this.pod = pod;
    this.process = child;
    this.pid = child.pid ?? -1;
    this.#stderr = tail(child.stderr);
    let onListening: () => void = () => {};
    this.#listening = new Promise((resolve) => (onListening = resolve));
    if (child.stdout === null) throw new WeftError('WEFT_E_LAB_WORKLOAD', 'echo server spawned without a stdout pipe');
    readJsonLines(child.stdout, (value) => {
      const event = value as EchoServerEvent;
      if (event.event === 'listening') {
        this.#address = event.address;
        this.#port = event.port;
        onListening();
      } else if (event.event === 'connection') {
        const { id, remoteAddress, remotePort, localAddress, localPort } = event;
        this.#connections.set(id, { id, remoteAddress, remotePort, localAddress, localPort, closed: undefined });
      } else if (event.event === 'closed') {
        const { bytesIn, bytesOut, how, errorCode } = event;
        const connection = this.#connections.get(event.id);
        if (connection !== undefined) connection.closed = { bytesIn, bytesOut, how, errorCode };
      }
      for (const notify of [...this.#changed]) notify();
    });
  }

  /** The address it listens on (as given, e.g. 0.0.0.0). */
  get address(): string {
    return this.#address;
  }

  get port(): number {
    return this.#port;
  }

  /** Every connection the server has accepted so far, oldest first. */
  get connections(): readonly EchoConnection[] {
    return [...this.#connections.values()].map((c) => ({ ...c }));
  }

  get stderr(): string {
    return this.#stderr();
  }

  /** The first connection (already seen or still to come) that matches `predicate`. */
  waitForConnection(predicate: (c: EchoConnection) => boolean = () => true, timeoutMs = 5000): Promise<EchoConnection> {
    return this.#until(() => this.connections.find(predicate), timeoutMs, 'a matching connection');
  }

  /** How connection `id` closed, once the server has seen it close. */
  waitForClose(id: number, timeoutMs = 5000): Promise<EchoClose> {
    return this.#until(() => this.#connections.get(id)?.closed, timeoutMs, `close of connection ${id}`);
  }

  /** SIGTERM (then SIGKILL) to its PID; resolves once it has exited. */
  stop(): Promise<void> {
    return stopProcess(this.process);
  }

  #until<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const onChange = (): void => {
        const value = check();
        if (value === undefined) return;
        done();
        resolve(value);
      };
      const timer = setTimeout(() => {
        done();
        const seen = this.connections.map((c) => `${c.remoteAddress}:${c.remotePort}`).join(', ') || 'none';
        reject(
          new WeftError(
            'WEFT_E_LAB_TIMEOUT',
            `echo server in pod ${this.pod.name} saw no ${what} within ${timeoutMs} ms (connections seen: ${seen})`,
          ),
        );
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#changed.delete(onChange);
      };
      this.#changed.add(onChange);
    });
  }
}

export function startEchoServer(pod: LabPod, options: EchoServerOptions = {}): Promise<EchoServer> {
  return EchoServer.start(pod, options);
}
