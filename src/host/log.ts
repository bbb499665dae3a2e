// pino JSON logs on stderr; stdout stays for command output. pino itself is loaded on
// the first message that passes the level: at the default level a conversion logs
// nothing, and loading pino was a sixth of the start-up time.

import { createRequire } from 'node:module';
import type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

type Method = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
const SEVERITY: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

/** The pino methods we use, as (fields, message). */
export type Log = Record<Method, (fields: object, message: string) => void>;

export function isLogLevel(text: string): text is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(text);
}

/** `beforeWrite` runs before each line that passes the level (a progress bar clears its line). */
export function createLogger(level: LogLevel = 'warn', beforeWrite?: () => void): Log {
  let logger: Logger | undefined;
  const method = (name: Method) => (fields: object, message: string) => {
    if (SEVERITY[name] < SEVERITY[level]) return;
    beforeWrite?.();
    logger ??= loadPino(level);
    logger[name](fields, message);
  };
  return { fatal: method('fatal'), error: method('error'), warn: method('warn'), info: method('info'), debug: method('debug'), trace: method('trace') };
}

function loadPino(level: LogLevel): Logger {
  const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
  return pino({ level, base: { name: 'lcow' } }, pino.destination({ fd: 2, sync: true }));
}
