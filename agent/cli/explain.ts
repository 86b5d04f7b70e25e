// `weft explain <authority> [--dtab <dtab>] [--namespace <ns>] [--dst <ip:port>]`: asks a running
// agent how it would route a request with that authority: the delegation through its dtab step by
// step (with an override, as a trusted caller would send it), and the endpoints it ends on.
import { WeftError } from '../errors.ts';
import type { CliIo } from './main.ts';
import { parseAdminTarget } from './status.ts';

export interface ExplainCommandOptions {
  readonly admin: string;
  readonly authority: string;
  readonly dtab?: string | undefined;
  readonly namespace?: string | undefined;
  readonly dst?: string | undefined;
  readonly json: boolean;
  readonly timeoutMs?: number;
}

export async function runExplain(options: ExplainCommandOptions, io: CliIo): Promise<number> {
  const target = parseAdminTarget(options.admin);
  const query = new URLSearchParams({ authority: options.authority });
  if (options.dtab !== undefined) query.set('dtab', options.dtab);
  if (options.namespace !== undefined) query.set('namespace', options.namespace);
  if (options.dst !== undefined) query.set('dst', options.dst);
  let response: Response;
  try {
    response = await fetch(`${target.url}/explain?${query.toString()}`, {
      headers: { accept: options.json ? 'application/json' : 'text/plain' },
      signal: AbortSignal.timeout(options.timeoutMs ?? 3000),
    });
  } catch (error) {
    throw new WeftError('WEFT_E_STATUS_UNREACHABLE', `no agent answering at ${target.display}: is \`weft agent\` running? Point --admin at its admin address`, { cause: error });
  }
  const body = await response.text();
  if (response.status === 400) {
    const reason = (JSON.parse(body) as { error?: string }).error ?? body;
    throw new WeftError('WEFT_E_CLI_USAGE', reason);
  }
  if (response.status !== 200) throw new WeftError('WEFT_E_STATUS_UNREACHABLE', `${target.display} answered /explain with HTTP ${response.status}`);
  io.stdout(options.json ? `${JSON.stringify(JSON.parse(body), null, 2)}\n` : body);
  return 0;
}
