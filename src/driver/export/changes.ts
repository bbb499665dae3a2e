// Changes and DiffSize (spec/driver.md §7.14), which the reference leaves empty, computed as
// Docker's overlay driver computes them (pkg/archive/changes.go `changes` with
// changes_linux.go `overlayDeletedFile`, and `ChangesSize`), over the layer's own disk:
//
// * the layer's entries in filepath.Walk order (depth first, names in byte order);
// * a whiteout (char 0:0) or an opaque directory is a Delete of its path;
// * any other entry is a Modify when its path exists in a parent layer (the nearest one
//   that has it decides), else an Add; a directory that exists in that parent with the
//   same size, mode and mtime is not reported at all;
// * the parent directory of an Add or Delete is reported as Modify before it, unless it
//   was already reported (or is the root).
//
// Paths are strings: names that are not UTF-8 are decoded with U+FFFD, as Go's JSON encoder
// writes them to the plugin protocol. Differences, on purpose: parent paths are looked up without following symlinks (Docker's
// os.Stat followed them into the host), and a path under a parent-layer non-directory
// counts as absent (Docker failed the whole call with ENOTDIR).

import { corrupt } from '../../host/ext4/fault.js';
import { ROOT_INODE, type Inode } from '../../host/ext4/inode.js';
import { ChangeKind, type Change } from '../types.js';
import { kernelTimeOf } from './inode-times.js';
import { viewRoot, type LayerView } from './layer-view.js';
import { isPristineLostFound, LOST_AND_FOUND } from './tar-entries.js';
import { isOpaque, isWhiteoutDevice } from './whiteouts.js';

/** One parent layer's directory at the walk's current path, its names read on first use. */
class ParentDirectory {
  private names?: Map<string, number>;

  constructor(private readonly view: LayerView, readonly dir: Inode) {}

  /** The inode of `name` in this directory, if it has one (names compared as bytes). */
  find(name: Buffer): Inode | undefined {
    if (!this.names) {
      this.names = new Map();
      for (const entry of this.view.reader.entries(this.dir)) if (!entry.dot) this.names.set(entry.nameBytes.toString('latin1'), entry.inode);
    }
    const number = this.names.get(name.toString('latin1'));
    return number === undefined ? undefined : this.view.reader.inode(number);
  }
}

interface Frame {
  dir: Inode;
  /** '/a/b' ('' for the root). */
  path: string;
  /** Per parent layer, nearest first: the same directory there, or undefined. */
  parents: Array<ParentDirectory | undefined>;
  /** The directory's children in name order, and how many were visited. */
  children: Array<{ name: Buffer; inode: number }>;
  next: number;
}

/** A recorded change and the inode it is about (undefined for an injected parent Modify). */
interface ChangeWithInode {
  change: Change;
  inode?: Inode;
}

/** Go's sameFsTime: equal, or the same second where either side has no sub-second part. */
function sameFsTime(a: Inode, b: Inode): boolean {
  const x = kernelTimeOf(a.mtime);
  const y = kernelTimeOf(b.mtime);
  return x.seconds === y.seconds && (x.nanoseconds === y.nanoseconds || x.nanoseconds === 0 || y.nanoseconds === 0);
}

function sameDirectory(a: Inode, b: Inode): boolean {
  return a.size === b.size && a.mode === b.mode && sameFsTime(a, b);
}

function sortedChildren(view: LayerView, dir: Inode): Array<{ name: Buffer; inode: number }> {
  const children: Array<{ name: Buffer; inode: number }> = [];
  for (const entry of view.reader.entries(dir)) if (!entry.dot) children.push({ name: entry.nameBytes, inode: entry.inode });
  return children.sort((a, b) => Buffer.compare(a.name, b.name));
}

/** The changes, depth first with an explicit stack (a deep tree cannot overflow the call stack). */
function* walkChanges(view: LayerView, parents: LayerView[]): Generator<ChangeWithInode> {
  const changedDirs = new Set<string>();
  const root = viewRoot(view);
  const entered = new Set<number>([root.number]);
  const enter = (dir: Inode, path: string, dirParents: Frame['parents']): Frame => ({ dir, path, parents: dirParents, children: sortedChildren(view, dir), next: 0 });
  const stack: Frame[] = [enter(root, '', parents.map((p) => new ParentDirectory(p, viewRoot(p))))];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    const child = frame.children[frame.next++];
    if (!child) {
      stack.pop();
      continue;
    }
    const inode = view.reader.inode(child.inode);
    // The lost+found every ext4 starts with is not the layer's change (the export leaves it out too).
    if (frame.dir.number === ROOT_INODE && child.name.equals(LOST_AND_FOUND) && isPristineLostFound(view.reader, view.origin ?? 'tar2ext4', inode)) continue;
    const path = `${frame.path}/${child.name.toString('utf8')}`;
    const inParents = frame.parents.map((p) => p?.find(child.name));
    const deleted = isWhiteoutDevice(inode, () => view.reader.device(inode)) || (inode.type === 'dir' && isOpaque(view.reader.xattrs(inode)));
    let kind: ChangeKind | undefined = ChangeKind.Add;
    if (deleted) kind = ChangeKind.Delete;
    else {
      const existing = inParents.find((p) => p !== undefined);
      if (existing) kind = existing.type === 'dir' && inode.type === 'dir' && sameDirectory(inode, existing) ? undefined : ChangeKind.Modify;
    }
    if (kind !== undefined) {
      if (inode.type === 'dir') changedDirs.add(path);
      if ((kind === ChangeKind.Add || kind === ChangeKind.Delete) && frame.path !== '' && !changedDirs.has(frame.path)) {
        changedDirs.add(frame.path);
        yield { change: { path: frame.path, kind: ChangeKind.Modify } };
      }
      yield { change: { path, kind }, inode };
    }
    if (inode.type !== 'dir') continue;
    if (entered.has(inode.number)) throw corrupt(`directory cycle: ${path} is directory inode ${inode.number}, which was already entered`);
    entered.add(inode.number);
    stack.push(enter(inode, path, inParents.map((p, i) => (p && p.type === 'dir' ? new ParentDirectory(parents[i], p) : undefined))));
  }
}

/** The layer's own changes against its parents (nearest first), in Docker's walk order. */
export function layerChanges(view: LayerView, parents: LayerView[]): Change[] {
  return [...walkChanges(view, parents)].map((c) => c.change);
}

/**
 * Docker's ChangesSize: the sizes of every non-directory Add or Modify, an inode with
 * several links counted once.
 */
export function changesSize(view: LayerView, parents: LayerView[]): number {
  const counted = new Set<number>();
  let size = 0;
  for (const { change, inode } of walkChanges(view, parents)) {
    if (!inode || inode.type === 'dir' || change.kind === ChangeKind.Delete) continue;
    if (inode.linksCount > 1) {
      if (counted.has(inode.number)) continue;
      counted.add(inode.number);
    }
    size += inode.size;
  }
  return size;
}
