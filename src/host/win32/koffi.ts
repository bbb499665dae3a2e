// koffi for the Windows bindings, loaded on first use with a one-line error when it
// cannot be, and its asynchronous calls as promises. An `.async` call runs on a libuv
// worker thread, so the JavaScript thread stays free while Windows works and can run
// the notification callbacks that other threads queue to it.

import { createRequire } from 'node:module';
import { LcowError } from '../errors.js';

// koffi is loaded with require (it is CommonJS with native code) and its functions are
// declared from C prototypes at run time, so they are typed where they are called.
export type Koffi = any;
export type NativeFunction = any;

let loaded: Koffi | undefined;

export function koffi(): Koffi {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)('koffi');
  } catch (err) {
    throw new LcowError('WIN32_UNAVAILABLE', `koffi does not load here: ${(err as Error).message}`, { cause: err });
  }
  return loaded;
}

/** Loads a DLL, naming it in the error when Windows cannot. */
export function loadLibrary(name: string): Koffi {
  try {
    return koffi().load(name);
  } catch (err) {
    throw new LcowError('WIN32_UNAVAILABLE', `${name} does not load: ${(err as Error).message}`, { cause: err });
  }
}

/** `fn(...args)` on a worker thread. */
export function callAsync<T>(fn: NativeFunction, ...args: unknown[]): Promise<T> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err: Error | null, value: T) => (err ? reject(err) : resolve(value)));
  });
}
