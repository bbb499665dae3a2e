// layerchain.json (spec/driver.md §2): the absolute folders of a layer's ancestors,
// nearest parent first, as compact Go JSON with no trailing newline; a layer without
// parents holds the literal `null`.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LcowError } from '../host/errors.js';
import { goJson } from './go-json.js';
import { publishFile } from './publish-file.js';

export const LAYER_CHAIN_FILE = 'layerchain.json';

/** The chain stored in `folder`; a missing file, `null` and `[]` all mean no parents. */
export function readLayerChain(folder: string, id: string): string[] {
  const path = join(folder, LAYER_CHAIN_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new LcowError('DRIVER_LAYER_CHAIN', `lcowdriver: getlayerchain: ${id} unable to read layerchain file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let chain: unknown;
  try {
    chain = JSON.parse(text);
  } catch (err) {
    throw new LcowError('DRIVER_LAYER_CHAIN', `lcowdriver: getlayerchain: ${id} failed to unmarshall layerchain file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (chain === null) return [];
  if (!Array.isArray(chain) || !chain.every((entry) => typeof entry === 'string')) {
    throw new LcowError('DRIVER_LAYER_CHAIN', `lcowdriver: getlayerchain: ${id} failed to unmarshall layerchain file ${path}: not an array of folder paths`);
  }
  return chain;
}

/** Writes the chain (null for none) with mode 0600. */
export function writeLayerChain(folder: string, id: string, chain: string[] | null): void {
  try {
    publishFile(join(folder, LAYER_CHAIN_FILE), goJson(chain), 0o600);
  } catch (err) {
    throw new LcowError('DRIVER_LAYER_CHAIN', `lcowdriver: setlayerchain: ${id} failed to write layerchain file: ${(err as Error).message}`, { cause: err });
  }
}
