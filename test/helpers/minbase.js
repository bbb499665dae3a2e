// A Debian bookworm minbase tree (debootstrap --variant=minbase) as a POSIX tar with
// xattrs and ACLs, made once and cached in <repo>/.cache/ (gitignored): building it takes
// minutes and needs the Debian mirror apt is configured with.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, toolPath } from './corpus.js';

export const MINBASE_TAR = path.join(REPO, '.cache', 'minbase-bookworm.tar');

/** The first http(s) mirror of the Debian archive in apt's sources (deb822 or one-line form). */
export function debianMirror() {
  const files = [];
  for (const dir of ['/etc/apt/sources.list.d']) {
    try {
      for (const f of fs.readdirSync(dir)) if (/\.(sources|list)$/.test(f)) files.push(path.join(dir, f));
    } catch {
      // no such directory
    }
  }
  files.unshift('/etc/apt/sources.list');
  for (const f of files) {
    let text;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const m = /^\s*(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(https?:\/\/\S+\/debian)\/?\s*$/.exec(line) ?? /^\s*(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(https?:\/\/\S+\/debian)\/?\s/.exec(line);
      if (m) return m[1];
    }
  }
  return null;
}

/**
 * Path of the cached minbase tar, building it first if needed; or { skip: reason } when
 * this machine cannot (no debootstrap, not root, no mirror, or debootstrap failed).
 */
export function minbaseTar() {
  if (fs.existsSync(MINBASE_TAR)) return { tar: MINBASE_TAR };
  const debootstrap = toolPath('debootstrap');
  if (!debootstrap) return { skip: 'debootstrap not installed (apt-get install -y debootstrap)' };
  if (process.getuid?.() !== 0) return { skip: 'debootstrap needs root' };
  const mirror = debianMirror();
  if (!mirror) return { skip: 'no Debian mirror found in /etc/apt/sources.list*' };
  fs.mkdirSync(path.dirname(MINBASE_TAR), { recursive: true });
  const root = fs.mkdtempSync(path.join(path.dirname(MINBASE_TAR), 'minbase-'));
  try {
    const r = spawnSync(debootstrap, ['--variant=minbase', 'bookworm', root, mirror], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 10 * 60 * 1000 });
    if (r.status !== 0) return { skip: `debootstrap --variant=minbase bookworm ${mirror} failed (exit ${r.status}): ${(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' / ')}` };
    const tmp = `${MINBASE_TAR}.${process.pid}.tmp`;
    const t = spawnSync('tar', ['--format=posix', '--xattrs', "--xattrs-include=*", '--acls', '--numeric-owner', '-C', root, '-cf', tmp, '.'], { encoding: 'utf8' });
    if (t.status !== 0) {
      fs.rmSync(tmp, { force: true });
      return { skip: `tar of the minbase tree failed: ${t.stderr.trim()}` };
    }
    fs.renameSync(tmp, MINBASE_TAR);
    return { tar: MINBASE_TAR };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
