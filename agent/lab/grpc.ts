// Drivers for the gRPC workloads: a grpc-js server of weft.lab.Echo in one pod that reports every
// call it sees (metadata, the deadline that arrived, the status it ended with), and a grpc-js
// client that lives in another pod and makes calls of the four kinds when asked.
import type { LabPod } from './pod.ts';
import { StdioWorkload, WorkloadDriver } from './stdio-workload.ts';
import type { GrpcCallKind, GrpcCallReport, GrpcClientEvent, GrpcEchoRequest, GrpcServerEvent, GrpcServerMode } from './workloads/protocol.ts';

export type { GrpcCallKind, GrpcCallReport, GrpcEchoReply, GrpcEchoRequest, GrpcMethod, GrpcServerMode } from './workloads/protocol.ts';
export { GRPC_ECHO_SERVICE } from './workloads/protocol.ts';

type CallLine = Extract<GrpcServerEvent, { event: 'call' }>;
type EndLine = Extract<GrpcServerEvent, { event: 'call-end' }>;
export type GrpcCallEnd = Omit<EndLine, 'event' | 'id'>;
/** A call as the server saw it; `end` once it has ended. */
export type GrpcCallSeen = Omit<CallLine, 'event'> & { readonly end: GrpcCallEnd | undefined };

export interface GrpcServerOptions {
  /** Default 0: the kernel picks, and `port` tells which. */
  readonly port?: number;
  readonly host?: string;
  readonly startTimeoutMs?: number;
}

export class GrpcServer extends WorkloadDriver<GrpcServerEvent> {
  readonly port: number;

  static async start(pod: LabPod, options: GrpcServerOptions = {}): Promise<GrpcServer> {
    const workload = await StdioWorkload.start<GrpcServerEvent>({
      pod,
      name: 'grpc-server',
      args: ['--port', String(options.port ?? 0), '--host', options.host ?? '0.0.0.0'],
      what: `grpc server in pod ${pod.name}`,
      ready: (e) => e.event === 'listening',
      ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    });
    return new GrpcServer(workload);
  }

  private constructor(workload: StdioWorkload<GrpcServerEvent>) {
    super(workload);
    const listening = workload.events.find((e) => e.event === 'listening');
    this.port = listening?.port ?? 0;
  }

  /** Every call that arrived so far, oldest first. */
  get calls(): readonly GrpcCallSeen[] {
    const ends = new Map<number, GrpcCallEnd>();
    for (const e of this.workload.events) {
      if (e.event === 'call-end') {
        const { event: _event, id, ...end } = e;
        ends.set(id, end);
      }
    }
    return this.workload.events.flatMap((e) => {
      if (e.event !== 'call') return [];
      const { event: _event, ...seen } = e;
      return [{ ...seen, end: ends.get(e.id) }];
    });
  }

  /** The first call (seen or to come) matching `predicate` that has ended. */
  waitForCallEnd(predicate: (c: GrpcCallSeen) => boolean = () => true, timeoutMs = 5000): Promise<GrpcCallSeen & { readonly end: GrpcCallEnd }> {
    return this.workload.until(
      () => this.calls.find((c): c is GrpcCallSeen & { end: GrpcCallEnd } => c.end !== undefined && predicate(c)),
      timeoutMs,
      'the end of a matching call',
    );
  }

  /** Every later call ends with `mode.code` (when set) and waits `mode.delayMs` more; `{}` is back to normal. */
  async setMode(mode: GrpcServerMode, timeoutMs = 5000): Promise<void> {
    await this.ask({ op: 'mode', mode }, 'mode', timeoutMs, 'the ack of a mode');
  }
}

export interface GrpcCallOptions {
  /** host:port */
  readonly target: string;
  readonly call: GrpcCallKind;
  /** unary and server-stream send the first (default `{}`); client-stream and bidi send all, then half-close. */
  readonly requests?: readonly GrpcEchoRequest[];
  readonly metadata?: Readonly<Record<string, string>>;
  /** Relative deadline, sent as grpc-timeout; default none. */
  readonly deadlineMs?: number;
  /** A fresh channel (connection) for this call. */
  readonly newChannel?: boolean;
  /** How long the driver waits for the result when there is no deadline; default 10 s. */
  readonly waitMs?: number;
}

const REPORT_SLACK_MS = 5000;

export class GrpcClient extends WorkloadDriver<GrpcClientEvent> {
  static async start(pod: LabPod, options: { readonly startTimeoutMs?: number } = {}): Promise<GrpcClient> {
    const workload = await StdioWorkload.start<GrpcClientEvent>({
      pod,
      name: 'grpc-client',
      what: `grpc client in pod ${pod.name}`,
      ready: (e) => e.event === 'ready',
      ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    });
    return new GrpcClient(workload);
  }

  private constructor(workload: StdioWorkload<GrpcClientEvent>) {
    super(workload);
  }

  /** One call from inside the pod; resolves with its status (an error status is a result, not a rejection). */
  async call(options: GrpcCallOptions): Promise<GrpcCallReport> {
    const line = await this.ask(
      {
        op: 'call',
        call: options.call,
        target: options.target,
        requests: options.requests ?? [{}],
        metadata: options.metadata ?? {},
        deadlineMs: options.deadlineMs ?? null,
        newChannel: options.newChannel === true,
      },
      'result',
      (options.deadlineMs ?? options.waitMs ?? 10_000) + REPORT_SLACK_MS,
      `the result of a ${options.call} call to ${options.target}`,
    );
    const { event: _event, id: _id, ...report } = line;
    return report;
  }
}

export function startGrpcServer(pod: LabPod, options: GrpcServerOptions = {}): Promise<GrpcServer> {
  return GrpcServer.start(pod, options);
}

export function startGrpcClient(pod: LabPod, options: { readonly startTimeoutMs?: number } = {}): Promise<GrpcClient> {
  return GrpcClient.start(pod, options);
}
