// Third-party reader checks of our images: an independent model of what hcsshim's tar2ext4
// makes of a tar (own tar reader following Go's archive/tar, own Create/Link/MakeParents
// following spec/compact-ext4.md §2-§3, §7), compared against what e2fsprogs' debugfs
// (or a loop mount) shows, plus the e2fsck -fn check of spec §13/§24.
// No side effects on import: node --test runs every .js file under test/ as a test file.
//
// Paths are "binary" strings: one char per byte (latin1), so any name bytes round-trip.
// Limits: no whiteout conversion (-overlay), no backslash conversion, no sparse files,
// xattrs are not compared.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readRange, sha256File, tmpDir, toolPath } from './corpus.js';

// ------------------------------------------------------------ tar reader ----

const BLOCK = 512;


function cstr(b) {
  const z = b.indexOf(0);
  return z < 0 ? b : b.subarray(0, z);
}

/** Go archive/tar parseNumeric: octal (trimmed of spaces/NULs) or GNU base-256. BigInt. */
function parseNumeric(b) {
  if (b.length > 0 && b[0] & 0x80) {
    const inv = b[0] & 0x40 ? 0xff : 0;
    let x = 0n;
    for (let i = 0; i < b.length; i++) {
      let c = b[i] ^ inv;
      if (i === 0) c &= 0x7f;
      x = (x << 8n) | BigInt(c);
    }
    x = BigInt.asUintN(64, x);
    return inv ? -x - 1n : x;
  }
  let s = b.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
  if (s === '') return 0n;
  if (!/^[0-7]+$/.test(s)) throw new Error(`tar: invalid octal ${JSON.stringify(s)}`);
  return BigInt('0o' + s);
}

/** Go parsePAXTime: "[-]secs[.frac]" -> {s: BigInt, ns: number} normalized to ns in [0,1e9). */
function parsePaxTime(v) {
  const [ss, sn = null] = v.split('.');
  let s = BigInt(ss);
  if (sn === null) return { s, ns: 0 };
  if (!/^\d*$/.test(sn)) throw new Error(`tar: invalid PAX time ${v}`);
  let ns = Number((sn + '000000000').slice(0, 9));
  if (ss.startsWith('-')) ns = -ns;
  if (ns < 0) {
    s -= 1n;
    ns += 1e9;
  }
  return { s, ns };
}

function parsePax(data) {
  const recs = new Map();
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) throw new Error('tar: invalid PAX record');
    const len = Number(data.toString('latin1', off, sp));
    if (!(len > 0) || off + len > data.length) throw new Error('tar: invalid PAX record length');
    const rec = data.subarray(sp + 1, off + len - 1); // drop trailing \n
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new Error('tar: invalid PAX record');
    recs.set(rec.toString('utf8', 0, eq), rec.subarray(eq + 1)); // value stays bytes
    off += len;
  }
  return recs;
}

/**
 * Entries of a tar file as Go's archive/tar returns them (the parts hcsshim uses).
 * Each entry: {name, linkname (binary strings), typeflag (char), mode, uid, gid, size (BigInt),
 * mtime, atime, ctime ({s, ns} or null), devmajor, devminor (BigInt), sha256 (hex, data)}.
 */
