#!/usr/bin/env node
// `weft <agent|check|status|explain|tap|demo> [options]`: a thin shell. It parses arguments (node:util
// parseArgs), loads the configuration and hands over to the command. Exit codes: 0 success,
// 1 failure (a WeftError prints `weft: <message>`, no stack: the reader is an operator),
// 2 usage error (with the usage on stderr).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ParseArgsOptionsConfig } from 'node:util';
import { describeError, isWeftError } from '../errors.ts';
import { loadConfig } from '../config/load.ts';
import type { WeftConfig } from '../config/schema.ts';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processIo: CliIo = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

const globalOptions = {
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const satisfies ParseArgsOptionsConfig;

const commandOptions = {
  agent: {},
  check: { json: { type: 'boolean' }, 'mount-bpffs': { type: 'boolean' } },
  status: { admin: { type: 'string' }, json: { type: 'boolean' } },
  explain: { admin: { type: 'string' }, json: { type: 'boolean' }, dtab: { type: 'string' }, namespace: { type: 'string' }, dst: { type: 'string' } },
  tap: {
    admin: { type: 'string' }, json: { type: 'boolean' }, authority: { type: 'string' }, method: { type: 'string' }, path: { type: 'string' },
    status: { type: 'string' }, source: { type: 'string' }, max: { type: 'string' },
  },
  demo: { hold: { type: 'boolean' } },
} as const satisfies Record<string, ParseArgsOptionsConfig>;

type Command = keyof typeof commandOptions;

export const usage = `usage: weft <command> [options]

commands:
  agent    run the node agent (what the DaemonSet runs)
  check    check that this host can run the agent, with a fix for every failure
  status   show a running agent's pods, routes (success rate, latency, SLO burn), endpoints, latest failures
  explain  show how a running agent routes a request for <authority>: the dtab delegation
           step by step and the endpoints it ends on
  tap      a live stream of the requests a running agent proxies, one line each
  demo     mesh two throw-away pods on this host and send a connection through weft

options:
  --config <file>      YAML or JSON configuration (default: $WEFT_CONFIG; without either,
                       built-in defaults and WEFT_* environment overrides)
  -h, --help           show this help
  -V, --version        print the version

check:   --json                machine-readable output
         --mount-bpffs         mount bpffs at bpf.bpffs if it is not mounted
status:  --admin <host:port>   admin endpoint (default: admin.address:admin.port of the config)
         --json                print the agent's status document as it is
explain: weft explain <authority> [--dtab <dtab>] [--namespace <ns>] [--dst <ip:port>]
         --dtab <dtab>         an override, as a trusted caller's l5d-dtab header would carry it
         --namespace <ns>      the caller's namespace (for one-label hosts such as "web")
         --dst <ip:port>       the address the application dialled
         --admin, --json       as for status
tap:     weft tap [--authority <host|route>] [--method <m>] [--path </prefix>] [--status <503|5xx>]
              [--source <ns/pod|ns>] [--max <n>]
         filters are ANDed; ends after --max requests or on Ctrl-C
         --admin, --json       as for status (--json: the agent's JSON lines as they come)
demo:    --hold, --no-hold     keep running until Ctrl-C (default: when stdout is a terminal)
`;

class UsageError extends Error {}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    return await dispatch(argv, io, env);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`weft: ${error.message}\n\n${usage}`);
      return 2;
    }
    if (isWeftError(error)) {
      io.stderr(`weft: ${error.message}\n`);
      return 1;
    }
    // Anything else is a bug in weft, and its stack is what a bug report needs.
    io.stderr(`weft: internal error: ${describeError(error)}\n${error instanceof Error ? (error.stack ?? '') : ''}\n`);
    return 1;
  }
}

