// The result document HCS v1 returns beside an HRESULT (windows-host.md §a.2):
// `{"Error": <int32>, "ErrorMessage": "...", "ErrorEvents": [{"Message", ...}]}`.
// hcsshim (processHcsResult) keeps the events' messages for its error text; so do we.

import { HcsError } from './hresult.js';

export interface ResultDocument {
  error?: number;
  errorMessage?: string;
  events: string[];
}

/** Decodes a result document; text that is not such a document is kept as the message. */
export function parseResultDocument(text: string | null): ResultDocument | undefined {
  if (text === null || text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { errorMessage: text.trim(), events: [] };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { errorMessage: text.trim(), events: [] };
  const record = value as Record<string, unknown>;
  const events = Array.isArray(record.ErrorEvents)
    ? record.ErrorEvents.map((event) => (event as Record<string, unknown> | null)?.Message).filter((m): m is string => typeof m === 'string' && m !== '')
    : [];
  return {
    error: typeof record.Error === 'number' ? record.Error : undefined,
    errorMessage: typeof record.ErrorMessage === 'string' && record.ErrorMessage !== '' ? record.ErrorMessage : undefined,
    events,
  };
}

/** The words an error carries from a result document: its message, then each event's. */
export function resultText(document: ResultDocument | undefined): string | undefined {
  if (!document) return undefined;
  const parts = [document.errorMessage, ...document.events].filter((part): part is string => part !== undefined);
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/** A failed call's HcsError, with the result document's words. */
export function callError(operation: string, id: string, call: { hresult: number; result: string | null }): HcsError {
  return new HcsError(operation, id, call.hresult, resultText(parseResultDocument(call.result)));
}