export function readTarEntries(tarPath) {
  const fd = fs.openSync(tarPath, 'r');
  const entries = [];
  try {
    const fileSize = fs.fstatSync(fd).size;
    let pos = 0;
    let pax = null;
    let longName = null;
    let longLink = null;
    const readData = (size) => {
      const d = readRange(fd, pos, size);
      if (d.length !== size) throw new Error('tar: unexpected EOF');
      pos += Math.ceil(size / BLOCK) * BLOCK;
      return d;
    };
    for (;;) {
      if (pos >= fileSize) break;
      const h = readRange(fd, pos, BLOCK);
      if (h.length < BLOCK) throw new Error('tar: unexpected EOF');
      pos += BLOCK;
      if (h.every((c) => c === 0)) {
        if (pos >= fileSize) break;
        const h2 = readRange(fd, pos, BLOCK);
        if (h2.every((c) => c === 0)) break;
        throw new Error('archive/tar: invalid tar header');
      }
      const magic = h.toString('latin1', 257, 263);
      const version = h.toString('latin1', 263, 265);
      let format = 'v7';
      if (magic === 'ustar\0' && version === '00') {
        format = h.toString('latin1', 508, 512) === 'tar\0' ? 'star' : 'ustar';
      } else if (magic === 'ustar ' && version === ' \0') format = 'gnu';

      let typeflag = String.fromCharCode(h[156]);
      let name = cstr(h.subarray(0, 100)).toString('latin1');
      let linkname = cstr(h.subarray(157, 257)).toString('latin1');
      const e = {
        mode: parseNumeric(h.subarray(100, 108)),
        uid: parseNumeric(h.subarray(108, 116)),
        gid: parseNumeric(h.subarray(116, 124)),
        size: parseNumeric(h.subarray(124, 136)),
        mtime: { s: parseNumeric(h.subarray(136, 148)), ns: 0 },
        atime: null,
        ctime: null,
        devmajor: 0n,
        devminor: 0n,
      };
      let prefix = '';
      if (format === 'ustar' || format === 'star') {
        e.devmajor = parseNumeric(h.subarray(329, 337));
        e.devminor = parseNumeric(h.subarray(337, 345));
      }
      if (format === 'gnu') {
        e.devmajor = parseNumeric(h.subarray(329, 337));
        e.devminor = parseNumeric(h.subarray(337, 345));
        if (h[345] !== 0) e.atime = { s: parseNumeric(h.subarray(345, 357)), ns: 0 };
        if (h[357] !== 0) e.ctime = { s: parseNumeric(h.subarray(357, 369)), ns: 0 };
      } else if (format === 'ustar') {
        prefix = cstr(h.subarray(345, 500)).toString('latin1');
      } else if (format === 'star') {
        prefix = cstr(h.subarray(345, 476)).toString('latin1');
        e.atime = { s: parseNumeric(h.subarray(476, 488)), ns: 0 };
        e.ctime = { s: parseNumeric(h.subarray(488, 500)), ns: 0 };
      }
      if (prefix) name = prefix + '/' + name;

      if (typeflag === 'x' || typeflag === 'g') {
        const recs = parsePax(readData(Number(e.size)));
        if (typeflag === 'x') {
          pax = recs;
          continue;
        }
        // Go returns the global header itself as an entry (mode 0, size 0, zero times).
        const p = recs.get('path');
        entries.push({
          name: p && p.length ? p.toString('latin1') : name,
          linkname: '',
          typeflag: 'g',
          mode: 0n,
          uid: 0n,
          gid: 0n,
          size: 0n,
          mtime: null,
          atime: null,
          ctime: null,
          devmajor: 0n,
          devminor: 0n,
          sha256: createHash('sha256').digest('hex'),
          pax: recs,
        });
        continue;
      }
      if (typeflag === 'L' || typeflag === 'K') {
        const v = cstr(readData(Number(e.size))).toString('latin1');
        if (typeflag === 'L') longName = v;
        else longLink = v;
        continue;
      }
      if (pax) {
        for (const [k, vb] of pax) {
          if (vb.length === 0) continue;
          const v = vb.toString('latin1');
          if (k === 'path') name = v;
          else if (k === 'linkpath') linkname = v;
          else if (k === 'uid') e.uid = BigInt(v);
          else if (k === 'gid') e.gid = BigInt(v);
          else if (k === 'size') e.size = BigInt(v);
          else if (k === 'mtime') e.mtime = parsePaxTime(v);
          else if (k === 'atime') e.atime = parsePaxTime(v);
          else if (k === 'ctime') e.ctime = parsePaxTime(v);
          else if (k.startsWith('GNU.sparse.')) throw new Error('tar: sparse files are not modelled');
        }
      }
      if (longName) name = longName;
      if (longLink) linkname = longLink;
      if (typeflag === '\0') typeflag = name.endsWith('/') ? '5' : '0';
      if (typeflag === 'S') throw new Error('tar: sparse files are not modelled');
      e.name = name;
      e.linkname = linkname;
      e.typeflag = typeflag;
      e.pax = pax;
      pax = null;
      longName = null;
      longLink = null;
      const headerOnly = '123456'.includes(typeflag);
      const size = headerOnly ? 0 : Number(e.size);
      const hash = createHash('sha256');
      let left = size;
      while (left > 0) {
        const n = Math.min(left, 4 << 20);
        const d = readRange(fd, pos, n);
        if (d.length !== n) throw new Error('tar: unexpected EOF');
        hash.update(d);
        pos += n;
        left -= n;
      }
      pos += (BLOCK - (size % BLOCK)) % BLOCK;
      e.sha256 = hash.digest('hex');
      entries.push(e);
    }
  } finally {
    fs.closeSync(fd);
  }
  return entries;
}

