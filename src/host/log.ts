// pino JSON logs on stderr; stdout stays for command output.

import { pino, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel = 'warn'): Logger {
  return pino({ level, base: { name: 'lcow' } }, pino.destination({ fd: 2, sync: true }));
}
