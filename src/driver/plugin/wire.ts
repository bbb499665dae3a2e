// The JSON shapes of Docker's graph-driver plugin protocol (spec/driver.md §10.2, §10.4):
// request bodies checked field by field, responses encoded as Go's encoding/json writes
// the daemon's own structs (one object and a newline, empty fields omitted).

import { LcowError } from '../../host/errors.js';
import { goJson } from '../go-json.js';

/** The media type of plugin protocol v1.2, sent by the daemon in Accept and expected back. */
export const PLUGIN_MEDIA_TYPE = 'application/vnd.docker.plugins.v1.2+json';

/** The JSON bodies the daemon sends are a few hundred bytes; anything far larger is not the daemon. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

export interface InitRequest {
  home: string;
  options: string[];
}

export interface IdRequest {
  id: string;
}

export interface CreateRequest {
  id: string;
  parent: string;
  mountLabel: string;
  storageOpt: Record<string, string>;
}

export interface LayerPairRequest {
  id: string;
  parent: string;
}

/** A request the plugin refuses before reaching the driver; its message is one line. */
export function badRequest(endpoint: string, why: string): LcowError {
  return new LcowError('PLUGIN_BAD_REQUEST', `${endpoint}: ${why}`);
}

/**
 * Parses a JSON request body. The daemon sends "{}" or an empty body for methods
 * without arguments (Plugin.Activate), so an empty body is an empty object.
 */
export function parseJsonObject(endpoint: string, body: Buffer): Record<string, unknown> {
  const text = body.toString('utf8').trim();
  if (text === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw badRequest(endpoint, `malformed JSON body: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badRequest(endpoint, `the body must be a JSON object, not ${describeJson(value)}`);
  }
  return value as Record<string, unknown>;
}

function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** Go omits an empty string field, and decodes a JSON null into one: both mean "". */
function optionalString(endpoint: string, body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw badRequest(endpoint, `"${field}" must be a string, not ${describeJson(value)}`);
  return value;
}

function requiredString(endpoint: string, body: Record<string, unknown>, field: string): string {
  const value = optionalString(endpoint, body, field);
  if (value === '') throw badRequest(endpoint, `"${field}" is missing or empty`);
  return value;
}

export function parseInitRequest(endpoint: string, body: Record<string, unknown>): InitRequest {
  const options = body.Opts;
  if (options !== undefined && options !== null && !(Array.isArray(options) && options.every((o) => typeof o === 'string'))) {
    throw badRequest(endpoint, '"Opts" must be a list of "key=value" strings');
  }
  // UIDMaps and GIDMaps are ignored, as the reference ignores them (§7.1); their two
  // spellings ({container_id,...} from moby 20.10, {ContainerID,...} in the docs) are
  // therefore both accepted, as long as they are lists.
  for (const field of ['UIDMaps', 'GIDMaps']) {
    const maps = body[field];
    if (maps !== undefined && maps !== null && !Array.isArray(maps)) throw badRequest(endpoint, `"${field}" must be a list of ID maps`);
  }
  return { home: optionalString(endpoint, body, 'Home'), options: (options as string[] | null | undefined) ?? [] };
}

export function parseIdRequest(endpoint: string, body: Record<string, unknown>): IdRequest {
  return { id: requiredString(endpoint, body, 'ID') };
}

export function parseLayerPairRequest(endpoint: string, body: Record<string, unknown>): LayerPairRequest {
  return { id: requiredString(endpoint, body, 'ID'), parent: optionalString(endpoint, body, 'Parent') };
}

export function parseCreateRequest(endpoint: string, body: Record<string, unknown>): CreateRequest {
  const storageOpt = body.StorageOpt;
  if (storageOpt !== undefined && storageOpt !== null) {
    const valid = typeof storageOpt === 'object' && !Array.isArray(storageOpt) && Object.values(storageOpt).every((v) => typeof v === 'string');
    if (!valid) throw badRequest(endpoint, '"StorageOpt" must be an object of string values');
  }
  return {
    id: requiredString(endpoint, body, 'ID'),
    parent: optionalString(endpoint, body, 'Parent'),
    mountLabel: optionalString(endpoint, body, 'MountLabel'),
    storageOpt: { ...((storageOpt as Record<string, string> | null | undefined) ?? {}) },
  };
}

/**
 * `GraphDriver.ApplyDiff?id=<id>&parent=<parent>`: the daemon formats the query with
 * Sprintf and does not URL-escape it (§10.2), so values are taken as they stand, never
 * percent-decoded (and "+" stays "+"). Layer ids are hex with an optional "-init".
 */
export function parseApplyDiffQuery(endpoint: string, query: string): LayerPairRequest {
  const values = new Map<string, string>();
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const key = equals < 0 ? pair : pair.slice(0, equals);
    values.set(key, equals < 0 ? '' : pair.slice(equals + 1));
  }
  const id = values.get('id') ?? '';
  if (id === '') throw badRequest(endpoint, 'the query parameter "id" is missing or empty (expected ?id=<layer>&parent=<parent>)');
  return { id, parent: values.get('parent') ?? '' };
}

/** Go's omitempty on a top-level response field: false, 0, "", null and empty lists or maps are left out. */
function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

/**
 * One response object as the daemon's graphDriverResponse struct would be marshalled:
 * every top-level field omitempty (§10.2), nested values as they are (so
 * `{"Capabilities":{"ReproducesExactDiffs":false}}` keeps its false), and a newline.
 */
export function encodeResponse(fields: Record<string, unknown>): string {
  const kept = Object.fromEntries(Object.entries(fields).filter(([, value]) => !isEmpty(value)));
  return `${goJson(kept)}\n`;
}

/** The daemon shows Err to the user as one message: keep it to one line. */
export function encodeError(message: string): string {
  return encodeResponse({ Err: message.replace(/\s*[\r\n]+\s*/g, ' ').trim() || 'unknown error' });
}