// ------------------------------------------------------------- timestamps ----

const ZERO_TIME_S = -62135596800n; // Go's zero time.Time (0001-01-01T00:00:00Z)

/** hcsshim's 64-bit time value (spec §7.1): lo32 = v & 0xffffffff, extra = v >> 32. */
export function encodeTime(t) {
  if (t === null || (t.s === ZERO_TIME_S && t.ns === 0)) return 0n;
  if (t.s < -(2n ** 31n)) return 0x80000000n;
  if (t.s > 0x37fffffffn) return 0x37fffffffn;
  return BigInt.asUintN(64, BigInt.asUintN(64, t.s) | (BigInt(t.ns) << 34n));
}

/** spec §7.3 decode of a stored value (the re-encode is encodeTime). */
export function decodeTime(v) {
  if (v === 0n) return null;
  let s = v & 0x3ffffffffn;
  let ns = v >> 34n;
  if (s >= 2n ** 31n && s < 2n ** 32n) s -= 2n ** 32n;
  s += ns / 1000000000n;
  ns %= 1000000000n;
  return { s, ns: Number(ns) };
}

const TIME_KEYS = ['atime', 'ctime', 'mtime', 'crtime'];

// ----------------------------------------------------------------- model ----

const S_IFMT = 0o170000;
const KIND_BY_IFMT = {
  0o040000: 'dir',
  0o100000: 'reg',
  0o120000: 'lnk',
  0o020000: 'chr',
  0o060000: 'blk',
  0o010000: 'fifo',
  0o140000: 'sock',
};
const KIND_BY_TYPEFLAG = { 2: 'lnk', 3: 'chr', 4: 'blk', 5: 'dir', 6: 'fifo' };

export function kindOfMode(mode) {
  return KIND_BY_IFMT[mode & S_IFMT] ?? `mode0${(mode & S_IFMT).toString(8)}`;
}

/** Go's path.Clean("/" + p) without the leading "/" ("" = root). */
export function cleanPath(p) {
  const out = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return out.join('/');
}

let nextNodeId = 1;

function dirNode(perm, uid, gid, times) {
  return { id: nextNodeId++, kind: 'dir', perm, uid, gid, times, children: new Map(), nlink: 0 };
}

/**
 * What hcsshim's tar2ext4 (no -overlay) makes of `tarPath`: Map<path, node>, path "" = root.
 * node: {id (same object = same inode), kind, perm, uid, gid, times {atime,ctime,mtime,crtime}
 * (BigInt, encoded), size, sha256, target, major, minor, nlink, implicit}.
 * Throws where hcsshim's conversion would fail.
 */
