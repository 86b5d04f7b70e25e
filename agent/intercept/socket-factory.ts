// The seam every listener and connector goes through: sockets in the host netns, or inside a pod's
// netns (ztunnel's InPodSocketFactory). An in-pod socket is made by the addon in one synchronous
// call (setns → socket/bind → setns back) and handed to Node as an fd; the JavaScript thread never
// stays in the pod's netns, yet the socket lives there for good: a listener on the pod's 127.0.0.1,
// or a connection that leaves with the pod's own source IP.
import net from 'node:net';
import { describeError, WeftError } from '../errors.ts';
import type { NativeAddon } from './addon.ts';
import { nativeAddon } from './addon.ts';

export interface ListenSpec {
  readonly address: string;
  readonly port: number;
  readonly backlog?: number;
  /** Passed to net.createServer (allowHalfOpen, pauseOnConnect, …). */
  readonly serverOptions?: net.ServerOpts;
  /** The 'connection' listener. */
  readonly onConnection?: (socket: net.Socket) => void;
}

export interface ConnectSpec {
  readonly address: string;
  readonly port: number;
  /** Source address to bind (the port is still chosen at connect time). */
  readonly localAddress?: string;
  readonly allowHalfOpen?: boolean;
}

export interface SocketFactory {
  /** A listening server; rejects (WEFT_E_INTERCEPT_SOCKET) if the address cannot be bound. */
  listen(spec: ListenSpec): Promise<net.Server>;
  /** A connecting socket ('connect' or 'error' follows); throws synchronously only if no socket could be made. */
  connect(spec: ConnectSpec): net.Socket;
  /** The netns the sockets live in (SO_NETNS_COOKIE), or undefined for the host factory. */
  readonly netnsCookie: bigint | undefined;
  describe(): string;
}

export interface InPodSocketFactory extends SocketFactory {
  readonly netnsPath: string;
  readonly netnsCookie: bigint;
  /**
   * A raw listening fd in the pod's netns, for callers that build their own net.Server
   * (`server.listen({ fd })`). The caller owns it: hand it to Node or closeFd() it.
   */
  listenFd(spec: { readonly address: string; readonly port: number; readonly backlog?: number }): number;
}

export const hostSocketFactory: SocketFactory = {
  netnsCookie: undefined,
  listen(spec) {
    const server = net.createServer(spec.serverOptions ?? {}, spec.onConnection);
    const options: net.ListenOptions = { host: spec.address, port: spec.port, ...(spec.backlog === undefined ? {} : { backlog: spec.backlog }) };
    return listenOn(server, (done) => server.listen(options, done), 'host', spec);
  },
  connect(spec) {
    return net.connect({
      host: spec.address,
      port: spec.port,
      ...(spec.localAddress === undefined ? {} : { localAddress: spec.localAddress }),
      ...(spec.allowHalfOpen === undefined ? {} : { allowHalfOpen: spec.allowHalfOpen }),
    });
  },
  describe: () => 'host netns',
};

/** Sockets inside the netns at `netnsPath` (/proc/<pid>/ns/net or /run/netns/<name>). Throws if it cannot be entered. */
export function inPodSocketFactory(netnsPath: string, addon: NativeAddon = nativeAddon()): InPodSocketFactory {
  let netnsCookie: bigint;
  try {
    // Also proves, up front, that the netns exists and can be entered.
    netnsCookie = addon.netnsCookie(netnsPath);
  } catch (error) {
    throw new WeftError('WEFT_E_INTERCEPT_NETNS', `cannot enter the pod's network namespace ${netnsPath}: ${describeError(error)}`, { cause: error });
  }
  const where = `netns ${netnsPath}`;

  const listenFd = (spec: { readonly address: string; readonly port: number; readonly backlog?: number }): number => {
    try {
      return addon.openSocketInNetns(netnsPath, {
        family: familyOf(spec.address),
        role: 'listen',
        address: spec.address,
        port: spec.port,
        ...(spec.backlog === undefined ? {} : { backlog: spec.backlog }),
      });
    } catch (error) {
      throw socketError(error, `listen on ${endpoint(spec.address, spec.port)} in ${where}`);
    }
  };

  return {
    netnsPath,
    netnsCookie,
    listenFd,
    listen(spec) {
      let fd: number;
      try {
        fd = listenFd(spec);
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      const server = net.createServer(spec.serverOptions ?? {}, spec.onConnection);
      // Node adopts the fd (and closes it with the server); the addon already bound and listened.
      return listenOn(server, (done) => server.listen({ fd }, done), where, spec);
    },
    connect(spec) {
      const family = familyOf(spec.address);
      let fd: number;
      try {
        fd = addon.openSocketInNetns(netnsPath, {
          family,
          role: 'connect',
          ...(spec.localAddress === undefined ? {} : { address: spec.localAddress }),
        });
      } catch (error) {
        throw socketError(error, `connect to ${endpoint(spec.address, spec.port)} from ${where}`);
      }
      // manualStart: Node would otherwise start reading the fd at once, and reading a socket that
      // is not connected yet fails (read ENOTCONN) if the loop polls it before connect() runs.
      // Reading starts by itself once the connection is up. (An internal option, as child_process uses.)
      const options: net.SocketConstructorOpts & { manualStart: boolean } = {
        fd,
        manualStart: true,
        readable: true,
        writable: true,
        ...(spec.allowHalfOpen === undefined ? {} : { allowHalfOpen: spec.allowHalfOpen }),
      };
      let socket: net.Socket;
      try {
        socket = new net.Socket(options);
      } catch (error) {
        addon.closeFd(fd);
        throw socketError(error, `adopt a socket made in ${where}`);
      }
      return socket.connect(spec.port, spec.address);
    },
    describe: () => `${where} (cookie ${netnsCookie})`,
  };
}

function familyOf(address: string): 4 | 6 {
  const family = net.isIP(address);
  if (family === 4 || family === 6) return family;
  throw new WeftError('WEFT_E_INTERCEPT_ADDRESS', `${JSON.stringify(address)} is not an IP address; in-pod sockets take addresses, not names`);
}

function endpoint(address: string, port: number): string {
  return net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

function socketError(error: unknown, what: string): WeftError {
  if (error instanceof WeftError) return error;
  return new WeftError('WEFT_E_INTERCEPT_SOCKET', `could not ${what}: ${describeError(error)}`, { cause: error });
}

function listenOn(server: net.Server, start: (done: () => void) => void, where: string, spec: ListenSpec): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(socketError(error, `listen on ${endpoint(spec.address, spec.port)} in ${where}`));
    };
    server.once('error', onError);
    start(() => {
      server.off('error', onError);
      resolve(server);
    });
  });
}
