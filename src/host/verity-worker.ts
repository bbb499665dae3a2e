// One slice of dm-verity level 0, hashed on a worker thread (see writeHashTree). File
// descriptors belong to the process, so the worker uses the converter's own.

import { workerData } from 'node:worker_threads';
import { writeLevel } from './verity.js';

const { fd, from, blocks, to } = workerData as { fd: number; from: number; blocks: number; to: number };
writeLevel(fd, from, blocks, to);