export function expectedTree(tarPath) {
  const zeroTimes = { atime: 0n, ctime: 0n, mtime: 0n, crtime: 0n };
  const root = dirNode(0o755, 0, 0, { ...zeroTimes });
  root.children.set('lost+found', dirNode(0o700, 0, 0, { ...zeroTimes }));

  const walkParent = (cleaned, raw) => {
    const comps = cleaned.split('/');
    const last = comps.pop();
    if (last === '' || last.length > 255) throw new Error(`${raw}: invalid name`);
    let cur = root;
    for (const c of comps) {
      cur = cur.kind === 'dir' ? cur.children.get(c) : undefined;
      if (!cur) throw new Error(`${raw}: path not found`);
    }
    if (cur.kind !== 'dir') throw new Error(`${raw}: path not found`);
    return { parent: cur, last };
  };

  const makeParents = (name) => {
    const comps = cleanPath(name).split('/');
    comps.pop();
    let cur = root;
    for (const c of comps) {
      if (cur.kind !== 'dir') throw new Error(`failed to ensure parent directories for ${name}`);
      let child = cur.children.get(c);
      if (!child) {
        const times = {};
        for (const k of TIME_KEYS) times[k] = encodeTime(decodeTime(cur.times[k]));
        child = dirNode(cur.perm, cur.uid, cur.gid, times);
        child.implicit = true;
        cur.children.set(c, child);
      }
      cur = child;
    }
  };

  const create = (name, rec) => {
    const cleaned = cleanPath(name);
    if (cleaned === '') {
      if (rec.kind !== 'dir') throw new Error(`${name}: cannot replace a directory with a file`);
      Object.assign(root, { perm: rec.perm, uid: rec.uid, gid: rec.gid, times: rec.times });
      return;
    }
    const { parent, last } = walkParent(cleaned, name);
    const existing = parent.children.get(last);
    if (existing) {
      if (existing.kind === 'dir' && rec.kind !== 'dir') throw new Error(`${name}: cannot replace a directory with a file`);
      if (existing.kind !== 'dir' && rec.kind === 'dir') throw new Error(`${name}: cannot replace a file with a directory`);
      if (existing.kind === 'dir') {
        Object.assign(existing, { perm: rec.perm, uid: rec.uid, gid: rec.gid, times: rec.times, implicit: false });
        return;
      }
      if (existing.nlink < 2) {
        if ((existing.kind === 'reg' && existing.size > 0) || (existing.kind === 'lnk' && existing.size > 59)) {
          throw new Error(`${name}: cannot overwrite file with non-inline data`);
        }
        Object.assign(existing, rec, { id: existing.id, nlink: existing.nlink });
        return;
      }
      existing.nlink--;
    }
    const node = { id: nextNodeId++, ...rec, nlink: 1 };
    if (rec.kind === 'dir') {
      node.children = new Map();
      node.nlink = 0;
    }
    parent.children.set(last, node);
  };

  const link = (target, newname) => {
    const cleaned = cleanPath(newname);
    const { parent, last } = walkParent(cleaned, newname);
    const existing = parent.children.get(last);
    if (existing && (existing.kind === 'dir' || existing.nlink < 2)) {
      throw new Error(`${newname}: cannot orphan existing file or directory`);
    }
    const tc = cleanPath(target);
    const { parent: tp, last: tl } = walkParent(tc, target);
    const t = tp.children.get(tl);
    if (!t) throw new Error(`${target}: file not found`);
    if (t.kind === 'dir') throw new Error(`${newname}: link target cannot be a directory: ${target}`);
    if (existing) existing.nlink--;
    t.nlink++;
    parent.children.set(last, t);
  };

  for (const e of readTarEntries(tarPath)) {
    makeParents(e.name);
    if (e.typeflag === '1') {
      link(e.linkname, e.name);
      continue;
    }
    const kind = KIND_BY_TYPEFLAG[e.typeflag] ?? 'reg';
    let perm = Number(BigInt.asUintN(16, e.mode)) & 0o7777;
    if (kind === 'lnk') perm |= 0o777;
    const target = Buffer.from(e.linkname, 'latin1');
    const rec = {
      kind,
      perm,
      uid: Number(BigInt.asUintN(32, e.uid)),
      gid: Number(BigInt.asUintN(32, e.gid)),
      times: {
        atime: encodeTime(e.atime),
        ctime: encodeTime(e.ctime),
        mtime: encodeTime(e.mtime),
        crtime: encodeTime(e.mtime),
      },
      size: kind === 'reg' ? Number(e.size) : kind === 'lnk' ? target.length : 0,
      sha256: kind === 'reg' ? e.sha256 : undefined,
      target: kind === 'lnk' ? target : undefined,
      major: kind === 'chr' || kind === 'blk' ? Number(BigInt.asUintN(32, e.devmajor)) : undefined,
      minor: kind === 'chr' || kind === 'blk' ? Number(BigInt.asUintN(32, e.devminor)) : undefined,
    };
    create(e.name, rec);
  }

  const tree = new Map();
  const visit = (p, node) => {
    tree.set(p, node);
    if (node.kind !== 'dir') return;
    let subdirs = 0;
    for (const [name, child] of node.children) {
      if (child.kind === 'dir') subdirs++;
      visit(p === '' ? name : `${p}/${name}`, child);
    }
    node.nlink = 2 + subdirs;
  };
  visit('', root);
  return tree;
}

// --------------------------------------------------------------- compare ----

/** Printable form of a binary path. */
export function showPath(p) {
  return JSON.stringify('/' + Buffer.from(p, 'latin1').toString('utf8'));
}

const fmtTime = (v) => `0x${(v & 0xffffffffn).toString(16)}:${(v >> 32n).toString(16).padStart(8, '0')}`;

/**
 * Compare an expected tree (expectedTree) with an actual one (Map<path, {ino, kind, perm,
 * uid, gid, size, sha256, target (Buffer), major, minor, nlink, times?}>).
 * times: 'exact' compares the 4 encoded times, 'mtime' compares mtime seconds/ns only where
 * the encoding is plain (1970..2038), false skips times. kernelIds: ids as a mount shows them.
 * Returns problem strings ([] = same).
 */
