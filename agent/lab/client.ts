// Driver for the tcp-client workload: a client process that lives in a pod and makes a new
// connection whenever asked, so a test can start it BEFORE the agent meshes the pod and show that
// its later connections are captured without a restart.
import type { ChildProcess } from 'node:child_process';
import { WeftError } from '../errors.ts';
import { readJsonLines } from './json-lines.ts';
import type { LabPod } from './pod.ts';
import { awaitStart, stopProcess, tail, workloadEnv, workloadPath } from './workload-process.ts';
import type { ClientCommand, ClientEvent, ConnectionEnd } from './workloads/protocol.ts';

export interface TcpConnectOptions {
  readonly host: string;
  readonly port: number;
  /** Bytes to send once connected; default none. */
  readonly send?: string | Uint8Array;
  /** Default true: FIN after sending, then read until the peer ends. False: wait for the peer to end. */
  readonly halfClose?: boolean;
  /** The client gives the connection this long (then reports `timeout`); default 5000 ms. */
  readonly timeoutMs?: number;
}

export interface TcpConnectResult {
  readonly connected: boolean;
  /** Our side's address as the client saw it (null if it never connected). */
  readonly localAddress: string | null;
  readonly localPort: number | null;
  readonly remoteAddress: string | null;
  readonly remotePort: number | null;
  readonly received: Buffer;
  readonly how: ConnectionEnd;
  /** ECONNREFUSED, ECONNRESET, … when `how` is reset or error. */
  readonly errorCode: string | null;
  readonly durationMs: number;
}

/** Time allowed for the report on top of the connection's own timeout. */
const REPORT_SLACK_MS = 5000;

interface Pending {
  readonly resolve: (result: TcpConnectResult) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class TcpClient {
  readonly pod: LabPod;
  readonly process: ChildProcess;
  readonly pid: number;
  readonly #pending = new Map<number, Pending>();
  readonly #stderr: () => string;
  readonly #ready: Promise<void>;
  #nextId = 1;
  #exited: string | undefined;

  /** Starts the tcp-client workload in `pod` and resolves once it is ready for commands. */
  static async start(pod: LabPod, options: { readonly startTimeoutMs?: number } = {}): Promise<TcpClient> {
    const child = pod.spawn(process.execPath, [workloadPath('tcp-client')], { env: workloadEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    const client = new TcpClient(pod, child);
    await awaitStart(child, client.#ready, `tcp client in pod ${pod.name}`, client.#stderr, options.startTimeoutMs ?? 10_000);
    return client;
  }

  private constructor(pod: LabPod, child: ChildProcess) {
    this.pod = pod;
    this.process = child;
    this.pid = child.pid ?? -1;
    this.#stderr = tail(child.stderr);
    let onReady: () => void = () => {};
    this.#ready = new Promise((resolve) => (onReady = resolve));
    if (child.stdout === null || child.stdin === null) throw new WeftError('WEFT_E_LAB_WORKLOAD', 'tcp client spawned without stdio pipes');
    child.stdin.on('error', () => {}); // EPIPE once it has exited; reported through 'exit' below
    readJsonLines(child.stdout, (value) => this.#onEvent(value as ClientEvent, onReady));
    child.once('exit', (code, signal) => {
      this.#exited = signal ?? `exit ${code ?? '?'}`;
      for (const [id, pending] of this.#pending) this.#settle(id, pending, new WeftError('WEFT_E_LAB_WORKLOAD', this.#goneMessage()));
    });
  }

  get stderr(): string {
    return this.#stderr();
  }

  /** Makes one new connection from inside the pod and reports how it went. Rejects only if the client itself fails. */
  connect(options: TcpConnectOptions): Promise<TcpConnectResult> {
    if (this.#exited !== undefined) return Promise.reject(new WeftError('WEFT_E_LAB_WORKLOAD', this.#goneMessage()));
    const id = this.#nextId++;
    const timeoutMs = options.timeoutMs ?? 5000;
    const send = options.send === undefined ? Buffer.alloc(0) : Buffer.from(options.send);
    const command: ClientCommand = {
      id,
      op: 'connect',
      host: options.host,
      port: options.port,
      data: send.toString('base64'),
      halfClose: options.halfClose ?? true,
      timeoutMs,
    };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const pending = this.#pending.get(id);
        const message = `tcp client in pod ${this.pod.name} did not report connection ${id} to ${options.host}:${options.port} within ${timeoutMs + REPORT_SLACK_MS} ms; stderr: ${JSON.stringify(this.stderr.trim())}`;
        if (pending !== undefined) this.#settle(id, pending, new WeftError('WEFT_E_LAB_TIMEOUT', message));
      }, timeoutMs + REPORT_SLACK_MS);
      this.#pending.set(id, { resolve, reject, timer });
      this.process.stdin?.write(`${JSON.stringify(command)}\n`);
    });
  }

  /** SIGTERM (then SIGKILL) to its PID; resolves once it has exited. */
  stop(): Promise<void> {
    return stopProcess(this.process);
  }

  #onEvent(event: ClientEvent, onReady: () => void): void {
    if (event.event === 'ready') return onReady();
    if (event.event === 'bad-command') {
      // Only this driver writes commands, so a bad one is a bug here: fail every waiting call loudly.
      const error = new WeftError('WEFT_E_LAB_WORKLOAD', `tcp client rejected a command (${event.message}): ${event.line}`);
      for (const [id, pending] of this.#pending) this.#settle(id, pending, error);
      return;
    }
    const pending = this.#pending.get(event.id);
    if (pending === undefined) return;
    const { connected, localAddress, localPort, remoteAddress, remotePort, how, errorCode, durationMs } = event;
    const received = Buffer.from(event.received, 'base64');
    this.#settle(event.id, pending, { connected, localAddress, localPort, remoteAddress, remotePort, received, how, errorCode, durationMs });
  }

  #settle(id: number, pending: Pending, outcome: TcpConnectResult | Error): void {
    clearTimeout(pending.timer);
    this.#pending.delete(id);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  #goneMessage(): string {
    return `tcp client in pod ${this.pod.name} has exited (${this.#exited ?? '?'}); stderr: ${JSON.stringify(this.stderr.trim())}`;
  }
}

export function startTcpClient(pod: LabPod, options: { readonly startTimeoutMs?: number } = {}): Promise<TcpClient> {
  return TcpClient.start(pod, options);
}
