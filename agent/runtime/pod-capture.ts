// Meshing running pods without a restart: for every pod the inventory says lives here and the mesh
// policy admits, find its cgroup and netns, open the agent's outbound listeners INSIDE its netns,
// and only then mark its cgroup in the meshed-cgroups map (the other order would send its
// connections to a port nobody listens on yet). A pod that leaves is unmarked first, then its
// listeners close. A pod that cannot be captured (netns vanished mid-setup, full map, …) is logged,
// counted and retried; every other pod keeps being served.
import type { Server, Socket } from 'node:net';
import { describeError } from '../errors.ts';
import type { PodPlacement } from '../inventory/resolver.ts';
import type { QosClass } from '../inventory/types.ts';

export type { PodPlacement };

export interface CapturePod {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  /** Where the kubelet put the pod's cgroup, when the source knows it (saves a search). */
  readonly qosClass?: QosClass;
}

export interface PodListeners {
  readonly servers: readonly Server[];
  readonly v4: boolean;
  readonly v6: boolean;
  readonly netnsCookie: bigint;
}

export interface PodCaptureDeps {
  locate(pod: CapturePod): PodPlacement;
  /** Opens the outbound listeners in the pod's netns; each accepted socket goes to `onConnection`. */
  openListeners(netnsPath: string, onConnection: (socket: Socket) => void): Promise<PodListeners>;
  /** Builds the connection handler for one captured pod. */
  connectionHandler(pod: CapturePod, placement: ReadyPlacement, listeners: PodListeners): (socket: Socket) => void;
  mesh(cgroupId: bigint, flags: { v4: boolean; v6: boolean }): void;
  unmesh(cgroupId: bigint): void;
  log(level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>): void;
}

export type ReadyPlacement = Extract<PodPlacement, { kind: 'ready' }>;

export interface PodCaptureParams {
  /** How often pods that are not ready yet, or failed, are tried again. */
  readonly retryMs: number;
  /** How often captured pods are checked for a vanished cgroup or a recreated netns. */
  readonly recheckMs: number;
}

export const podCaptureParams: PodCaptureParams = { retryMs: 200, recheckMs: 2000 };

export type CaptureState = 'pending' | 'meshed' | 'failed' | 'excluded';

export interface PodCaptureStatus {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly state: CaptureState;
  readonly reason: string | undefined;
  readonly cgroupPath: string | undefined;
  readonly cgroupId: string | undefined;
  readonly netnsPath: string | undefined;
  readonly listeners: { readonly v4: boolean; readonly v6: boolean } | undefined;
  readonly capturedSince: string | undefined;
  readonly attempts: number;
}

interface Entry {
  pod: CapturePod;
  state: CaptureState;
  reason: string | undefined;
  placement: ReadyPlacement | undefined;
  listeners: PodListeners | undefined;
  capturedSince: Date | undefined;
  attempts: number;
  /** Set while an async capture is in flight, so updates never race it. */
  busy: boolean;
  removed: boolean;
}

export class PodCapture {
  readonly #deps: PodCaptureDeps;
  readonly #pods = new Map<string, Entry>();
  readonly #timers: NodeJS.Timeout[] = [];
  #closed = false;
  /** Capture failures by reason class, for /status and metrics. */
  readonly failures = new Map<string, number>();