export function compareTrees(expected, actual, { times = 'exact', kernelIds = false, maxProblems = 50 } = {}) {
  const problems = [];
  const add = (p, msg) => problems.push(`${showPath(p)}: ${msg}`);
  const inoOfNode = new Map();
  const nodeOfIno = new Map();
  for (const [p, exp] of expected) {
    const act = actual.get(p);
    if (!act) {
      add(p, `missing (want ${exp.kind}${exp.implicit ? ', implicit parent' : ''})`);
      continue;
    }
    if (act.kind !== exp.kind) {
      add(p, `type ${act.kind}, want ${exp.kind}`);
      continue;
    }
    if (act.perm !== exp.perm) add(p, `permissions 0${act.perm.toString(8)}, want 0${exp.perm.toString(8)}`);
    // Through the kernel, id 0xFFFFFFFF (INVALID_UID/GID) reads back as the overflow id 65534.
    const id = (v) => (kernelIds && v === 0xffffffff ? 65534 : v);
    if (act.uid !== id(exp.uid)) add(p, `uid ${act.uid}, want ${id(exp.uid)}`);
    if (act.gid !== id(exp.gid)) add(p, `gid ${act.gid}, want ${id(exp.gid)}`);
    if (act.nlink !== undefined && act.nlink !== exp.nlink) add(p, `link count ${act.nlink}, want ${exp.nlink}`);
    if (exp.kind === 'reg' || exp.kind === 'lnk') {
      if (act.size !== exp.size) add(p, `size ${act.size}, want ${exp.size}`);
    }
    if (exp.kind === 'reg' && act.sha256 !== exp.sha256) add(p, `content sha256 ${act.sha256}, want ${exp.sha256}`);
    if (exp.kind === 'lnk' && !(act.target && act.target.equals(exp.target))) {
      const show = (b) => (b ? JSON.stringify(b.toString('utf8').slice(0, 80)) : 'none');
      add(p, `symlink target ${show(act.target)} (${act.target?.length} bytes), want ${show(exp.target)} (${exp.target.length} bytes)`);
    }
    if (exp.kind === 'chr' || exp.kind === 'blk') {
      // The on-disk encoding keeps 12 bits of major and 20 of minor (spec §16).
      const wm = exp.major & 0xfff;
      const wn = exp.minor & 0xfffff;
      if (act.major !== wm || act.minor !== wn) add(p, `device ${act.major}:${act.minor}, want ${wm}:${wn}`);
    }
    if (times === 'exact' && act.times) {
      for (const k of TIME_KEYS) {
        if (act.times[k] !== exp.times[k]) add(p, `${k} ${fmtTime(act.times[k])}, want ${fmtTime(exp.times[k])}`);
      }
    } else if (times === 'mtime' && act.mtimeNs !== undefined) {
      const v = exp.times.mtime;
      const lo = v & 0xffffffffn;
      const extra = v >> 32n;
      if ((extra & 3n) === 0n && lo < 2n ** 31n) {
        const want = lo * 1000000000n + (extra >> 2n);
        if (act.mtimeNs !== want) add(p, `mtime ${act.mtimeNs} ns, want ${want} ns`);
      }
    }
    // Hard links: one expected node <-> one actual inode.
    const seenIno = inoOfNode.get(exp.id);
    if (seenIno === undefined) inoOfNode.set(exp.id, act.ino);
    else if (seenIno !== act.ino) add(p, `inode ${act.ino}, want the same inode as its hard links (${seenIno})`);
    const seenNode = nodeOfIno.get(act.ino);
    if (seenNode === undefined) nodeOfIno.set(act.ino, exp.id);
    else if (seenNode !== exp.id) add(p, `shares inode ${act.ino} with a path that is not its hard link`);
  }
  for (const [p, act] of actual) {
    if (!expected.has(p)) add(p, `unexpected ${act.kind} in the image`);
  }
  if (problems.length > maxProblems) {
    const n = problems.length;
    problems.length = maxProblems;
    problems.push(`... ${n - maxProblems} more`);
  }
  return problems;
}

// --------------------------------------------------------------- debugfs ----

/**
 * Run a debugfs command script (one command per line) on `image`; returns the output of each
 * command (binary strings), split on debugfs's "debugfs: <cmd>" echo lines.
 */
