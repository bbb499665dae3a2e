// How the lcow CLI reports a failure: one line on stderr and an exit status that says
// whose fault it was. Both are documented in the README ("Errors and exit status").

import { LcowError } from '../errors.js';

export const EXIT_REFUSED = 1; // the input was refused: bad tar, bad compression, over a limit
export const EXIT_USAGE = 2; // bad command line or library options, an input that cannot be opened, an output that cannot be
export const EXIT_OUTPUT = 3; // the output could not be written (disk full, permissions)
export const EXIT_INTERNAL = 70; // a bug in lcow (sysexits EX_SOFTWARE): please report it

const INTERNAL_CODES = new Set(['ENGINE_TRAPPED', 'ENGINE_BAD_CALL', 'INTERNAL']);
const USAGE_CODES = new Set(['USAGE', 'INVALID_OPTION', 'INPUT_OPEN_FAILED']);

export function exitStatusOf(err: unknown): number {
  if (!(err instanceof LcowError)) return EXIT_INTERNAL;
  if (USAGE_CODES.has(err.code)) return EXIT_USAGE;
  if (err.code === 'OUTPUT_WRITE_FAILED') return EXIT_OUTPUT;
  if (INTERNAL_CODES.has(err.code)) return EXIT_INTERNAL;
  return EXIT_REFUSED;
}

/**
 * `CODE: entry: reason (at input offset N)`; the entry and offset parts appear when
 * known. Offsets count bytes of the decompressed tar stream.
 */
export function describeFailure(err: unknown): string {
  if (!(err instanceof LcowError)) {
    const message = err instanceof Error ? err.message : String(err);
    return `INTERNAL: ${printable(message)}`;
  }
  const parts = [err.code];
  let reason = err.message;
  if (err.path !== undefined) {
    parts.push(printable(err.path));
    // hcsshim's messages often start with the entry name; say it once.
    if (reason.startsWith(`${err.path}: `)) reason = reason.slice(err.path.length + 2);
  }
  parts.push(printable(reason));
  const where = err.offset === undefined ? '' : ` (at input offset ${err.offset})`;
  return `${parts.join(': ')}${where}`;
}

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Entry names are raw bytes from the tar and reach messages too: escape control
 * characters (C0, DEL, C1) so that one failure stays one line and no escape sequence
 * reaches the terminal.
 */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
