// Helpers of the layer-export tests: ApplyDiff's conversion, opening a layer.vhd, draining a
// stream, and reading a tar with third-party readers (Python's tarfile, GNU tar).
// No side effects on import.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';

import { convertTar } from '../../dist/host/convert.js';
import { Ext4Reader } from '../../dist/host/ext4/reader.js';
import { openImageSource } from '../../dist/host/ext4/source.js';
import { toolPath, VHD_FOOTER_BYTES, readRange } from './corpus.js';

/** Exactly the conversion ApplyDiff runs (spec/driver.md §7.12). */
export const APPLY_DIFF_OPTIONS = { overlay: true, vhd: true, maxDiskSize: 128 * 1024 ** 3 };

export async function applyDiff(tarPath, vhdPath) {
  return convertTar(tarPath, vhdPath, APPLY_DIFF_OPTIONS);
}

/** A read-only layer's view (the caller closes view.reader). */
export function openLayer(vhdPath) {
  return { reader: Ext4Reader.open(openImageSource(vhdPath)), root: '/' };
}

/** Writes a readable to a file. */
export async function drainTo(readable, file) {
  await pipeline(readable, fs.createWriteStream(file));
}

/** All bytes of a readable (small streams only). */
export async function collect(readable) {
  const parts = [];
  for await (const chunk of readable) parts.push(chunk);
  return Buffer.concat(parts);
}

/** sha256 of everything a readable gives. */
export async function sha256Stream(readable) {
  const h = createHash('sha256');
  for await (const chunk of readable) h.update(chunk);
  return h.digest('hex');
}

/** The ext4 bytes of a layer.vhd (footer left out) are equal: -1, else the first differing offset. */
export function firstExt4Difference(a, b) {
  const fa = fs.openSync(a, 'r');
  const fb = fs.openSync(b, 'r');
  try {
    const na = fs.fstatSync(fa).size - VHD_FOOTER_BYTES;
    const nb = fs.fstatSync(fb).size - VHD_FOOTER_BYTES;
    const step = 4 << 20;
    for (let off = 0; off < Math.min(na, nb); off += step) {
      const len = Math.min(step, Math.min(na, nb) - off);
      const x = readRange(fa, off, len);
      const y = readRange(fb, off, len);
      if (!x.equals(y)) {
        for (let i = 0; i < len; i++) if (x[i] !== y[i]) return off + i;
      }
    }
    return na === nb ? -1 : Math.min(na, nb);
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

// Python's tarfile, with surrogateescape so that every name and PAX value comes back as its
// exact bytes (hex). mtime is the PAX record when there is one, else the header's integer.
const PY_DUMP = String.raw`
import hashlib, json, sys, tarfile
def hx(s):
    return None if s is None else s.encode('utf-8', 'surrogateescape').hex()
out = []
with tarfile.open(sys.argv[1], encoding='utf-8', errors='surrogateescape') as tf:
    for m in tf:
        d = {'name': hx(m.name), 'type': m.type.decode('latin1'), 'mode': m.mode, 'uid': m.uid,
             'gid': m.gid, 'size': m.size, 'mtime': int(m.mtime), 'linkname': hx(m.linkname),
             'devmajor': m.devmajor, 'devminor': m.devminor,
             'pax': {hx(k): hx(v) for k, v in m.pax_headers.items()}}
        if m.isreg():
            f = tf.extractfile(m)
            h = hashlib.sha256()
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h.update(b)
            d['sha256'] = h.hexdigest()
        out.append(d)
json.dump(out, sys.stdout)
`;

/** The members of a tar as Python's tarfile reads them; names, link names and PAX keys/values as hex of their bytes. */
export function pythonTarMembers(tarPath) {
  if (fs.statSync(tarPath).size === 0) return []; // an empty input is an empty layer (Go's reader), which tarfile refuses to open
  const python = toolPath('python3');
  if (!python) throw new Error('python3 is needed');
  const r = spawnSync(python, ['-c', PY_DUMP, tarPath], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`python tarfile failed on ${tarPath}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout).map((m) => {
    const pax = {};
    for (const [k, v] of Object.entries(m.pax)) pax[Buffer.from(k, 'hex').toString('latin1')] = Buffer.from(v, 'hex');
    return { ...m, name: Buffer.from(m.name, 'hex'), linkname: m.linkname ? Buffer.from(m.linkname, 'hex') : Buffer.alloc(0), pax };
  });
}

/** `tar -tvf` (GNU tar): status and listed lines. */
export function gnuTarList(tarPath) {
  const r = spawnSync('tar', ['--numeric-owner', '-tvf', tarPath], { encoding: 'latin1', maxBuffer: 256 << 20 });
  return { status: r.status, stderr: r.stderr, lines: r.stdout.split('\n').filter((l) => l.length > 0) };
}
