// `weft tap [--authority a] [--method m] [--path /prefix] [--status 5xx] [--source ns/pod] [--max N]`:
// a live stream of the requests a running agent proxies, one line each, from its admin endpoint's
// GET /tap. Ends after --max requests, or on Ctrl-C. `--json` prints the agent's lines as they came.
import { WeftError } from '../errors.ts';
import type { CliIo } from './main.ts';
import { parseAdminTarget } from './status.ts';

export interface TapCommandOptions {
  readonly admin: string;
  readonly authority?: string | undefined;
  readonly method?: string | undefined;
  readonly path?: string | undefined;
  readonly status?: string | undefined;
  readonly source?: string | undefined;
  readonly max?: string | undefined;
  readonly json: boolean;
  /** Ends the stream (Ctrl-C). */
  readonly signal?: AbortSignal;
}

interface TapLine {
  readonly time?: string;
  readonly source?: string;
  readonly authority?: string;
  readonly route?: string;
  readonly method?: string;
  readonly path?: string;
  readonly status?: number;
  readonly grpcStatus?: number;
  readonly durationMs?: number;
  readonly upstream?: string;
  readonly error?: string;
  readonly traceId?: string;
  readonly dropped?: number;
}

/** One request as a terminal line: when, who, what, the answer, how long, where it went. */
export function formatTapLine(line: TapLine): string {
  if (line.dropped !== undefined) return `… ${line.dropped} requests dropped so far: this reader was too slow`;
  const parts = [
    line.time ?? '-',
    `${line.source === undefined || line.source === '' ? '-' : line.source} → ${line.authority ?? '-'}${line.route !== undefined && line.route !== line.authority ? ` (${line.route})` : ''}`,
    `${line.method ?? '-'} ${line.path ?? '-'}`,
    `${line.status ?? '-'}${line.grpcStatus === undefined ? '' : ` grpc=${line.grpcStatus}`}`,
    `${line.durationMs === undefined ? '-' : Math.round(line.durationMs * 10) / 10}ms`,
  ];
  if (line.upstream !== undefined) parts.push(`upstream=${line.upstream}`);
  if (line.error !== undefined) parts.push(`error=${line.error}`);
  if (line.traceId !== undefined) parts.push(`trace=${line.traceId}`);
  return parts.join(' ');
}

export async function runTap(options: TapCommandOptions, io: CliIo): Promise<number> {
  const target = parseAdminTarget(options.admin);
  const query = new URLSearchParams();
  for (const key of ['authority', 'method', 'path', 'status', 'source', 'max'] as const) {
    const value = options[key];
    if (value !== undefined) query.set(key, value);
  }
  let response: Response;
  try {
    response = await fetch(`${target.url}/tap${query.size === 0 ? '' : `?${query.toString()}`}`, { ...(options.signal === undefined ? {} : { signal: options.signal }) });
  } catch (error) {
    if (options.signal?.aborted === true) return 0;
    throw new WeftError('WEFT_E_STATUS_UNREACHABLE', `no agent answering at ${target.display}: is \`weft agent\` running? Point --admin at its admin address`, { cause: error });
  }
  if (response.status === 400) {
    const body = await response.text();
    let reason = body;
    try {
      reason = (JSON.parse(body) as { error?: string }).error ?? body;
    } catch {
      // not JSON: print it as it came
    }
    throw new WeftError('WEFT_E_CLI_USAGE', reason);
  }
  if (response.status !== 200 || response.body === null) {
    throw new WeftError('WEFT_E_STATUS_UNREACHABLE', `${target.display} answered /tap with HTTP ${response.status}: ${(await response.text()).trim()}`);
  }
  const decoder = new TextDecoder();
  let pending = '';
  try {
    for await (const chunk of response.body) {
      pending += decoder.decode(chunk as Uint8Array, { stream: true });
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const text = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (text !== '') io.stdout(options.json ? `${text}\n` : `${formatTapLine(JSON.parse(text) as TapLine)}\n`);
        newline = pending.indexOf('\n');
      }
    }
  } catch (error) {
    if (options.signal?.aborted === true) return 0;
    throw new WeftError('WEFT_E_STATUS_UNREACHABLE', `the tap stream from ${target.display} broke: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return 0;
}
