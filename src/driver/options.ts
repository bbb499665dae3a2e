// Driver options (spec/driver.md §3): "key=value" strings from the daemon's
// --storage-opt, and the per-layer StorageOpt map.

import { LcowError } from '../host/errors.js';

/**
 * Splits on the first "=", ignores entries without one, lower-cases keys, keeps values
 * as given; a later duplicate overrides an earlier one. Unknown keys are kept (and
 * ignored by whoever does not know them), as the reference does.
 */
export function parseOptionList(entries: readonly string[] | null | undefined): Map<string, string> {
  const options = new Map<string, string>();
  for (const entry of entries ?? []) {
    const at = entry.indexOf('=');
    if (at < 0) continue;
    options.set(entry.slice(0, at).toLowerCase(), entry.slice(at + 1));
  }
  return options;
}

/** The same rules for a map (StorageOpt). */
export function parseOptionMap(map: Record<string, string> | null | undefined): Map<string, string> {
  return parseOptionList(Object.entries(map ?? {}).map(([key, value]) => `${key}=${value}`));
}

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Go's strconv.ParseBool; undefined when the text is none of its spellings. */
export function parseGoBool(text: string): boolean | undefined {
  if (GO_TRUE.has(text)) return true;
  if (GO_FALSE.has(text)) return false;
  return undefined;
}

export function globalModeOf(options: Map<string, string>): boolean {
  const text = options.get('lcow.globalmode');
  if (text === undefined) return false;
  const value = parseGoBool(text);
  if (value === undefined) {
    throw new LcowError('DRIVER_INVALID_OPTION', "lcowdriver: init: failed to parse value for 'lcow.globalmode' - must be 'true' or 'false'");
  }
  return value;
}

export const DEFAULT_SANDBOX_GB = 20;
const MAX_UINT32 = 0xffffffff;

/** lcow.sandboxsize in GB (GiB on disk, as Hyper-V means it): 20 unless set; at least 20. */
export function sandboxSizeOf(id: string, storageOpt: Map<string, string>): number {
  const text = storageOpt.get('lcow.sandboxsize');
  if (text === undefined) return DEFAULT_SANDBOX_GB;
  const title = `lcowdriver: createreadwrite: id ${id}`;
  // Go strconv.ParseUint(v, 10, 32): decimal digits only, no sign, fits in 32 bits.
  if (!/^[0-9]+$/.test(text) || Number(text) > MAX_UINT32) {
    throw new LcowError('DRIVER_INVALID_OPTION', `${title} failed to parse value '${text}' for 'lcow.sandboxsize'`);
  }
  const size = Number(text);
  if (size < DEFAULT_SANDBOX_GB) throw new LcowError('DRIVER_INVALID_OPTION', `${title} 'lcow.sandboxsize' option cannot be less than 20`);
  return size;
}
