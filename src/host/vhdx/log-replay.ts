// Log replay (MS-VHDX §2.3.3). A header with a non-zero LogGuid says the log may hold
// metadata updates that never reached their place. We find the active sequence (the
// newest valid, complete run of entries: consecutive sequence numbers, each entry valid
// with its checksum, descriptors and data sectors, and the head entry's Tail inside the
// run), then hand its updates over in order: to a read-only view as an overlay, or into
// the file by a writer, after which the headers' LogGuid is cleared.

import { crc32c } from '../crc32c.js';
import { vhdxError } from './errors.js';
import { FileView, type OverlayUpdate } from './file-view.js';
import { MiB } from './geometry.js';
import { guidEquals } from './guid.js';
import type { VhdxHeader } from './header.js';
import {
  LOG_SECTOR_SIZE,
  assembleSector,
  dataSectorMatches,
  decodeDescriptor,
  decodeEntryHeader,
  descriptorSectors,
  firstSectorChecksum,
  storedChecksum,
  type LogDescriptor,
  type LogEntryHeader,
} from './log-entry.js';

/** The scan reads every 4 KiB of the log, some more than once: keep it short (Hyper-V and qemu use 1 MiB). */
export const MAX_REPLAYED_LOG_LENGTH = 64 * MiB;
/** Updates held for one replay (a full 1 MiB log holds at most 32,768 descriptors). */
export const MAX_REPLAYED_DESCRIPTORS = 1 << 20;
/** No update may reach past this: 64 TiB of payload plus room for the structures. */
const MAX_FILE_OFFSET = 2 ** 47;

interface ValidEntry {
  position: number;
  header: LogEntryHeader;
  descriptors: LogDescriptor[];
  /** Log positions of the data sectors, one per data descriptor, in order. */
  dataSectorPositions: number[];
}

export interface ActiveSequence {
  entries: ValidEntry[];
  /** The head (newest) entry's FlushedFileOffset and LastFileOffset. */
  flushedFileOffset: number;
  lastFileOffset: number;
}

/**
 * Sector reads the search may make, per sector of the log: an ordinary log is read about
 * three times over; a crafted one whose entries overlap could make the search quadratic.
 */
const SEARCH_READS_PER_SECTOR = 16;

class LogReader {
  private readsLeft: number;

  constructor(
    readonly view: FileView,
    readonly header: VhdxHeader,
  ) {
    this.readsLeft = (header.logLength / LOG_SECTOR_SIZE) * SEARCH_READS_PER_SECTOR + 1024;
  }

  sector(position: number): Buffer {
    if (--this.readsLeft < 0) {
      throw vhdxError('VHDX_UNSUPPORTED', this.view.path, 'log: its entries overlap so much that searching them would take too long');
    }
    return this.view.read(this.header.logOffset + (position % this.header.logLength), LOG_SECTOR_SIZE);
  }

  /** Reads for replay, after the search: not counted. */
  sectorForReplay(position: number): Buffer {
    return this.view.read(this.header.logOffset + (position % this.header.logLength), LOG_SECTOR_SIZE);
  }

  /** The valid entry at `position`, or null (§2.3.1: every field, descriptor, data sector and the CRC). */
  entryAt(position: number): ValidEntry | null {
    const { logLength, logGuid } = this.header;
    const first = this.sector(position);
    const header = decodeEntryHeader(first);
    if (typeof header === 'string') return null;
    const { entryLength, descriptorCount, sequenceNumber } = header;
    if (entryLength === 0 || entryLength % LOG_SECTOR_SIZE !== 0 || entryLength > logLength) return null;
    if (sequenceNumber === 0n || !guidEquals(header.logGuid, logGuid)) return null;
    if (header.tail % LOG_SECTOR_SIZE !== 0 || header.tail >= logLength) return null;
    const headSectors = descriptorSectors(descriptorCount);
    const totalSectors = entryLength / LOG_SECTOR_SIZE;
    if (headSectors > totalSectors) return null;
    const sectors = [first];
    let crc = firstSectorChecksum(first);
    for (let i = 1; i < totalSectors; i++) {
      const sector = this.sector(position + i * LOG_SECTOR_SIZE);
      if (i < headSectors) sectors.push(sector);
      crc = crc32c(sector, crc);
    }
    if (crc !== storedChecksum(first)) return null;
    const descriptorArea = Buffer.concat(sectors);
    const descriptors: LogDescriptor[] = [];
    const dataSectorPositions: number[] = [];
    for (let i = 0; i < descriptorCount; i++) {
      const descriptor = decodeDescriptor(descriptorArea, i, sequenceNumber);
      if (typeof descriptor === 'string') return null;
      if (descriptor.kind === 'data') {
        const index = headSectors + dataSectorPositions.length;
        if (index >= totalSectors) return null;
        const dataPosition = (position + index * LOG_SECTOR_SIZE) % logLength;
        if (!dataSectorMatches(this.sector(dataPosition), sequenceNumber)) return null;
        dataSectorPositions.push(dataPosition);
      }
      descriptors.push(descriptor);
    }
    return { position, header, descriptors, dataSectorPositions };
  }
}

