// Layers converted in parallel: a pool of worker threads, one layer per worker at a
// time, up to os.availableParallelism(). Each conversion keeps the converter's own
// memory bounds (two 1 MiB chunks, the engine's capped Wasm memory), so the peak is about
// the number of workers times one layer's. Largest layers start first so that the last
// one to finish is a small one. The first failure cancels the rest (each stops within a
// chunk and removes its temporaries); signals remove the temporaries the workers have
// open, since a worker thread never sees a signal itself.

import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { LcowError } from '../host/errors.js';
import { track, trackTarget, untrack, untrackTarget } from './temporaries.js';
import type { LayerJob, LayerOutcome } from './layer-convert.js';
import type { FromWorker, ToWorker } from './layer-worker.js';

export interface PoolOptions {
  /** Worker threads at most; default os.availableParallelism(). */
  workers?: number;
  /** Stored bytes read so far over all layers. */
  onProgress?: (bytes: number) => void;
}

/** A failed job: its index in `jobs` and the error, rebuilt as an LcowError. */
export class LayerJobError extends Error {
  constructor(readonly job: number, readonly error: LcowError) {
    super(error.message);
  }
}

export async function runLayerJobs(jobs: LayerJob[], options: PoolOptions = {}): Promise<LayerOutcome[]> {
  if (jobs.length === 0) return [];
  const count = Math.max(1, Math.min(jobs.length, options.workers ?? availableParallelism()));
  const order = jobs.map((_, i) => i).sort((a, b) => jobs[b].blob.size - jobs[a].blob.size);
  const outcomes: LayerOutcome[] = new Array(jobs.length);
  const progress = new Array<number>(jobs.length).fill(0);
  // Per job, the temporaries its worker has open: tracked until the job settles (its worker
  // has then renamed or removed them itself).
  const temporaries = new Map<number, Set<string>>();
  const release = (id: number) => {
    for (const path of temporaries.get(id) ?? []) untrack(path);
    temporaries.delete(id);
  };

  const workers: Worker[] = [];
  let failure: LayerJobError | undefined;
  let next = 0;
  try {
    await new Promise<void>((resolve) => {
      let running = 0;
      const start = (worker: Worker) => {
        if (failure || next >= order.length) {
          if (running === 0) resolve();
          return;
        }
        const id = order[next++];
        running++;
        for (const target of [jobs[id].vhdPath, jobs[id].hashDevicePath]) if (target) trackTarget(target);
        (worker as Worker & { current?: number }).current = id;
        worker.postMessage({ type: 'job', id, job: jobs[id] } satisfies ToWorker);
      };
      const settle = (worker: Worker, id: number, error?: LcowError) => {
        running--;
        release(id);
        for (const target of [jobs[id].vhdPath, jobs[id].hashDevicePath]) if (target) untrackTarget(target);
        (worker as Worker & { current?: number }).current = undefined;
        if (error && error.code !== 'CANCELLED' && !failure) {
          failure = new LayerJobError(id, error);
          for (const w of workers) w.postMessage({ type: 'cancel' } satisfies ToWorker);
        }
        start(worker);
        if (running === 0 && (failure || next >= order.length)) resolve();
      };
      for (let i = 0; i < count; i++) {
        const worker = new Worker(new URL('./layer-worker.js', import.meta.url));
        workers.push(worker);
        worker.on('message', (message: FromWorker) => {
          switch (message.type) {
            case 'progress':
              progress[message.id] = message.bytes;
              options.onProgress?.(progress.reduce((a, b) => a + b, 0));
              break;
            case 'temporary':
              if (!temporaries.has(message.id)) temporaries.set(message.id, new Set());
              temporaries.get(message.id)!.add(message.path);
              track(message.path);
              break;
            case 'done':
              outcomes[message.id] = message.outcome;
              settle(worker, message.id);
              break;
            case 'failed': {
              const { code, message: text, path, offset } = message.error;
              settle(worker, message.id, new LcowError(code, text, { path, offset }));
              break;
            }
          }
        });
        // An uncaught error or an early exit of the thread fails the layer it had.
        const lost = (why: string) => {
          const id = (worker as Worker & { current?: number }).current;
          if (id !== undefined) settle(worker, id, new LcowError('INTERNAL', `a conversion worker ${why}`));
        };
        worker.on('error', (err) => lost(`failed: ${err.stack ?? err.message}`));
        worker.on('exit', (status) => lost(`exited with status ${status}`));
        start(worker);
      }
    });
  } finally {
    await Promise.all(workers.map((w) => { w.removeAllListeners('exit'); return w.terminate(); }));
  }
  if (failure) throw failure;
  return outcomes;
}