  constructor(params: PodCaptureParams, deps: PodCaptureDeps) {
    this.#deps = deps;
    const retry = setInterval(() => this.#retryPending(), params.retryMs);
    const recheck = setInterval(() => this.#recheckMeshed(), params.recheckMs);
    retry.unref();
    recheck.unref();
    this.#timers.push(retry, recheck);
  }

  /** The inventory's desired set: pods to capture, and pods listed but excluded by policy (with why). */
  setDesired(wanted: readonly CapturePod[], excluded: ReadonlyArray<{ pod: CapturePod; reason: string }>): void {
    const keep = new Set<string>();
    for (const pod of wanted) {
      keep.add(pod.uid);
      const entry = this.#pods.get(pod.uid);
      if (entry === undefined || entry.state === 'excluded') {
        if (entry !== undefined) entry.removed = true;
        const fresh = this.#newEntry(pod, 'pending', 'waiting for cgroup and netns');
        this.#pods.set(pod.uid, fresh);
        void this.#capture(fresh);
      } else {
        entry.pod = pod;
      }
    }
    for (const { pod, reason } of excluded) {
      keep.add(pod.uid);
      const entry = this.#pods.get(pod.uid);
      if (entry !== undefined && entry.state !== 'excluded') this.#release(entry, `excluded: ${reason}`);
      this.#pods.set(pod.uid, this.#newEntry(pod, 'excluded', reason));
    }
    for (const [uid, entry] of this.#pods) {
      if (!keep.has(uid)) {
        this.#release(entry, 'pod left the node');
        this.#pods.delete(uid);
      }
    }
  }

  get meshedCount(): number {
    let count = 0;
    for (const entry of this.#pods.values()) if (entry.state === 'meshed') count += 1;
    return count;
  }

  status(): PodCaptureStatus[] {
    return [...this.#pods.values()].map((entry) => ({
      uid: entry.pod.uid,
      namespace: entry.pod.namespace,
      name: entry.pod.name,
      state: entry.state,
      reason: entry.reason,
      cgroupPath: entry.placement?.cgroupPath,
      cgroupId: entry.placement?.cgroupId.toString(),
      netnsPath: entry.placement?.netnsPath,
      listeners: entry.listeners === undefined ? undefined : { v4: entry.listeners.v4, v6: entry.listeners.v6 },
      capturedSince: entry.capturedSince?.toISOString(),
      attempts: entry.attempts,
    }));
  }

  /** Cgroup ids of captured pods, for reading their BPF counters. */
  meshedCgroups(): Array<{ uid: string; cgroupId: bigint }> {
    const out: Array<{ uid: string; cgroupId: bigint }> = [];
    for (const entry of this.#pods.values()) {
      if (entry.state === 'meshed' && entry.placement !== undefined) out.push({ uid: entry.pod.uid, cgroupId: entry.placement.cgroupId });
    }
    return out;
  }

  /** Releases every pod: unmarks cgroups first so new connections go direct, then closes listeners. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    for (const entry of this.#pods.values()) this.#release(entry, 'agent stopping');
    this.#pods.clear();
  }

  #newEntry(pod: CapturePod, state: CaptureState, reason: string): Entry {
    return {
      pod, state, reason, placement: undefined, listeners: undefined, capturedSince: undefined, attempts: 0,
      busy: false, removed: false,
    };
  }

  async #capture(entry: Entry): Promise<void> {
    if (entry.busy || entry.removed || this.#closed) return;
    entry.busy = true;
    entry.attempts += 1;
    try {
      const placement = this.#deps.locate(entry.pod);
      if (placement.kind === 'not-ready') {
        entry.state = 'pending';
        entry.reason = placement.reason;
        return;
      }
      let listeners: PodListeners | undefined;
      const onConnection = (socket: Socket): void => handler(socket);
      let handler: (socket: Socket) => void = (socket) => socket.resetAndDestroy();
      try {
        listeners = await this.#deps.openListeners(placement.netnsPath, onConnection);
        handler = this.#deps.connectionHandler(entry.pod, placement, listeners);
        if (entry.removed || this.#closed) throw new Error('pod released while it was being captured');
        this.#deps.mesh(placement.cgroupId, { v4: listeners.v4, v6: listeners.v6 });
      } catch (error) {
        if (listeners !== undefined) for (const server of listeners.servers) server.close();
        throw error;
      }
      entry.placement = placement;
      entry.listeners = listeners;
      entry.state = 'meshed';
      entry.reason = undefined;
      entry.capturedSince = new Date();
      this.#deps.log('info', 'pod meshed', {
        pod: `${entry.pod.namespace}/${entry.pod.name}`, uid: entry.pod.uid, cgroup: placement.cgroupPath,
        netns: placement.netnsPath, v4: listeners.v4, v6: listeners.v6,
      });
    } catch (error) {
      entry.state = 'failed';
      entry.reason = describeError(error);
      const key = (error as { code?: string }).code ?? 'error';
      this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
      // Logged once per failure kind change, not on every retry, so a stuck pod cannot flood logs.
      if (entry.attempts === 1 || entry.attempts % 50 === 0) {
        this.#deps.log('warn', 'pod capture failed; will retry', {
          pod: `${entry.pod.namespace}/${entry.pod.name}`, uid: entry.pod.uid, attempts: entry.attempts, error: entry.reason,
        });
      }
    } finally {
      entry.busy = false;
    }
  }

  #release(entry: Entry, why: string): void {
    entry.removed = true;
    if (entry.placement !== undefined && entry.state === 'meshed') {
      try {
        this.#deps.unmesh(entry.placement.cgroupId);
      } catch (error) {
        this.#deps.log('error', 'could not unmesh pod', { uid: entry.pod.uid, error: describeError(error) });
      }
    }
    if (entry.listeners !== undefined) for (const server of entry.listeners.servers) server.close();
    if (entry.state === 'meshed') {
      this.#deps.log('info', 'pod released', { pod: `${entry.pod.namespace}/${entry.pod.name}`, uid: entry.pod.uid, why });
    }
    entry.listeners = undefined;
    entry.state = 'pending';
  }

  #retryPending(): void {
    for (const entry of this.#pods.values()) {
      if (entry.state === 'pending' || entry.state === 'failed') void this.#capture(entry);
    }
  }

  /** A captured pod whose sandbox was recreated (new netns) is captured again in the new one. */
  #recheckMeshed(): void {
    for (const [uid, entry] of this.#pods) {
      if (entry.state !== 'meshed' || entry.placement === undefined || entry.busy) continue;
      const now = this.#deps.locate(entry.pod);
      if (now.kind === 'ready' && now.netnsId === entry.placement.netnsId && now.cgroupId === entry.placement.cgroupId) continue;
      this.#release(entry, now.kind === 'ready' ? 'netns or cgroup changed' : now.reason);
      const fresh = this.#newEntry(entry.pod, 'pending', 'recapturing');
      this.#pods.set(uid, fresh);
      void this.#capture(fresh);
    }
  }
}
