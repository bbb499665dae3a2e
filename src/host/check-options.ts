// The library's boundary: what callers pass to convertTar, computeRootDigest,
// verifyImage and inspectImage is checked before any work, and a wrong key, type or value
// is an LcowError('INVALID_OPTION') naming it. JavaScript callers get no compile-time
// check, and a misspelt or mistyped option silently changing the image (another
// layout, another root digest) is the worst way to find out.

import { LcowError } from './errors.js';
import { describeValue } from './output.js';
import { closest } from './nearest-name.js';

/** Below this the engine cannot convert even an empty layer (it needs about 8.3 MiB at the largest disk size). */
export const ENGINE_MEMORY_MIN = 10 * 2 ** 20;
/** The wasm32 ceiling. */
export const ENGINE_MEMORY_MAX = 4 * 2 ** 30;

type Check = (value: unknown) => string | undefined;

const boolean: Check = (v) => (typeof v === 'boolean' ? undefined : 'must be true or false');
const bytes16: Check = (v) => (v instanceof Uint8Array && v.length === 16 ? undefined : 'must be a Uint8Array of 16 bytes');
const func: Check = (v) => (typeof v === 'function' ? undefined : 'must be a function');
const integer: Check = (v) => (typeof v === 'number' && Number.isSafeInteger(v) ? undefined : 'must be a whole number of bytes');
const engineMemory: Check = (v) => integer(v) ?? ((v as number) >= ENGINE_MEMORY_MIN && (v as number) <= ENGINE_MEMORY_MAX
  ? undefined
  : `must be from ${ENGINE_MEMORY_MIN} (10 MiB) to ${ENGINE_MEMORY_MAX} (4 GiB) bytes`);

/** The output profiles (ConvertOptions.profile). */
export const PROFILES = ['hcsshim', 'fixed'] as const;
const profile: Check = (v) => (typeof v === 'string' && (PROFILES as readonly string[]).includes(v) ? undefined : `must be ${PROFILES.map((p) => JSON.stringify(p)).join(' or ')}`);

/** Every ConvertOptions key and its check (keep in step with ConvertOptions). */
const CONVERT_OPTIONS: Record<string, Check> = {
  overlay: boolean,
  convertBackslash: boolean,
  inlineData: boolean,
  vhd: boolean,
  maxDiskSize: integer,
  verity: boolean,
  vhdUniqueId: bytes16,
  verityUuid: bytes16,
  uuidFromContent: boolean,
  sync: boolean,
  engineMemoryLimit: engineMemory,
  onProgress: func,
  profile,
};

function invalid(message: string): LcowError {
  return new LcowError('INVALID_OPTION', message);
}

/** Checks an options object: known keys only, each of its type; undefined values count as absent. */
export function checkConvertOptions(options: unknown, allowed: readonly string[] = Object.keys(CONVERT_OPTIONS)): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalid(`options must be an object, not ${describeValue(options)}`);
  for (const [key, value] of Object.entries(options)) {
    if (!allowed.includes(key)) {
      const nearest = closest(key, allowed);
      throw invalid(`unknown option ${JSON.stringify(key)}${nearest ? ` (did you mean ${nearest}?)` : ''}; known options: ${allowed.join(', ')}`);
    }
    if (value === undefined) continue;
    const problem = CONVERT_OPTIONS[key](value);
    if (problem) throw invalid(`option ${key} ${problem}, not ${describeValue(value)}`);
  }
}

/** A tar input: a path, "-" for standard input, or an async iterable of bytes (a Node Readable). */
export function checkTarInput(input: unknown): void {
  if (typeof input === 'string') {
    if (input === '') throw invalid('the input path is empty (use "-" for standard input)');
    return;
  }
  if (input !== null && typeof input === 'object' && Symbol.asyncIterator in input) return;
  throw invalid(`the input must be a path, "-" or a readable stream of bytes, not ${describeValue(input)}`);
}

/** An image path for inspectImage, verifyImage, diffImages. */
export function checkImagePath(path: unknown, what = 'the image'): void {
  if (typeof path !== 'string') throw invalid(`${what} must be a path string, not ${describeValue(path)}`);
  if (path === '') throw invalid(`${what} path is empty`);
}

/** A dm-verity root digest: SHA-256, so 64 hex digits. */
export function checkRootDigest(hex: unknown, what = 'the expected root digest'): void {
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw invalid(`${what} must be 64 hex digits (a SHA-256), not ${describeValue(hex)}`);
  }
}
