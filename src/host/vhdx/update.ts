// Changing an existing VHDX the way MS-VHDX requires of a writer: headers first and in
// turn (§2.2.2.1: the non-current copy gets sequence number + 1 and a flush, then the
// other copy the same, so both stay valid), and every other metadata change through the
// log (§2.3: write the entry, flush, write the sectors in place, flush, clear LogGuid).

import { fsyncSync, writeSync } from 'node:fs';
import { ioGuard, vhdxError } from './errors.js';
import { MiB, roundUp } from './geometry.js';
import { randomGuid, ZERO_GUID } from './guid.js';
import { HEADER_OFFSETS, encodeHeader, type CurrentHeader, type VhdxHeader } from './header.js';
import { LOG_SECTOR_SIZE, descriptorSectors, encodeLogEntry, type LogUpdate } from './log-entry.js';

export type HeaderChanges = Partial<Pick<VhdxHeader, 'fileWriteGuid' | 'dataWriteGuid' | 'logGuid'>>;

/** Writes both header copies with `changes`, non-current first; returns the new current header. */
export function writeHeaders(fd: number, path: string, current: CurrentHeader, changes: HeaderChanges): CurrentHeader {
  let header = current.header;
  let index = current.index;
  for (let copy = 0; copy < 2; copy++) {
    const target: 0 | 1 = index === 0 ? 1 : 0;
    header = { ...header, ...changes, sequenceNumber: header.sequenceNumber + 1n };
    const bytes = encodeHeader(header);
    ioGuard(path, 'writing a header', () => {
      writeSync(fd, bytes, 0, bytes.length, HEADER_OFFSETS[target]);
      fsyncSync(fd);
    });
    index = target;
  }
  return { header, index };
}

/** A whole 4 KiB sector of metadata to put at `fileOffset`. */
export interface SectorWrite {
  fileOffset: number;
  data: Uint8Array;
}

/**
 * Writes metadata sectors through the log, in as many entries as the log needs: each
 * entry is written at the log's start (its Tail points to itself), flushed, applied and
 * flushed before the next overwrites it, so a crash at any point leaves either the old
 * sectors or an entry whose replay completes them. `sectors` is pulled one entry's worth
 * at a time, so a large BAT never sits in memory whole. Returns the new current header.
 */
export function writeThroughLog(fd: number, path: string, current: CurrentHeader, fileSize: number, sectors: Iterable<SectorWrite>): CurrentHeader {
  const { logOffset, logLength } = current.header;
  const logSectors = logLength / LOG_SECTOR_SIZE;
  let perEntry = logSectors - 1;
  while (perEntry > 0 && descriptorSectors(perEntry) + perEntry > logSectors) perEntry--;
  if (perEntry <= 0) throw vhdxError('VHDX_UNSUPPORTED', path, `log: ${logLength} bytes is too small to carry a metadata update`);
  const pending = sectors[Symbol.iterator]();
  let header: CurrentHeader | null = null;
  let logGuid = ZERO_GUID;
  let sequenceNumber = 1n;
  for (;;) {
    const batch: SectorWrite[] = [];
    for (let next = pending.next(); !next.done; next = pending.next()) {
      batch.push(next.value);
      if (batch.length === perEntry) break;
    }
    if (batch.length === 0) break;
    if (!header) {
      logGuid = randomGuid();
      header = writeHeaders(fd, path, current, { logGuid });
    }
    const updates: LogUpdate[] = batch.map((sector) => ({ kind: 'data', fileOffset: sector.fileOffset, data: sector.data }));
    const entry = encodeLogEntry({
      sequenceNumber: sequenceNumber++,
      tail: 0,
      logGuid,
      // Both MUST be whole MiB; the replay check "file smaller than FlushedFileOffset" must pass.
      flushedFileOffset: Math.floor(fileSize / MiB) * MiB,
      lastFileOffset: roundUp(fileSize, MiB),
      updates,
    });
    ioGuard(path, 'writing the log', () => {
      writeSync(fd, entry, 0, entry.length, logOffset);
      fsyncSync(fd);
      for (const sector of batch) writeSync(fd, sector.data, 0, LOG_SECTOR_SIZE, sector.fileOffset);
      fsyncSync(fd);
    });
  }
  return header ? writeHeaders(fd, path, header, { logGuid: ZERO_GUID }) : current;
}
