// Diff (spec/driver.md §7.13) without a VM: a layer disk's content as an OCI layer tar,
// streamed. Entries come in inode order (inode-order.ts) so that a layer.vhd converts
// back to the same image; each is encoded as Docker's archive writer would (tar-entries.ts,
// tar-header.ts); file data is read in 1 MiB chunks only when the consumer wants more.

import type { Readable } from 'node:stream';
import { generatorStream } from './generator-stream.js';
import { LcowError } from '../../host/errors.js';
import { ROOT_INODE } from '../../host/ext4/inode.js';
import { inodeOrder } from './inode-order.js';
import { viewRoot, type LayerView } from './layer-view.js';
import { encodeHeader, endOfArchive, paddingFor } from './tar-header.js';
import { isPristineLostFound, LOST_AND_FOUND, TarEntryMaker, type TarItem } from './tar-entries.js';
import { childPath } from './whiteouts.js';

export { sandboxRoot, sandboxView, type LayerView, type LayerOrigin } from './layer-view.js';
// The driver's other exporters, re-exported so it needs one import.
export { layerChanges, changesSize } from './changes.js';
export { layerFile } from './layer-file.js';

const CHUNK_BYTES = 1 << 20;
/** Headers and small files are gathered into pieces of about this size before they are pushed: one stream chunk per 512-byte header costs more than the header. */
const BATCH_BYTES = 256 << 10;
/** How much the stream buffers ahead of its consumer. */
const HIGH_WATER_MARK = 2 * CHUNK_BYTES;

/** The path the export was at, for errors. */
interface Position {
  path: Buffer;
}

function* itemBytes(view: LayerView, item: TarItem): Generator<Buffer> {
  yield encodeHeader(item.header);
  if (!item.data) return;
  let written = 0;
  for (const chunk of view.reader.fileChunks(item.data, CHUNK_BYTES)) {
    written += chunk.length;
    yield chunk;
  }
  if (written !== item.header.size) throw new LcowError('EXT4_CORRUPT', `corrupt ext4 image: inode ${item.data.number} gave ${written} of its ${item.header.size} bytes`);
  yield paddingFor(written);
}

/** Gathers small buffers into batches of about BATCH_BYTES; large ones pass through (after what was gathered). */
function* batched(parts: Iterable<Buffer>): Generator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for (const part of parts) {
    if (part.length >= BATCH_BYTES) {
      if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      yield part;
      continue;
    }
    pending.push(part);
    pendingBytes += part.length;
    if (pendingBytes >= BATCH_BYTES) {
      yield Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
}

/** The tar as a sequence of buffers: headers, file chunks, padding, the end blocks. */
function* tarChunks(view: LayerView, at: Position): Generator<Buffer> {
  const origin = view.origin ?? 'tar2ext4';
  const reader = view.reader;
  const root = viewRoot(view);
  const maker = new TarEntryMaker(reader, origin);
  for (const item of maker.root(root)) yield* itemBytes(view, item);
  const atExt4Root = root.number === ROOT_INODE;
  for (const { dirPath, name, inode } of inodeOrder(reader, root)) {
    at.path = childPath(dirPath, name);
    if (atExt4Root && dirPath.length === 0 && name.equals(LOST_AND_FOUND) && isPristineLostFound(reader, origin, inode)) continue;
    for (const item of maker.entry(dirPath, name, inode)) yield* itemBytes(view, item);
  }
  yield endOfArchive();
}

/** One line: the LcowError's code kept, the path the export was at added. */
function exportError(err: unknown, at: Position): LcowError {
  const where = at.path.length ? `${at.path.toString('utf8')}: ` : '';
  const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
  const code = err instanceof LcowError ? err.code : 'EXPORT_FAILED';
  return new LcowError(code, `layer export: ${where}${message}`, { path: at.path.toString('utf8') || undefined, cause: err });
}

/**
 * The layer as an OCI layer tar stream. Reads happen as the consumer pulls (backpressure),
 * a failure destroys the stream with one LcowError, and destroying the stream stops the walk.
 * The view's reader stays open: the caller closes it after the stream ends or fails.
 */
export function layerTar(view: LayerView): Readable {
  const at: Position = { path: Buffer.alloc(0) };
  return generatorStream(() => batched(tarChunks(view, at)), HIGH_WATER_MARK, (err) => exportError(err, at));
}
