/** Structured JSON logs (pino): one line per request plus lifecycle and error events. */
import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * Creates the proxy's logger, writing JSON lines to stdout.
 *
 * @example
 * const logger = createLogger('info');
 * logger.info({ port: 8080 }, 'listening');
 */
export function createLogger(level: string): Logger {
  // Access logs are written once per request. Asynchronous writes coalesce the lines logged while
  // a write is in flight into the next one, so a busy proxy makes few syscalls, while a quiet one
  // still shows each line at once. pino flushes what is left when the process exits.
  return pino({ level, base: { name: 'breakwater' } }, pino.destination({ dest: 1, sync: false }));
}
