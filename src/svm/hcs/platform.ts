// The hcs backend as InitDriver picks it (lcow.backend=hcs, the default on Windows):
// vmcompute.dll through koffi. Refused with one line where there is no such DLL.

import { LcowError } from '../../host/errors.js';
import { HcsBackend } from './backend.js';
import { Vmcompute } from './vmcompute.js';

export function hcsBackendFor(options: Map<string, string>, platform: NodeJS.Platform = process.platform): HcsBackend {
  const title = 'lcowdriver: init: lcow.backend=hcs: the HCS (Hyper-V) backend';
  if (platform !== 'win32') throw new LcowError('SVM_BACKEND_UNAVAILABLE', `${title} needs Windows (this is ${platform}); use lcow.backend=linux here`);
  try {
    return new HcsBackend({ api: new Vmcompute(), options });
  } catch (err) {
    throw new LcowError('SVM_BACKEND_UNAVAILABLE', `${title} cannot run: ${(err as Error).message}`, { cause: err });
  }
}
