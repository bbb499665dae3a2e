// DiffGetter.Get (spec/driver.md §7.15) without a VM: one regular file of a layer, by the
// name its tar entry had, streamed in 1 MiB chunks as the consumer pulls (the reference ran
// `cat` in the VM and buffered the whole file). The name is joined to the layer root the
// way POSIX path joining cleans it, so '..' stops at the layer root; symlinks are not
// followed (tar-split asks for the names of regular-file entries, which hcsshim resolved
// without following any).

import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { generatorStream } from './generator-stream.js';
import { LcowError } from '../../host/errors.js';
import type { Inode } from '../../host/ext4/inode.js';
import type { Ext4Reader } from '../../host/ext4/reader.js';
import { viewRoot, type LayerView } from './layer-view.js';

const CHUNK_BYTES = 1 << 20;
/** Directories whose name tables are kept: tar-split asks for a layer's files in tar order, so one directory's files come together. */
const CACHED_DIRECTORIES = 8;
/** A directory larger than this is scanned at each lookup instead of kept. */
const MAX_CACHED_NAMES = 200_000;

/** Name tables of the last few directories looked up, per reader (a compact image's directories are linear lists). */
class DirectoryNames {
  private readonly tables = new Map<number, Map<string, number>>();

  constructor(private readonly reader: Ext4Reader) {}

  /** The inode number of `name` in `dir`, or undefined. */
  find(dir: Inode, name: Buffer): number | undefined {
    const key = name.toString('latin1');
    const table = this.tables.get(dir.number);
    if (table) {
      this.tables.delete(dir.number);
      this.tables.set(dir.number, table);
      return table.get(key);
    }
    const built = new Map<string, number>();
    for (const entry of this.reader.entries(dir)) {
      if (entry.dot) continue;
      if (built.size >= MAX_CACHED_NAMES) return this.scan(dir, name);
      built.set(entry.nameBytes.toString('latin1'), entry.inode);
    }
    if (this.tables.size >= CACHED_DIRECTORIES) this.tables.delete(this.tables.keys().next().value as number);
    this.tables.set(dir.number, built);
    return built.get(key);
  }

  private scan(dir: Inode, name: Buffer): number | undefined {
    for (const entry of this.reader.entries(dir)) if (!entry.dot && entry.nameBytes.equals(name)) return entry.inode;
    return undefined;
  }
}

const namesByReader = new WeakMap<Ext4Reader, DirectoryNames>();

function notFound(path: string, why: string): LcowError {
  return new LcowError('LAYER_FILE_NOT_FOUND', `${path}: ${why}`, { path });
}

/** The regular file at `path` in the layer, or a one-line LAYER_FILE_NOT_FOUND error. */
export function findLayerFile(view: LayerView, path: string): Inode {
  let names = namesByReader.get(view.reader);
  if (!names) {
    names = new DirectoryNames(view.reader);
    namesByReader.set(view.reader, names);
  }
  const parts = posix.join('/', path).split('/').filter((p) => p.length > 0);
  let current = viewRoot(view);
  for (const [i, part] of parts.entries()) {
    if (current.type !== 'dir') throw notFound(path, `${parts.slice(0, i).join('/')} is not a directory in the layer`);
    const next = names.find(current, Buffer.from(part, 'utf8'));
    if (next === undefined) throw notFound(path, 'no such file in the layer');
    current = view.reader.inode(next);
  }
  if (current.type !== 'file') throw notFound(path, `not a regular file in the layer (${current.type})`);
  return current;
}

/**
 * DiffGetter's Get: the file's bytes, streamed. Lookup failures throw at once; a read
 * failure later destroys the stream with one LcowError.
 */
export function layerFile(view: LayerView, path: string): Readable {
  const inode = findLayerFile(view, path);
  return generatorStream(() => view.reader.fileChunks(inode, CHUNK_BYTES), 2 * CHUNK_BYTES, (err) => {
    const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
    return new LcowError(err instanceof LcowError ? err.code : 'EXPORT_FAILED', `${path}: ${message}`, { path, cause: err });
  });
}
