// Sizes on lcow's command line: bytes, or a number with a unit. K, M, G, T and KiB, MiB,
// GiB, TiB are powers of 1024; KB, MB, GB, TB powers of 1000 (as coreutils reads them).
// Units are case-insensitive except that "b" alone means bytes.

import { LcowError } from '../errors.js';

const BINARY: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
const DECIMAL: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12 };

export interface SizeRange {
  min: number;
  max: number;
}

/** "16 GiB"-style text for messages. */
export function formatSize(bytes: number): string {
  for (const [unit, scale] of [['TiB', 2 ** 40], ['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale} ${unit}`;
  }
  return `${bytes} bytes`;
}

/**
 * Parses `text` as a size for `option` (named in every message) and checks it lies in
 * `range`; throws LcowError('USAGE') otherwise.
 */
export function parseSize(text: string, option: string, range: SizeRange): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(i?b)?|b)?\s*$/i.exec(text);
  const allowed = `${formatSize(range.min)} to ${formatSize(range.max)}`;
  if (!match) {
    throw new LcowError('USAGE', `${option} ${JSON.stringify(text)} is not a size: use bytes or a number with a unit (64MiB, 16GiB, 1TiB), from ${allowed}`);
  }
  const unit = match[2]?.toLowerCase();
  const decimal = match[3] !== undefined && match[3].toLowerCase() === 'b';
  const scale = unit === undefined ? 1 : (decimal ? DECIMAL : BINARY)[unit];
  const bytes = Number(match[1]) * scale;
  if (!Number.isSafeInteger(bytes)) {
    if (Number.isInteger(bytes)) throw new LcowError('USAGE', `${option} ${text} is too large: allowed are ${allowed}`);
    throw new LcowError('USAGE', `${option} ${text} is not a whole number of bytes`);
  }
  if (bytes < range.min || bytes > range.max) {
    throw new LcowError('USAGE', `${option} ${text} is out of range: allowed are ${allowed}`);
  }
  return bytes;
}
