import type { CommandContext } from '../context.js';
import { Daemon } from '../daemon/daemon.js';
import { createPinoLogger } from '../logging.js';
import { shutdownSignal } from '../signals.js';

/** `tunnel daemon`: runs until SIGTERM/SIGINT, logging JSON lines on stdout. */
export async function daemon(cx: CommandContext): Promise<number> {
  const config = await cx.config();
  const logger = createPinoLogger({ level: config.daemon.logLevel, destination: 1, base: { name: 'tunnel-manager' } });
  const running = await Daemon.start({ config, logger });
  const signal = await shutdownSignal((second) => {
    logger.warn('second signal: exiting without finishing the shutdown', { signal: second });
    process.exit(130);
  });
  logger.info('shutdown requested', { signal });
  await running.stop();
  return 0;
}
