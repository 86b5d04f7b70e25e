// `weft status`: asks a running agent's admin endpoint for /status and prints what a person needs
// at a terminal: is it ready (and if not, why), which pods are meshed with their capture counters,
// the routes with success rate, latency, in flight, SLO burn and retry budget, the endpoints with
// their breaker state, the latest failures with their reasons, and what is attached where. The document is read loosely: an agent of another version may add
// or drop fields, and the summary should still print what it can. `--json` prints it as it came.
import { z } from 'zod';
import { isIP } from 'node:net';
import { describeError, WeftError } from '../errors.ts';
import type { CliIo } from './main.ts';
import { burn, millis, percent, statusView } from '../admin/status-view.ts';

export interface StatusCommandOptions {
  /** `host:port` or `[v6]:port` of the admin endpoint. */
  readonly admin: string;
  readonly json: boolean;
  readonly timeoutMs?: number;
}

export interface AdminTarget {
  readonly host: string;
  readonly port: number;
  /** `127.0.0.1:4191` or `[::1]:4191`, for messages. */
  readonly display: string;
  readonly url: string;
}

/** Parses `host:port`, `[::1]:port`; throws WeftError WEFT_E_CLI_USAGE otherwise. */
export function parseAdminTarget(text: string): AdminTarget {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim());
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (match === null || host === undefined || !Number.isInteger(port) || port < 1 || port > 65535 || (match[1] !== undefined && isIP(host) !== 6)) {
    throw new WeftError('WEFT_E_CLI_USAGE', `--admin must be host:port (such as 127.0.0.1:4191 or [::1]:4191), got "${text}"`);
  }
  const display = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  return { host, port, display, url: `http://${display}` };
}

/** The admin target from config, as `weft agent` with the same config would bind it. */
export function adminTargetFromConfig(admin: { readonly address: string; readonly port: number }): AdminTarget {
  if (admin.port === 0) {
    throw new WeftError('WEFT_E_CLI_USAGE', 'admin.port is 0 (any free port), so the agent\'s port is not known here: pass --admin host:port');
  }
  // An agent bound to a wildcard is reached through loopback.
  const host = admin.address === '0.0.0.0' ? '127.0.0.1' : admin.address === '::' ? '::1' : admin.address;
  return parseAdminTarget(isIP(host) === 6 ? `[${host}]:${admin.port}` : `${host}:${admin.port}`);
}

export async function runStatus(options: StatusCommandOptions, io: CliIo): Promise<number> {
  const target = parseAdminTarget(options.admin);
  const document = await fetchStatus(target, options.timeoutMs ?? 3_000);
  if (options.json) io.stdout(`${JSON.stringify(document, null, 2)}\n`);
  else io.stdout(formatStatus(document, target));
  return 0;
}

