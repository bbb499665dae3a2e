// Content digests as OCI writes them (image-spec descriptor.md, "Digests"):
// `algorithm:encoded`. sha256 and sha512 are the registered algorithms; both are checked
// with node:crypto. Diff ids and blob names come from untrusted manifests, so the encoded
// part is held to its exact length and alphabet before it names a file.

import { createHash, type Hash } from 'node:crypto';
import { LcowError } from '../host/errors.js';

export interface Digest {
  algorithm: 'sha256' | 'sha512';
  hex: string;
}

const HEX_LENGTH = { sha256: 64, sha512: 128 } as const;

/** Parses `sha256:<64 hex>`; anything else is a malformed image, named by `what`. */
export function parseDigest(value: unknown, what: string): Digest {
  if (typeof value !== 'string') throw new LcowError('IMAGE_MALFORMED', `${what} is not a digest string (${value === undefined ? 'missing' : typeof value})`);
  const match = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/.exec(value);
  if (!match) throw new LcowError('IMAGE_MALFORMED', `${what} ${JSON.stringify(value.slice(0, 80))} is not a digest (algorithm:hex)`);
  const [, algorithm, hex] = match;
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new LcowError('IMAGE_UNSUPPORTED', `${what} uses the digest algorithm ${algorithm}; lcow checks sha256 and sha512`);
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[0-9a-f]+$/.test(hex)) {
    throw new LcowError('IMAGE_MALFORMED', `${what} ${JSON.stringify(value.slice(0, 80))}: a ${algorithm} digest is ${HEX_LENGTH[algorithm]} lowercase hex digits`);
  }
  return { algorithm, hex };
}

export function formatDigest(d: Digest): string {
  return `${d.algorithm}:${d.hex}`;
}

export function newHash(algorithm: Digest['algorithm']): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Uint8Array, algorithm: Digest['algorithm'] = 'sha256'): Digest {
  return { algorithm, hex: createHash(algorithm).update(bytes).digest('hex') };
}

export function sameDigest(a: Digest, b: Digest): boolean {
  return a.algorithm === b.algorithm && a.hex === b.hex;
}