/** The run of valid entries starting at `tail`, each one's sequence number one more than the last. */
function sequenceFrom(log: LogReader, tail: number): ValidEntry[] {
  const run: ValidEntry[] = [];
  let position = tail;
  let covered = 0;
  for (;;) {
    const entry = log.entryAt(position);
    if (!entry) break;
    if (run.length > 0 && entry.header.sequenceNumber !== run[run.length - 1].header.sequenceNumber + 1n) break;
    covered += entry.header.entryLength;
    if (covered > log.header.logLength) break; // went all the way round
    run.push(entry);
    position = (position + entry.header.entryLength) % log.header.logLength;
  }
  return run;
}

/** §2.3.3's search: every tail offset in turn, the valid sequence with the largest head sequence number wins. */
function findActiveSequence(log: LogReader): ValidEntry[] | null {
  const { logLength } = log.header;
  let candidate: ValidEntry[] | null = null;
  let currentTail = 0;
  let oldTail = 0;
  for (;;) {
    const run = sequenceFrom(log, currentTail);
    const head = run[run.length - 1];
    const tailIndex = head ? run.findIndex((entry) => entry.position === head.header.tail) : -1;
    const valid = tailIndex >= 0;
    if (valid && (!candidate || head.header.sequenceNumber > candidate[candidate.length - 1].header.sequenceNumber)) {
      candidate = run.slice(tailIndex);
    }
    if (!valid) currentTail = (currentTail + LOG_SECTOR_SIZE) % logLength;
    else currentTail = (head.position + head.header.entryLength) % logLength;
    if (currentTail <= oldTail) break;
    oldTail = currentTail;
  }
  return candidate;
}

/**
 * The active sequence of a log whose header LogGuid is set, checked against the file:
 * refuses (VHDX_CORRUPT) a log with no valid sequence, a truncated file, and updates
 * aimed at the header section or the log itself.
 */
export function activeSequence(view: FileView, header: VhdxHeader): ActiveSequence {
  const { path } = view;
  if (header.logLength > MAX_REPLAYED_LOG_LENGTH) {
    throw vhdxError('VHDX_UNSUPPORTED', path, `log: ${header.logLength} bytes to replay, more than the ${MAX_REPLAYED_LOG_LENGTH} this implementation scans`);
  }
  if (header.logOffset + header.logLength > view.fileSize) {
    throw vhdxError('VHDX_CORRUPT', path, `log: ${header.logLength} bytes at ${header.logOffset} run past the end of the file (${view.fileSize} bytes)`);
  }
  const entries = findActiveSequence(new LogReader(view, header));
  if (!entries) throw vhdxError('VHDX_CORRUPT', path, 'log: LogGuid is set but the log holds no valid, complete sequence of entries');
  const head = entries[entries.length - 1].header;
  if (view.fileSize < head.flushedFileOffset) {
    throw vhdxError('VHDX_CORRUPT', path, `log: the file has ${view.fileSize} bytes, less than the ${head.flushedFileOffset} its log entry recorded (truncated)`);
  }
  let count = 0;
  for (const entry of entries) {
    for (const descriptor of entry.descriptors) {
      if (++count > MAX_REPLAYED_DESCRIPTORS) {
        throw vhdxError('VHDX_UNSUPPORTED', path, `log: more than ${MAX_REPLAYED_DESCRIPTORS} updates to replay`);
      }
      checkTarget(path, header, descriptor);
    }
  }
  return { entries, flushedFileOffset: head.flushedFileOffset, lastFileOffset: head.lastFileOffset };
}

function checkTarget(path: string, header: VhdxHeader, descriptor: LogDescriptor): void {
  const length = descriptor.kind === 'data' ? LOG_SECTOR_SIZE : descriptor.length;
  const start = descriptor.fileOffset;
  const end = start + length;
  const logEnd = header.logOffset + header.logLength;
  if (start < MiB) throw vhdxError('VHDX_CORRUPT', path, `log: an update writes into the header section at ${start}`);
  if (end > MAX_FILE_OFFSET) throw vhdxError('VHDX_CORRUPT', path, `log: an update reaches offset ${end}, beyond any VHDX`);
  if (start < logEnd && end > header.logOffset) throw vhdxError('VHDX_CORRUPT', path, `log: an update writes into the log itself at ${start}`);
}

/** The sequence's updates in replay order, for a FileView overlay or for writing back. */
export function replayUpdates(view: FileView, header: VhdxHeader, sequence: ActiveSequence): OverlayUpdate[] {
  const log = new LogReader(view, header);
  const updates: OverlayUpdate[] = [];
  for (const entry of sequence.entries) {
    let dataIndex = 0;
    for (const descriptor of entry.descriptors) {
      if (descriptor.kind === 'zero') {
        updates.push({ kind: 'zero', fileOffset: descriptor.fileOffset, length: descriptor.length });
        continue;
      }
      const position = entry.dataSectorPositions[dataIndex++];
      updates.push({ kind: 'data', fileOffset: descriptor.fileOffset, read: () => assembleSector(log.sectorForReplay(position), descriptor) });
    }
  }
  return updates;
}

/** The file size after replay: §2.3.3 extends to LastFileOffset and to every update's end. */
export function sizeAfterReplay(fileSize: number, sequence: ActiveSequence, updates: OverlayUpdate[]): number {
  let size = Math.max(fileSize, sequence.lastFileOffset);
  for (const update of updates) size = Math.max(size, update.fileOffset + (update.kind === 'data' ? LOG_SECTOR_SIZE : update.length));
  return size;
}