async function fetchStatus(target: AdminTarget, timeoutMs: number): Promise<unknown> {
  const hint = 'is `weft agent` running? Point --admin at its admin address (admin.address:admin.port)';
  let response: Response;
  try {
    response = await fetch(`${target.url}/status`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new WeftError('WEFT_E_STATUS_UNREACHABLE', `no agent answering at ${target.display} (${fetchFailure(error, timeoutMs)}): ${hint}`, { cause: error });
  }
  const text = await response.text();
  if (response.status !== 200) {
    throw new WeftError('WEFT_E_STATUS_UNREACHABLE', `${target.display} answered /status with HTTP ${response.status}: is that a weft admin endpoint? ${hint}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new WeftError('WEFT_E_STATUS_UNREACHABLE', `${target.display} answered /status with something other than JSON (${describeError(error)}): is that a weft admin endpoint?`);
  }
}

function fetchFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = (error as { cause?: { code?: unknown } }).cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  if (typeof cause?.code === 'string') return cause.code;
  return describeError(error);
}

// The document is read by admin/status-view (loosely: unknown fields ignored, malformed items
// skipped); the attachments are agent/intercept's to shape, so they are printed as loose lines.
const programsSchema = z.object({ programs: z.unknown() }).partial();

/** Rows shown per section; the rest is counted ("and 12 more"). */
const MAX_ROWS = 20;

export function formatStatus(document: unknown, target: AdminTarget, now = new Date()): string {
  const view = statusView(document);
  if (view === undefined) return `${target.display}: /status is not a weft status document; use --json to see it\n`;
  const lines: string[] = [];
  const agent = view.agent;
  const readiness = agent.ready === true ? 'ready' : agent.ready === false ? `NOT READY: ${agent.reasons.join('; ') || 'no reason given'}` : 'readiness unknown';
  const uptime = agent.startedAt === undefined ? '' : `, up ${formatDuration(now.getTime() - Date.parse(agent.startedAt))}`;
  lines.push(`weft agent ${agent.version} at ${target.display} (pid ${agent.pid ?? '?'}${uptime}): ${readiness}`);
  if (view.host.kernel !== '?' || view.host.node !== '?') lines.push(`node ${view.host.node}, kernel ${view.host.kernel}, ${view.host.cpus} CPUs, ${view.host.memory}`);

  const pods = view.pods;
  lines.push('', `pods: ${pods.length} known, ${pods.filter((pod) => pod.meshed).length} meshed`);
  if (pods.length > 0) {
    const rows = pods.map((pod) => [pod.name, pod.state, counter(pod.captured), counter(pod.bypassed), counter(pod.failed), pod.reason]);
    lines.push(...indent(table(['POD', 'STATE', 'CAPTURED', 'BYPASSED', 'FAILED', 'REASON'], rows)));
  }

  lines.push('', view.routes.length === 0 ? 'routes: none yet' : `routes: ${view.routes.length} (success and latency over 5 m; burn rate over 5 m / 1 h, 1 = spending the error budget exactly)`);
  if (view.routes.length > 0) {
    const rows = view.routes.slice(0, MAX_ROWS).map((route) => [
      route.name,
      percent(route.successRate5m),
      route.requests5m === undefined ? '-' : String(route.requests5m),
      millis(route.p50Ms),
      millis(route.p99Ms),
      route.inFlight === undefined ? '-' : String(route.inFlight),
      `${burn(route.burn.success5m)}/${burn(route.burn.success1h)}${route.burning.includes('success') ? ' BURNING' : ''}`,
      `${burn(route.burn.latency5m)}/${burn(route.burn.latency1h)}${route.burning.includes('latency') ? ' BURNING' : ''}`,
      route.budget,
    ]);
    lines.push(...indent(table(['ROUTE', 'SUCCESS', 'REQS', 'P50', 'P99', 'IN FLIGHT', 'BURN OK', 'BURN LAT', 'RETRY BUDGET'], rows)), ...more(view.routes.length));
  }

  if (view.endpoints.length > 0) {
    lines.push('', `endpoints: ${view.endpoints.length}, ${view.endpoints.filter((e) => e.state === 'open').length} ejected`);
    const rows = view.endpoints.slice(0, MAX_ROWS).map((e) => [e.route, e.endpoint, e.state, e.pending === undefined ? '-' : String(e.pending), millis(e.rttMs)]);
    lines.push(...indent(table(['ROUTE', 'ENDPOINT', 'BREAKER', 'IN FLIGHT', 'EWMA'], rows)), ...more(view.endpoints.length));
  }

  const failures = view.failures;
  lines.push('', failures.length === 0 ? 'latest failures: none' : `latest failures (${view.failuresTotal ?? failures.length} since start):`);
  if (failures.length > 0) {
    const shown = failures.slice(0, 10);
    const rows = shown.map((f) => [ago(f.at, now), f.route, f.source, f.status === undefined ? '-' : String(f.status), f.reason]);
    lines.push(...indent(table(['WHEN', 'ROUTE', 'FROM', 'STATUS', 'REASON'], rows)));
  }

  lines.push('', 'attachments:');
  const programs = programsSchema.safeParse(document);
  const attachments = describeLoose(programs.success ? programs.data.programs : undefined);
  lines.push(...(attachments.length === 0 ? ['  none reported'] : attachments.map((line) => `  ${line}`)));

  const totals = view.connections;
  if (totals !== undefined) {
    lines.push('', `connections: ${Object.entries(totals).map(([key, value]) => `${key} ${String(value)}`).join(', ')}`);
  }
  lines.push('', `(full document: weft status --json, or ${target.url}/status?pretty; the page: ${target.url}/)`);
  return `${lines.join('\n')}\n`;
}

function indent(lines: readonly string[]): string[] {
  return lines.map((line) => `  ${line}`);
}

function more(total: number): string[] {
  return total > MAX_ROWS ? [`  and ${total - MAX_ROWS} more`] : [];
}

function ago(iso: string, now: Date): string {
  const ms = now.getTime() - Date.parse(iso);
  return Number.isFinite(ms) ? `${formatDuration(Math.max(0, ms))} ago` : iso;
}

function counter(value: number | undefined): string {
  return value === undefined ? '-' : String(value);
}

/** Left-aligned columns, two spaces apart; trailing blanks trimmed. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const render = (row: readonly string[]): string => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  return [render(header), ...rows.map(render)];
}

/**
 * The attachments' shape is agent/intercept's to choose; print any JSON as short lines: a list
 * gives one line per item, an object one line per key, scalars as `key=value`.
 */
export function describeLoose(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.map((item) => inline(item));
  if (typeof value === 'object') {
    return Object.entries(value).map(([key, inner]) => `${key}: ${inline(inner)}`);
  }
  return [inline(value)];
}

function inline(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return value.map(inline).join(', ');
  if (typeof value === 'object') {
    return Object.entries(value)
      .filter(([, inner]) => inner !== undefined && inner !== null)
      .map(([key, inner]) => `${key}=${typeof inner === 'object' ? JSON.stringify(inner) : inline(inner)}`)
      .join(' ');
  }
  return typeof value;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d${hours % 24}h`;
}
