// A worker thread of layer-jobs.ts: converts one layer at a time. File descriptors
// belong to the process, so it reads the image through the descriptor the main thread
// opened. Errors travel back as plain fields, since an LcowError does not survive the
// structured clone.

import { parentPort } from 'node:worker_threads';
import { LcowError } from '../host/errors.js';
import { convertLayer, type LayerJob } from './layer-convert.js';

export type ToWorker = { type: 'job'; id: number; job: LayerJob } | { type: 'cancel' };

export interface ErrorFields {
  code: string;
  message: string;
  path?: string;
  offset?: number;
}

export type FromWorker =
  | { type: 'progress'; id: number; bytes: number }
  | { type: 'temporary'; id: number; path: string }
  | { type: 'done'; id: number; outcome: Awaited<ReturnType<typeof convertLayer>> }
  | { type: 'failed'; id: number; error: ErrorFields };

function fieldsOf(err: unknown): ErrorFields {
  if (err instanceof LcowError) return { code: err.code, message: err.message, path: err.path, offset: err.offset };
  return { code: 'INTERNAL', message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
}

const port = parentPort!;
let cancelled = false;
const post = (message: FromWorker) => port.postMessage(message);

port.on('message', (message: ToWorker) => {
  if (message.type === 'cancel') {
    cancelled = true;
    return;
  }
  const { id, job } = message;
  convertLayer(job, {
    onProgress: (bytes) => post({ type: 'progress', id, bytes }),
    onTemporary: (path) => post({ type: 'temporary', id, path }),
    cancelled: () => cancelled,
  }).then(
    (outcome) => post({ type: 'done', id, outcome }),
    (err: unknown) => post({ type: 'failed', id, error: fieldsOf(err) }),
  );
});