export function debugfsBatch(image, commands) {
  const debugfs = toolPath('debugfs');
  if (!debugfs) throw new Error('debugfs not found');
  const dir = tmpDir('lcow-debugfs-');
  const script = path.join(dir, 'cmds');
  fs.writeFileSync(script, Buffer.from(commands.join('\n') + '\n', 'latin1'));
  const r = spawnSync(debugfs, ['-f', script, image], {
    maxBuffer: 1 << 30,
    env: { ...process.env, LANG: 'C', LC_ALL: 'C', PAGER: 'cat', DEBUGFS_PAGER: '__none__' },
  });
  fs.rmSync(dir, { recursive: true, force: true });
  if (r.error) throw r.error;
  const out = r.stdout.toString('latin1');
  const results = [];
  let pos = 0;
  for (let i = 0; i < commands.length; i++) {
    const marker = `debugfs: ${commands[i]}\n`;
    const at = out.indexOf(marker, pos);
    if (at < 0) throw new Error(`debugfs output lacks ${JSON.stringify(marker)}; stderr: ${r.stderr.toString().slice(0, 500)}`);
    if (i > 0) results[i - 1] = out.slice(pos, at);
    pos = at + marker.length;
  }
  if (commands.length) results[commands.length - 1] = out.slice(pos);
  return { outputs: results, stderr: r.stderr.toString('latin1'), status: r.status };
}

const LS_P = /\/(\d+)\/([0-7]+)\/(-?\d+)\/(-?\d+)\/([^/]*)\/(\d*)\/\n/g;

const STAT_TYPES = {
  regular: 'reg',
  directory: 'dir',
  symlink: 'lnk',
  'character special': 'chr',
  'block special': 'blk',
  FIFO: 'fifo',
  socket: 'sock',
};

function parseStat(out, ino) {
  const m = (re, what) => {
    const r = re.exec(out);
    if (!r) throw new Error(`debugfs stat <${ino}>: no ${what} in ${JSON.stringify(out.slice(0, 300))}`);
    return r;
  };
  const type = m(/Type: (.+?)\s+Mode:\s+0?([0-7]+)\s+Flags: 0x([0-9a-f]+)/, 'type');
  const ug = m(/User:\s*(-?\d+)\s+Group:\s*(-?\d+)(?:\s+Project:\s*-?\d+)?\s+Size:\s*(\d+)/, 'user/group/size');
  const links = m(/Links:\s*(\d+)/, 'links');
  const st = {
    kind: STAT_TYPES[type[1]] ?? type[1],
    perm: parseInt(type[2], 8),
    flags: parseInt(type[3], 16),
    uid: Number(ug[1]) >>> 0,
    gid: Number(ug[2]) >>> 0,
    size: Number(ug[3]),
    nlink: Number(links[1]),
    times: {},
  };
  for (const k of TIME_KEYS) {
    const r = new RegExp(`^\\s*${k}: 0x([0-9a-f]+)(?::([0-9a-f]+))?`, 'm').exec(out);
    st.times[k] = r ? (BigInt('0x' + (r[2] ?? '0')) << 32n) | BigInt('0x' + r[1]) : 0n;
  }
  const dev = /Device major\/minor number: (\d+):(\d+)/.exec(out);
  if (dev) {
    st.major = Number(dev[1]);
    st.minor = Number(dev[2]);
  }
  const fast = /Fast link dest: "([\s\S]*)"\n?$/.exec(out.replace(/\n+$/, '\n'));
  if (fast) st.fastTarget = Buffer.from(fast[1], 'latin1');
  return st;
}

/**
 * The tree as debugfs sees it: Map<path, {ino, kind, perm, uid, gid, size, nlink, times,
 * sha256 (reg), target (lnk), major, minor}>. Walks with `ls -p` from the root, then
 * `stat <ino>` every inode and `dump`s regular files and non-fast symlinks.
 */
