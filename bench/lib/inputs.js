// Bench inputs and scratch paths. Everything generated lives in <repo>/.bench/ (one
// disk for every tool); generated tars are cached there and regenerated only when missing.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, corpusDir } from '../../test/helpers/corpus.js';

export { REPO };
export const BENCH_DIR = path.join(REPO, '.bench');
export const TREE_SOURCE = process.env.BENCH_TREE || '/usr/share';

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

export function benchPath(name) {
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  return path.join(BENCH_DIR, name);
}

/** rm -rf: much faster than fs.rmSync on the million-file folders tar -xf makes. */
export function rm(p) {
  const r = spawnSync('rm', ['-rf', '--', p]);
  if (r.status !== 0) throw new Error(`bench: rm -rf ${p} failed: ${r.stderr}`);
}

export function freshDir(p) {
  rm(p);
  fs.mkdirSync(p, { recursive: true });
}

function sh(cmd, okStatus = [0]) {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (!okStatus.includes(r.status)) throw new Error(`bench: \`${cmd}\` exited ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
  return r.stdout;
}

/** Number of entries in a tar, as GNU tar lists them. */
export function tarEntries(file) {
  return Number(sh(`tar -tf '${file}' | wc -l`).trim());
}

/** { path, bytes, entries, source } of a tar in the test corpus (generated once by the tests' helper). */
export async function corpusTar(name) {
  const p = path.join(await corpusDir(), name);
  return { path: p, bytes: fs.statSync(p).size, entries: tarEntries(p), source: `corpus ${name}` };
}

/**
 * A cached generated tar, with a meta JSON beside it saying what it is; regenerated when the tar
 * is missing, its size no longer matches, or it was made from another source. make(tmpPath)
 * writes the tar.
 */
function cachedTar(name, source, make) {
  const file = benchPath(name);
  const metaFile = `${file}.json`;
  try {
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
    if (meta.source === source && fs.statSync(file).size === meta.bytes) return { path: file, ...meta };
  } catch {
    // missing or stale: regenerate
  }
  const tmp = `${file}.tmp`;
  rm(tmp);
  log(`generating ${file} (${source})`);
  make(tmp);
  const meta = { bytes: fs.statSync(tmp).size, entries: tarEntries(tmp), source };
  fs.renameSync(tmp, file);
  fs.writeFileSync(metaFile, JSON.stringify(meta, null, 2));
  return { path: file, ...meta };
}

/** A GNU tar of a real tree on this machine (default /usr/share). */
export function treeTar() {
  const rel = path.relative('/', path.resolve(TREE_SOURCE));
  return cachedTar('tree.tar', `GNU tar -C / ${rel}`, (tmp) => {
    // Exit 1 only means some file changed while being read; unreadable files are skipped.
    sh(`tar -cf '${tmp}' --ignore-failed-read -C / '${rel}' 2>/dev/null`, [0, 1]);
  });
}

/** The tree tar extracted once (for mke2fs -d), with a stamp so a half-done extraction is redone. */
export function treeExtracted(tar) {
  const dir = benchPath('tree-extracted');
  const stamp = `${dir}.done`;
  const key = `${tar.bytes} ${fs.statSync(tar.path).mtimeMs}`;
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === key) return dir;
  rm(stamp);
  freshDir(dir);
  log(`extracting ${tar.path} to ${dir}`);
  sh(`tar -xf '${tar.path}' -C '${dir}'`);
  fs.writeFileSync(stamp, key);
  return dir;
}

// ------------------------------------------------------------ rootfs tar ----

/** The first http(s) mirror of the Debian archive in apt's sources (one-line or deb822 form). */
export function debianMirror() {
  const files = ['/etc/apt/sources.list'];
  try {
    for (const f of fs.readdirSync('/etc/apt/sources.list.d').sort()) if (/\.(list|sources)$/.test(f)) files.push(path.join('/etc/apt/sources.list.d', f));
  } catch {
    // no such folder
  }
  for (const f of files) {
    let text = '';
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const m = /^\s*(?:URIs:|deb(?:\s+\[[^\]]*\])?)\s+(https?:\/\/\S*\/debian)\/?(?:\s|$)/.exec(line);
      if (m) return m[1];
    }
  }
  return null;
}

/** Why this machine cannot build the rootfs input, or null when it can. */
export function rootfsUnavailable() {
  if (fs.existsSync(benchPath('rootfs.tar.json')) && fs.existsSync(benchPath('rootfs.tar'))) return null;
  if (spawnSync('sh', ['-c', 'command -v debootstrap || test -x /usr/sbin/debootstrap']).status !== 0) return 'debootstrap is not installed (apt-get install -y debootstrap)';
  if (process.getuid?.() !== 0) return 'debootstrap needs root';
  if (!debianMirror()) return 'no Debian mirror in /etc/apt/sources.list*';
  return null;
}

/**
 * A Debian bookworm minbase tree (debootstrap --variant=minbase, about 210 MB and 6,800
 * entries), tarred as POSIX pax, which GNU tar writes with atime and ctime records for every
 * entry: the shape of a real base layer. Built once (a few minutes, from apt's mirror).
 */
export function rootfsTar() {
  const mirror = debianMirror();
  return cachedTar('rootfs.tar', `debootstrap --variant=minbase bookworm, GNU tar --format=pax`, (tmp) => {
    const dir = benchPath('rootfs-tree');
    freshDir(dir);
    try {
      sh(`PATH="$PATH:/usr/sbin:/sbin" debootstrap --variant=minbase bookworm '${dir}' '${mirror}' > '${dir}.log' 2>&1`);
      sh(`tar --format=pax --numeric-owner --sort=name -cf '${tmp}' -C '${dir}' .`);
    } finally {
      rm(dir);
      rm(`${dir}.log`);
    }
  });
}

// ------------------------------------------------------------- 1M-entry tar ----

const BLOCK = 512;

/** One ustar header template (root-owned, fixed mtime); name, type and checksum patched per entry. */
function headerTemplate() {
  const h = Buffer.alloc(BLOCK);
  const put = (off, s) => h.write(s, off, 'latin1');
  put(108, '0000000\0'); // uid
  put(116, '0000000\0'); // gid
  put(124, '00000000000\0'); // size: every file is empty
  put(136, '14524770400\0'); // mtime 1700000000 (octal)
  put(257, 'ustar\0');
  put(263, '00');
  put(265, 'root');
  put(297, 'root');
  put(329, '0000000\0');
  put(337, '0000000\0');
  return h;
}

function writeHeader(buf, off, tpl, name, isDir) {
  tpl.copy(buf, off);
  buf.write(name, off, 'latin1');
  buf.write(isDir ? '0000755\0' : '0000644\0', off + 100, 'latin1');
  buf[off + 156] = isDir ? 0x35 : 0x30; // '5' directory, '0' regular file
  buf.fill(0x20, off + 148, off + 156); // checksum is computed with its own field as spaces
  let sum = 0;
  for (let i = off; i < off + BLOCK; i++) sum += buf[i];
  buf.write(`${sum.toString(8).padStart(6, '0')}\0 `, off + 148, 'latin1');
}

/**
 * 1,000 directories x 1,000 empty files (1,001,000 entries), written as raw 512-byte ustar
 * headers in big buffers: a tar library or the tar CLI over a real tree would take minutes.
 * Empty files keep the measurement on the per-entry (metadata) path.
 */
export function wideTar({ dirs = 1000, files = 1000 } = {}) {
  const tar = cachedTar(`wide-${dirs}x${files}.tar`, `generated ustar: ${dirs} dirs x ${files} empty files`, (tmp) => {
    const tpl = headerTemplate();
    const fd = fs.openSync(tmp, 'w');
    const buf = Buffer.alloc(BLOCK * (files + 1));
    for (let d = 0; d < dirs; d++) {
      const dir = `d${String(d).padStart(4, '0')}/`;
      writeHeader(buf, 0, tpl, dir, true);
      for (let f = 0; f < files; f++) writeHeader(buf, BLOCK * (f + 1), tpl, `${dir}f${String(f).padStart(4, '0')}`, false);
      fs.writeSync(fd, buf);
    }
    fs.writeSync(fd, Buffer.alloc(BLOCK * 2)); // end-of-archive
    fs.closeSync(fd);
  });
  // tar -tf counted the entries when the file was made: proof the headers and checksums are valid.
  if (tar.entries !== dirs * (files + 1)) throw new Error(`bench: ${tar.path} lists ${tar.entries} entries, want ${dirs * (files + 1)}`);
  return tar;
}
