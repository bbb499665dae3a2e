// Options of the service-VM machinery (spec/driver.md §3): the timeout every SVM
// operation is bounded by, and which backend plays the service VM.

import { LcowError } from '../host/errors.js';

/** opengcs' default when neither lcow.timeout nor the environment says otherwise. */
export const DEFAULT_UVM_TIMEOUT_SECONDS = 300;

export const TIMEOUT_ENV = 'OPENGCS_UVM_TIMEOUT_SECONDS';

export type BackendName = 'linux' | 'hcs';

/** Go's strconv.Atoi: optional sign, decimal digits, fits in 64 bits (we take JS's safe range). */
function parseGoInt(text: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * UvmTimeoutSeconds: lcow.timeout if non-zero, else the environment if set and non-zero,
 * else 300. Parsed at every SVM start, as opengcs does, so a bad value fails the first
 * operation that needs an SVM (the manager wraps the error).
 */
export function uvmTimeoutSeconds(options: Map<string, string>, env: NodeJS.ProcessEnv = process.env): number {
  const option = options.get('lcow.timeout');
  if (option !== undefined) {
    const value = parseGoInt(option);
    if (value === undefined) throw invalid('lcow.timeout option could not be interpreted as an integer');
    if (value < 0) throw invalid('lcow.timeout option cannot be negative');
    if (value !== 0) return value;
  }
  const fromEnv = env[TIMEOUT_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    const value = parseGoInt(fromEnv);
    if (value === undefined) throw invalid(`${TIMEOUT_ENV} could not be interpreted as an integer`);
    if (value < 0) throw invalid(`${TIMEOUT_ENV} cannot be negative`);
    if (value !== 0) return value;
  }
  return DEFAULT_UVM_TIMEOUT_SECONDS;
}

/** lcow.backend: `linux` (this host's kernel plays the VM) or `hcs` (Hyper-V); by default the platform's own. */
export function backendNameOf(options: Map<string, string>, platform: NodeJS.Platform = process.platform): BackendName {
  const text = options.get('lcow.backend');
  if (text === undefined || text === '') return platform === 'win32' ? 'hcs' : 'linux';
  const name = text.toLowerCase();
  if (name === 'linux' || name === 'hcs') return name;
  throw invalid(`lcowdriver: init: invalid value '${text}' for 'lcow.backend' - must be 'linux' or 'hcs'`);
}

function invalid(message: string): LcowError {
  return new LcowError('SVM_INVALID_OPTION', message);
}