export function debugfsTree(image) {
  const tree = new Map();
  tree.set('', { ino: 2, mode: 0o40755 });
  let level = [''];
  while (level.length) {
    const cmds = level.map((p) => `ls -p <${tree.get(p).ino}>`);
    const { outputs } = debugfsBatch(image, cmds);
    const next = [];
    level.forEach((dirPath, i) => {
      for (const m of outputs[i].matchAll(LS_P)) {
        const ino = Number(m[1]);
        const name = m[5];
        if (dirPath === '' && name === '.') tree.get('').mode = parseInt(m[2], 8);
        if (ino === 0 || name === '.' || name === '..') continue;
        const p = dirPath === '' ? name : `${dirPath}/${name}`;
        const mode = parseInt(m[2], 8);
        tree.set(p, { ino, mode });
        if ((mode & S_IFMT) === 0o040000) next.push(p);
      }
    });
    level = next;
  }
  const inos = [...new Set([...tree.values()].map((e) => e.ino))];
  const { outputs } = debugfsBatch(image, inos.map((i) => `stat <${i}>`));
  const stats = new Map(inos.map((ino, i) => [ino, parseStat(outputs[i], ino)]));

  const dumpDir = tmpDir('lcow-dump-');
  const toDump = inos.filter((ino) => {
    const s = stats.get(ino);
    return s.kind === 'reg' || (s.kind === 'lnk' && !s.fastTarget);
  });
  if (toDump.length) debugfsBatch(image, toDump.map((ino) => `dump <${ino}> ${path.join(dumpDir, String(ino))}`));
  const dumped = new Map();
  for (const ino of toDump) {
    const f = path.join(dumpDir, String(ino));
    const s = stats.get(ino);
    if (!fs.existsSync(f)) continue;
    if (s.kind === 'lnk') dumped.set(ino, { target: fs.readFileSync(f) });
    else dumped.set(ino, { sha256: sha256File(f) });
  }
  fs.rmSync(dumpDir, { recursive: true, force: true });

  const out = new Map();
  for (const [p, { ino, mode }] of tree) {
    const s = stats.get(ino);
    const d = dumped.get(ino) ?? {};
    out.set(p, {
      ino,
      kind: kindOfMode(mode),
      perm: mode & 0o7777,
      uid: s.uid,
      gid: s.gid,
      size: s.size,
      nlink: s.nlink,
      times: s.times,
      flags: s.flags,
      sha256: d.sha256,
      target: s.kind === 'lnk' ? (s.fastTarget ?? d.target) : undefined,
      major: s.major,
      minor: s.minor,
    });
  }
  return out;
}

/**
 * Check that the ext4 image at `imagePath` holds exactly what hcsshim's tar2ext4 (no options)
 * makes of `tarPath`, as debugfs reads it: every path with type, permissions, uid, gid, size,
 * content, symlink target, device numbers, link counts, hard links sharing an inode, implicit
 * parents, the four timestamps, and nothing else. Returns problem strings ([] = match).
 */
export function checkImageMatchesTar(imagePath, tarPath, opts = {}) {
  return compareTrees(expectedTree(tarPath), debugfsTree(imagePath), opts);
}

// ------------------------------------------------------------- directory ----

/** The tree under a mounted directory, read with lstat/readlink/readFile (Map like debugfsTree). */
export function dirTree(root) {
  const out = new Map();
  const rootBuf = Buffer.from(root);
  const visit = (rel, abs) => {
    const st = fs.lstatSync(abs, { bigint: true });
    const mode = Number(st.mode);
    const e = {
      ino: Number(st.ino),
      kind: kindOfMode(mode),
      perm: mode & 0o7777,
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: Number(st.size),
      nlink: Number(st.nlink),
      mtimeNs: st.mtimeNs,
    };
    if (e.kind === 'reg') e.sha256 = sha256File(abs);
    if (e.kind === 'lnk') e.target = fs.readlinkSync(abs, { encoding: 'buffer' });
    if (e.kind === 'chr' || e.kind === 'blk') {
      const rdev = st.rdev;
      e.major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
      e.minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
    }
    out.set(rel, e);
    if (e.kind === 'dir') {
      for (const name of fs.readdirSync(abs, { encoding: 'buffer' })) {
        const n = name.toString('latin1');
        visit(rel === '' ? n : `${rel}/${n}`, Buffer.concat([abs, Buffer.from('/'), name]));
      }
    }
  };
  visit('', rootBuf);
  return out;
}

/** checkImageMatchesTar for a mounted image (times: mtime where the encoding is plain). */
export function checkDirMatchesTar(dir, tarPath, opts = {}) {
  return compareTrees(expectedTree(tarPath), dirTree(dir), { times: 'mtime', kernelIds: true, ...opts });
}

// ---------------------------------------------------------------- e2fsck ----

export const PADDING_MESSAGE = 'Padding at end of inode bitmap is not set. Fix? no';
const TIMESTAMP_RE = /^Timestamp\(s\) on inode \d+ beyond 2310-04-04 are likely pre-1970\.$/;

