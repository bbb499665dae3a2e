// Manifests, indexes and configs: read whole (they are small), checked against the
// digest and size their descriptor gives, and parsed as JSON objects. Any fault is an
// IMAGE_* error naming the document, so a damaged image fails with one line.

import { LcowError } from '../host/errors.js';
import { digestOf, formatDigest, sameDigest, type Digest } from './digest.js';
import { malformed, type ImageFiles } from './image-files.js';

export type JsonObject = Record<string, unknown>;

export interface Expected {
  digest?: Digest;
  size?: number;
}

/** Reads `name`, checks it against `expected`, and parses a JSON object out of it. */
export function readJsonObject(files: ImageFiles, name: string, what: string, expected: Expected = {}): JsonObject {
  const bytes = files.read(name, what);
  if (expected.size !== undefined && bytes.length !== expected.size) {
    throw new LcowError('IMAGE_DIGEST_MISMATCH', `${what}: ${name} is ${bytes.length} bytes, but its descriptor says ${expected.size}`);
  }
  if (expected.digest) {
    const actual = digestOf(bytes, expected.digest.algorithm);
    if (!sameDigest(actual, expected.digest)) {
      throw new LcowError('IMAGE_DIGEST_MISMATCH', `${what}: ${name} has digest ${formatDigest(actual)}, not ${formatDigest(expected.digest)}`);
    }
  }
  return parseJsonObject(bytes, `${what} (${name})`);
}

export function parseJsonObject(bytes: Buffer, what: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw malformed(`${what} is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw malformed(`${what} is not a JSON object`);
  return value as JsonObject;
}

/** A field that must be a string. */
export function stringField(object: JsonObject, key: string, what: string): string {
  const value = object[key];
  if (typeof value !== 'string') throw malformed(`${what} has no string "${key}"`);
  return value;
}

/** A field that must be an array. */
export function arrayField(object: JsonObject, key: string, what: string): unknown[] {
  const value = object[key];
  if (!Array.isArray(value)) throw malformed(`${what} has no array "${key}"`);
  return value;
}

/** An optional size field: a non-negative safe integer when present. */
export function sizeField(object: JsonObject, key: string, what: string): number | undefined {
  const value = object[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw malformed(`${what}: "${key}" is not a size in bytes`);
  return value;
}

export function objectAt(value: unknown, what: string): JsonObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw malformed(`${what} is not a JSON object`);
  return value as JsonObject;
}
