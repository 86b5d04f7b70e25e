// Who the exported spans come from: OTLP's resource (service.name "weft", the node as host.name)
// and instrumentation scope (weft and its version, from package.json).
import { readFileSync } from 'node:fs';
import type { ExportResource } from './otlp-proto.ts';

export function weftResource(nodeName: string): ExportResource {
  const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return { attributes: { 'service.name': 'weft', 'host.name': nodeName }, scope: { name: 'weft', version } };
}
