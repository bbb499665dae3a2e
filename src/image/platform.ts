// Platforms as `--platform os/arch[/variant]` names them and as OCI image indexes and
// configs hold them (image-spec image-index.md "platform", config.md "os", "architecture",
// "variant"). A query without a variant matches any variant; one with a variant needs it.

import { LcowError } from '../host/errors.js';
import type { JsonObject } from './json-blob.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/i.test(p))) {
    throw new LcowError('USAGE', `--platform ${JSON.stringify(text)} is not os/arch or os/arch/variant (for example linux/amd64 or linux/arm/v7)`);
  }
  return { os: parts[0].toLowerCase(), architecture: parts[1].toLowerCase(), variant: parts[2]?.toLowerCase() };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

export function platformMatches(query: Platform, candidate: Platform): boolean {
  return query.os === candidate.os && query.architecture === candidate.architecture
    && (query.variant === undefined || query.variant === candidate.variant);
}

/** The platform of a descriptor's `platform` object or of an image config; undefined when it names none. */
export function platformOf(object: JsonObject | undefined): Platform | undefined {
  if (!object || typeof object.os !== 'string' || typeof object.architecture !== 'string') return undefined;
  const variant = typeof object.variant === 'string' && object.variant !== '' ? object.variant.toLowerCase() : undefined;
  return { os: object.os.toLowerCase(), architecture: object.architecture.toLowerCase(), variant };
}
