// `weft agent`: run the node agent until SIGTERM/SIGINT (what a DaemonSet's container does).
// An orderly stop releases every pod and detaches and unpins the programs; a crash leaves the
// kernel to drop the links with the process, so capture fails open either way.
import type { WeftConfig } from '../config/schema.ts';
import { describeError } from '../errors.ts';
import { startAgent } from '../runtime/start.ts';

export async function runAgent(config: WeftConfig): Promise<void> {
  const agent = await startAgent(config);
  const log = agent.log;
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping: releasing pods, detaching programs');
      agent.stop().then(resolve, (error: unknown) => {
        log.error({ error: describeError(error) }, 'stop failed');
        process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  log.info('stopped');
}