async function dispatch(argv: readonly string[], io: CliIo, env: NodeJS.ProcessEnv): Promise<number> {
  const command = findCommand(argv);
  const options: ParseArgsOptionsConfig = { ...globalOptions, ...(command === undefined ? {} : commandOptions[command]) };
  let parsed: ReturnType<typeof parseArgs<{ options: ParseArgsOptionsConfig; allowPositionals: true; allowNegative: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, allowNegative: true, strict: true });
  } catch (error) {
    // parseArgs' own messages name the option and what is wrong with it.
    throw new UsageError(describeError(error).replace(/\. To specify a positional argument.*$/s, ''));
  }
  const values = parsed.values;
  if (values.help === true) {
    io.stdout(usage);
    return 0;
  }
  if (values.version === true) {
    io.stdout(`weft ${packageVersion()}\n`);
    return 0;
  }
  if (command === undefined) {
    const first = parsed.positionals[0];
    throw new UsageError(first === undefined ? 'no command given' : `unknown command "${first}"`);
  }
  const maxPositionals = command === 'explain' ? 2 : 1;
  if (parsed.positionals.length > maxPositionals) throw new UsageError(`unexpected argument "${parsed.positionals[maxPositionals] ?? ''}" after ${command}`);

  const configPath = typeof values.config === 'string' ? values.config : undefined;
  const config = (): WeftConfig => loadConfig({ path: configPath, env });
  switch (command) {
    case 'agent': {
      // Loaded on demand: `weft check` and `weft status` must work where the addon is not built.
      const { runAgent } = await import('./agent.ts');
      await runAgent(config());
      return 0;
    }
    case 'demo': {
      const { runDemo } = await import('./demo.ts');
      const hold = typeof values.hold === 'boolean' ? values.hold : process.stdout.isTTY === true;
      await runDemo(config(), { hold });
      return 0;
    }
    case 'check': {
      const { runCheck } = await import('./check.ts');
      return runCheck(config(), { json: values.json === true, mountBpffs: values['mount-bpffs'] === true }, io);
    }
    case 'status': {
      const { adminTargetFromConfig, runStatus } = await import('./status.ts');
      const admin = typeof values.admin === 'string' ? values.admin : adminTargetFromConfig(config().admin).display;
      return runStatus({ admin, json: values.json === true }, io);
    }
    case 'explain': {
      const authority = parsed.positionals[1];
      if (authority === undefined) throw new UsageError('explain needs an authority, such as web.shop:80');
      const [{ runExplain }, { adminTargetFromConfig }] = await Promise.all([import('./explain.ts'), import('./status.ts')]);
      const admin = typeof values.admin === 'string' ? values.admin : adminTargetFromConfig(config().admin).display;
      const text = (name: string): string | undefined => (typeof values[name] === 'string' ? values[name] : undefined);
      return runExplain({ admin, authority, dtab: text('dtab'), namespace: text('namespace'), dst: text('dst'), json: values.json === true }, io);
    }
    case 'tap': {
      const [{ runTap }, { adminTargetFromConfig }] = await Promise.all([import('./tap.ts'), import('./status.ts')]);
      const admin = typeof values.admin === 'string' ? values.admin : adminTargetFromConfig(config().admin).display;
      const text = (name: string): string | undefined => (typeof values[name] === 'string' ? values[name] : undefined);
      // Ctrl-C ends the stream and exits 0: stopping a tap is how it is used.
      const stop = new AbortController();
      const onInterrupt = (): void => stop.abort();
      process.once('SIGINT', onInterrupt);
      try {
        return await runTap({
          admin, json: values.json === true, signal: stop.signal,
          authority: text('authority'), method: text('method'), path: text('path'), status: text('status'), source: text('source'), max: text('max'),
        }, io);
      } finally {
        process.off('SIGINT', onInterrupt);
      }
    }
  }
}

/** The first positional argument, if it names a command (options may come before it). */
function findCommand(argv: readonly string[]): Command | undefined {
  // Tokens from a lenient pass: an option's value (`--config x`) is not mistaken for a command.
  const { tokens } = parseArgs({ args: [...argv], options: globalOptions, allowPositionals: true, strict: false, tokens: true });
  const first = tokens.find((token) => token.kind === 'positional');
  if (first === undefined) return undefined;
  return Object.hasOwn(commandOptions, first.value) ? (first.value as Command) : undefined;
}

/**
 * agent.ts and demo.ts are written alongside this shell and may land later; they are imported by
 * URL so that a tree without them still builds and says which command is missing.
 */

let version: string | undefined;
function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
