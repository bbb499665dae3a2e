// A pool of forked worker.js processes, one case each at a time. A case with no answer
// within its timeout is a hang: the worker is killed and replaced. A worker that exits
// while it has a case is a crash. Both are reported as the case's problems.

import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const WORKER = new URL('./worker.js', import.meta.url);
const STDERR_TAIL = 4000;

export class WorkerPool {
  /** `dir`: a scratch directory; each worker gets dir/worker-N/ as its output directory. */
  constructor({ size = 2, dir, timeoutMs = 10_000 }) {
    this.timeoutMs = timeoutMs;
    this.nextId = 1;
    this.waiting = [];
    this.slots = Array.from({ length: size }, (_, i) => {
      const outDir = path.join(dir, `worker-${i}`);
      fs.mkdirSync(outDir, { recursive: true });
      return { outDir, child: null, busy: false, job: null, stderr: '' };
    });
  }

  get size() {
    return this.slots.length;
  }

  spawn(slot) {
    const child = fork(WORKER, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
    slot.child = child;
    slot.stderr = '';
    child.stderr.on('data', (d) => {
      slot.stderr = (slot.stderr + d).slice(-STDERR_TAIL);
    });
    child.on('message', (m) => {
      if (slot.job && m.id === slot.job.id) this.finish(slot, m);
    });
    child.on('exit', (code, signal) => {
      if (slot.child !== child) return;
      slot.child = null;
      if (slot.job) {
        const why = signal ? `signal ${signal}` : `exit status ${code}`;
        this.finish(slot, { outcome: 'crash', problems: [{ kind: 'crash', message: `worker died (${why}): ${slot.stderr.trim().split('\n').slice(-5).join(' | ')}` }] });
      }
    });
  }

  finish(slot, reply) {
    const { resolve, timer } = slot.job;
    clearTimeout(timer);
    slot.job = null;
    resolve(reply);
    // Hand the slot straight to a waiting case, so no other caller can take it meanwhile.
    const next = this.waiting.shift();
    if (next) next(slot);
    else slot.busy = false;
  }

  /** Runs `job` (see worker.js) on a free worker; resolves to {outcome, problems, ...}. */
  async run(job, timeoutMs = this.timeoutMs) {
    let slot = this.slots.find((s) => !s.busy);
    if (slot) slot.busy = true;
    else slot = await new Promise((r) => this.waiting.push(r));
    if (!slot.child) this.spawn(slot);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const child = slot.child;
        slot.child = null; // its exit is ours, not a crash
        // The killed conversion's temporary file is an artefact of the kill, not a leftover.
        // It is removed only once the worker is gone: until then a write or file creation
        // already under way could still land after the clean-up, in the next case's directory.
        child.once('exit', () => {
          for (const f of fs.readdirSync(slot.outDir)) fs.rmSync(path.join(slot.outDir, f), { recursive: true, force: true });
          this.finish(slot, { outcome: 'hang', problems: [{ kind: 'hang', message: `no answer within ${timeoutMs} ms` }] });
        });
        child.kill('SIGKILL');
      }, timeoutMs);
      slot.job = { id, resolve, timer };
      slot.child.send({ ...job, id, outDir: slot.outDir });
    });
  }

  /** Stops every worker; resolves once all have exited, so their directories can go. */
  close() {
    const exits = [];
    for (const slot of this.slots) {
      const child = slot.child;
      slot.child = null;
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      exits.push(new Promise((resolve) => child.once('exit', resolve)));
      child.kill();
    }
    return Promise.all(exits);
  }
}
