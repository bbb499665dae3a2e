// Positional reads of a VHDX file, seen through the updates of a log that has not been
// written back yet (MS-VHDX §2.3.3 lets a read-only open replay into memory). Bytes past
// the end of the file read as zeros; callers check sizes where a structure must exist.

import { readSync } from 'node:fs';
import { ioGuard } from './errors.js';

/** A log update held for reads: `read` produces the 4 KiB it writes, or it writes zeros. */
export type OverlayUpdate =
  | { kind: 'data'; fileOffset: number; read: () => Buffer }
  | { kind: 'zero'; fileOffset: number; length: number };

export class FileView {
  private overlay: OverlayUpdate[] = [];
  /** The file's size after the overlay: LastFileOffset and descriptor ends can extend it. */
  size: number;

  constructor(
    readonly path: string,
    readonly fd: number,
    /** The file's own size on disk. */
    public fileSize: number,
  ) {
    this.size = fileSize;
  }

  /** After a writer changed the file's length. */
  resized(fileSize: number): void {
    this.fileSize = fileSize;
    this.size = Math.max(this.size, fileSize);
  }

  /** Applies updates over the file's bytes in this order (later ones win), and the new size. */
  setOverlay(updates: OverlayUpdate[], size: number): void {
    this.overlay = updates;
    this.size = Math.max(this.fileSize, size);
  }

  get hasOverlay(): boolean {
    return this.overlay.length > 0;
  }

  read(offset: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    const end = Math.min(offset + length, this.fileSize);
    let done = 0;
    while (offset + done < end) {
      const n = ioGuard(this.path, `reading ${end - offset - done} bytes at ${offset + done}`, () =>
        readSync(this.fd, out, done, end - offset - done, offset + done),
      );
      if (n === 0) break;
      done += n;
    }
    for (const update of this.overlay) this.apply(update, offset, out);
    return out;
  }

  private apply(update: OverlayUpdate, offset: number, out: Buffer): void {
    const length = update.kind === 'data' ? 4096 : update.length;
    const from = Math.max(offset, update.fileOffset);
    const to = Math.min(offset + out.length, update.fileOffset + length);
    if (from >= to) return;
    if (update.kind === 'zero') out.fill(0, from - offset, to - offset);
    else update.read().copy(out, from - offset, from - update.fileOffset, to - update.fileOffset);
  }
}
