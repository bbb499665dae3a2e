// The stat and readdir answers of remotefs (spec/driver.md §9): JSON objects
// `{NameVar, SizeVar, ModeVar, ModTimeVar, IsDirVar}`, ModeVar being a Go os.FileMode
// and ModTimeVar nanoseconds since the Unix epoch.

import { LcowError } from '../../../host/errors.js';

/** Go's os.FileMode type bits. */
export const GoMode = {
  Dir: 2 ** 31,
  Append: 2 ** 30,
  Exclusive: 2 ** 29,
  Temporary: 2 ** 28,
  Symlink: 2 ** 27,
  Device: 2 ** 26,
  NamedPipe: 2 ** 25,
  Socket: 2 ** 24,
  Setuid: 2 ** 23,
  Setgid: 2 ** 22,
  CharDevice: 2 ** 21,
  Sticky: 2 ** 20,
} as const;

export interface RemoteFileInfo {
  name: string;
  size: number;
  /** Go os.FileMode: permission bits plus the GoMode type bits. */
  mode: number;
  /** Modification time in nanoseconds since the epoch. */
  modTimeNs: bigint;
  isDir: boolean;
}

export function isSymlink(info: RemoteFileInfo): boolean {
  return Math.floor(info.mode / GoMode.Symlink) % 2 === 1;
}

function fileInfoOf(value: unknown, command: string): RemoteFileInfo {
  const record = value as Record<string, unknown> | null;
  if (typeof record !== 'object' || record === null || typeof record.NameVar !== 'string' || typeof record.SizeVar !== 'number' || typeof record.ModeVar !== 'number') {
    throw new LcowError('REMOTEFS_BAD_ANSWER', `remotefs ${command}: not a file info: ${JSON.stringify(value)?.slice(0, 200)}`);
  }
  return { name: record.NameVar, size: record.SizeVar, mode: record.ModeVar, modTimeNs: 0n, isDir: record.IsDirVar === true };
}

/**
 * Parses the JSON, keeping ModTimeVar exact: nanoseconds since 1970 exceed 2^53, so the
 * number's digits are taken from the text before JSON.parse rounds them.
 */
function parseExact(text: string, command: string): { value: unknown; times: bigint[] } {
  const times = [...text.matchAll(/"ModTimeVar"\s*:\s*(-?[0-9]+)/g)].map((match) => BigInt(match[1]));
  try {
    return { value: JSON.parse(text), times };
  } catch {
    throw new LcowError('REMOTEFS_BAD_ANSWER', `remotefs ${command}: the answer is not JSON: ${text.slice(0, 200)}`);
  }
}

export function parseFileInfo(text: string, command: string): RemoteFileInfo {
  const { value, times } = parseExact(text, command);
  return { ...fileInfoOf(value, command), modTimeNs: times[0] ?? 0n };
}

export function parseFileInfos(text: string, command: string): RemoteFileInfo[] {
  const { value, times } = parseExact(text, command);
  if (!Array.isArray(value)) throw new LcowError('REMOTEFS_BAD_ANSWER', `remotefs ${command}: not a list: ${text.slice(0, 200)}`);
  return value.map((item, index) => ({ ...fileInfoOf(item, command), modTimeNs: times[index] ?? 0n }));
}