/**
 * What e2fsck says about two inputs hcsshim accepts and writes as given (README, "hcsshim
 * defects we copy"): a symlink with an empty target (a size-0 symlink) and an xattr name
 * with no known prefix stored in the xattr block (index 0). No real tar has either, so
 * only the fuzzer's mutated tars may produce them.
 */
const QUIRK_RES = [
  [/^Symlink .* \(inode #\d+\) is invalid\.$/, 'Clear? no'],
  [/^Entry '.*' in .* \(\d+\) has an incorrect filetype \(was 7, should be 0\)\.$/, 'Fix? no'],
];
const XATTR_INVALID_NAME_RE = /^Extended attribute block (\d+) is corrupt \(invalid name\)\. {2}Clear\? no$/;
const XATTR_COLLISION_RE = /^Extended attribute block (\d+) is corrupt \(allocation collision\)\. {2}Clear\? no$/;

export function e2fsckVersion() {
  const e2fsck = toolPath('e2fsck');
  if (!e2fsck) return null;
  const r = spawnSync(e2fsck, ['-V'], { encoding: 'utf8' });
  const m = /e2fsck (\d+\.\d+(?:\.\d+)?)/.exec(`${r.stdout}${r.stderr}`);
  return m ? m[1] : null;
}

/**
 * Run `e2fsck -fn` on `imagePath` (a bare ext4 image: strip any VHD footer first).
 * Returns {exit, messages, problems}: messages as golden.json records them (no version line,
 * no "Pass N:" lines, image path replaced by <image>). Problems: any message other than the
 * expected inode-bitmap padding complaint and pre-1970 timestamp warnings (each with its
 * "Fix? no"), an exit status other than 4 (0 if `allowClean`), and, when `expected` (golden
 * `e2fsck`) is given and the local e2fsck is 1.47.x like the oracle's, any difference from it.
 * `hcsshimQuirks` also accepts the messages of QUIRK_RES and of index-0 xattr names in a
 * block (the collision message only for a block already reported for its name).
 */
export function checkE2fsck(imagePath, expected, { allowClean = false, hcsshimQuirks = false } = {}) {
  const e2fsck = toolPath('e2fsck');
  if (!e2fsck) throw new Error('e2fsck not found');
  const r = spawnSync(e2fsck, ['-fn', imagePath], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, LANG: 'C', LC_ALL: 'C' },
  });
  if (r.error) throw r.error;
  const messages = `${r.stdout}\n${r.stderr}`
    .split('\n')
    .map((l) => l.split(imagePath).join('<image>').trim())
    .filter((l) => l !== '' && !/^e2fsck \d/.test(l) && !/^Pass \d+[A-Z]?: /.test(l));
  const problems = [];
  let afterTimestamp = false;
  let quirkAnswer = null; // the answer line a quirk message is followed by
  const badNameBlocks = new Set();
  for (const m of messages) {
    let ok =
      m.startsWith('<image>: ') || m === PADDING_MESSAGE || TIMESTAMP_RE.test(m) || (afterTimestamp && m === 'Fix? no');
    if (hcsshimQuirks && !ok) {
      const invalidName = XATTR_INVALID_NAME_RE.exec(m);
      const collision = XATTR_COLLISION_RE.exec(m);
      if (invalidName) badNameBlocks.add(invalidName[1]);
      ok = m === quirkAnswer || QUIRK_RES.some(([re]) => re.test(m)) || invalidName !== null || (collision !== null && badNameBlocks.has(collision[1]));
    }
    afterTimestamp = TIMESTAMP_RE.test(m);
    quirkAnswer = QUIRK_RES.find(([re]) => re.test(m))?.[1] ?? null;
    if (!ok) problems.push(`unexpected e2fsck message: ${m}`);
  }
  const exitOk = r.status === 4 || (allowClean && r.status === 0);
  if (!exitOk) problems.push(`e2fsck exit ${r.status}, want 4`);
  if (expected && (e2fsckVersion() ?? '').startsWith('1.47')) {
    if (expected.exit !== r.status) problems.push(`e2fsck exit ${r.status}, oracle's ${expected.exit}`);
    const want = JSON.stringify(expected.messages);
    const got = JSON.stringify(messages);
    if (want !== got) problems.push(`e2fsck messages ${got}, oracle's ${want}`);
  }
  return { exit: r.status, messages, problems };
}
