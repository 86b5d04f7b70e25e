// The runtime's view of agent/intercept: programs attached at the pods root, the meshed-cgroups
// map, original destinations, and sockets made inside a pod's netns. Adapts the Interceptor to
// the small port the runtime declares, so the runtime never sees the addon or the ABI.
import type { Server, Socket } from 'node:net';
import { startInterceptor } from '../intercept/index.ts';
import type { LogFn } from '../intercept/index.ts';
import type { InPodSockets, InterceptorPort } from './agent.ts';

export interface CaptureOptions {
  readonly bpffs: string;
  readonly pinDir: string;
  readonly podsRoot: string;
  readonly outboundPort: number;
  readonly excludedPorts: readonly number[];
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly log: LogFn;
}

export function startCapture(options: CaptureOptions): InterceptorPort {
  const interceptor = startInterceptor(
    {
      bpffs: options.bpffs,
      pinDir: options.pinDir,
      podsRoot: options.podsRoot,
      redirectPort: options.outboundPort,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      excludedPorts: options.excludedPorts,
    },
    { log: options.log },
  );
  return {
    meshPod: (cgroupId, flags) => interceptor.meshPod(cgroupId, flags),
    unmeshPod: (cgroupId) => void interceptor.unmeshPod(cgroupId),
    counters: (cgroupId) => interceptor.counters(cgroupId),
    originalDestination: (netnsCookie, family, clientPort) => interceptor.originalDestination(netnsCookie, family, clientPort),
    inPod(netnsPath): InPodSockets {
      const factory = interceptor.socketFactoryFor(netnsPath);
      return {
        netnsCookie: factory.netnsCookie,
        // Half-open on both sides: a client's FIN must reach upstream as a FIN, not close both ways.
        listen: (address: string, port: number): Promise<Server> =>
          factory.listen({ address, port, serverOptions: { allowHalfOpen: true } }),
        connect: (target): Socket => factory.connect({ address: target.address, port: target.port, allowHalfOpen: true }),
      };
    },
    attachments: () => interceptor.attachments(),
    close: () => interceptor.close(),
  };
}
