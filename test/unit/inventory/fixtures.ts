// Kubernetes-shaped objects and temp dirs for the inventory tests.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PodSpec {
  readonly namespace?: string;
  readonly name: string;
  readonly uid?: string;
  readonly nodeName?: string;
  readonly ip?: string;
  readonly ips?: readonly string[];
  readonly phase?: string;
  readonly hostNetwork?: boolean;
  readonly qosClass?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export function podObject(spec: PodSpec): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(spec.namespace === undefined ? {} : { namespace: spec.namespace }),
      name: spec.name,
      ...(spec.uid === undefined ? {} : { uid: spec.uid }),
      ...(spec.labels === undefined ? {} : { labels: spec.labels }),
      ...(spec.annotations === undefined ? {} : { annotations: spec.annotations }),
    },
    spec: {
      ...(spec.nodeName === undefined ? {} : { nodeName: spec.nodeName }),
      ...(spec.hostNetwork === undefined ? {} : { hostNetwork: spec.hostNetwork }),
      containers: [{ name: 'app', image: 'example.invalid/app' }],
    },
    status: {
      ...(spec.phase === undefined ? {} : { phase: spec.phase }),
      ...(spec.ip === undefined ? {} : { podIP: spec.ip }),
      ...(spec.ips === undefined ? {} : { podIPs: spec.ips.map((ip) => ({ ip })) }),
      ...(spec.qosClass === undefined ? {} : { qosClass: spec.qosClass }),
    },
  };
}

export function namespaceObject(name: string, annotations?: Record<string, string>): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(annotations === undefined ? {} : { annotations }) } };
}

export function list(items: readonly unknown[]): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 2);
}

export const UID_A = '0b5e6b4c-1f2a-4d3e-9c8b-7a6f5e4d3c2b';
export const UID_B = '1c6f7c5d-2a3b-4e4f-8d9c-8b7a6f5e4d3c';
export const UID_C = '2d708d6e-3b4c-4f50-9e0d-9c8b7a6f5e4d';

export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), 'weft-unit-inventory-'));

  file(name: string): string {
    return join(this.path, name);
  }

  /** Writes in place (truncate + write), as `echo > file` does. */
  write(name: string, text: string): string {
    const path = this.file(name);
    writeFileSync(path, text);
    return path;
  }

  /** Writes a sibling and renames it over the file, as editors and `kubectl`-style tools do. */
  replace(name: string, text: string): string {
    const path = this.file(name);
    const tmp = this.file(`.${name}.tmp-${process.hrtime.bigint()}`);
    writeFileSync(tmp, text);
    renameSync(tmp, path);
    return path;
  }

  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}
