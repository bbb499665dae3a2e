// The reference builds its errors as Go's fmt.Errorf("<what>: %s", err): the cause's
// text is appended to a prefix. These helpers do the same while keeping the cause.

import { LcowError } from '../host/errors.js';

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `<prefix>: <cause's message>` under `code`, with the cause attached. */
export function wrapError(code: string, prefix: string, cause: unknown): LcowError {
  return new LcowError(code, `${prefix}: ${messageOf(cause)}`, { cause });
}

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
