// Random access to the members of an image tar (`docker save`, an OCI layout tar). The
// headers are indexed once, jumping over every body by its size, so a multi-gigabyte
// archive costs one small read per member; a blob is then read by position, by as many
// readers at once as there are layers being converted. This needs a file: an archive on
// standard input is spooled to one first (open-image.ts), because `docker save` writes
// manifest.json last, after every layer, so nothing can be converted before the whole
// stream has gone by anyway.

import { posix } from 'node:path';
import { BLOCK, decodeHeader, isZeroBlock, parsePaxRecords, type MemberType } from './tar-header.js';
import { JSON_LIMIT, malformed, missing, normaliseName, readExactly, type ByteRange, type ImageFiles } from './image-files.js';

interface Member {
  type: MemberType;
  /** Offset of the body in the archive. */
  offset: number;
  size: number;
  linkname: string;
}

/** Long names and PAX records are metadata: a megabyte of either is not a real archive (Go's limit too). */
const MAX_METADATA = 1 << 20;
const MAX_LINK_HOPS = 40; // Linux's MAXSYMLINKS

export class TarArchive implements ImageFiles {
  private readonly members = new Map<string, Member>();

  /** Indexes the archive open at `fd` (`size` bytes); the caller keeps and closes `fd`. */
  constructor(readonly given: string, private readonly fd: number, private readonly size: number) {
    this.index();
  }

  private index(): void {
    let at = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Map<string, string> | undefined;
    while (at + BLOCK <= this.size) {
      const block = readExactly(this.fd, BLOCK, at, this.given);
      if (isZeroBlock(block)) return;
      const header = decodeHeader(block);
      if (typeof header === 'string') throw malformed(`${this.given}: not a tar archive, or a damaged one: ${header} at byte ${at}`);
      const size = pax?.has('size') ? Number(pax.get('size')) : header.size;
      if (!Number.isSafeInteger(size) || size < 0) throw malformed(`${this.given}: bad PAX size at byte ${at}`);
      const bodyStart = at + BLOCK;
      if (bodyStart + size > this.size) throw malformed(`${this.given}: the archive is truncated: the member at byte ${at} needs ${size} bytes, ${this.size - bodyStart} remain`);
      at = bodyStart + Math.ceil(size / BLOCK) * BLOCK;
      switch (header.type) {
        case 'pax':
        case 'gnu-long-name':
        case 'gnu-long-link': {
          if (size > MAX_METADATA) throw malformed(`${this.given}: a ${header.type} record of ${size} bytes at byte ${bodyStart - BLOCK}`);
          const body = readExactly(this.fd, size, bodyStart, this.given);
          if (header.type === 'pax') {
            const records = parsePaxRecords(body);
            if (typeof records === 'string') throw malformed(`${this.given}: ${records} at byte ${bodyStart - BLOCK}`);
            pax = records;
          } else {
            const end = body.indexOf(0);
            const value = body.subarray(0, end < 0 ? body.length : end).toString('utf8');
            if (header.type === 'gnu-long-name') longName = value;
            else longLink = value;
          }
          continue;
        }
        case 'pax-global':
          continue;
        default: {
          const name = pax?.get('path') ?? longName ?? header.name;
          const linkname = pax?.get('linkpath') ?? longLink ?? header.linkname;
          pax = longName = longLink = undefined;
          if (header.type === 'directory' || header.type === 'other') continue;
          // A later member of the same name replaces an earlier one, as on extraction.
          this.members.set(normaliseName(name, `${this.given}: member`), { type: header.type, offset: bodyStart, size, linkname });
        }
      }
    }
    // Go's reader, too, takes a clean end of file at a header boundary as the end; a
    // partial header, or padding cut short, is a truncated archive.
    if (at !== this.size) throw malformed(`${this.given}: the archive is truncated at byte ${this.size}, ${at > this.size ? 'in the padding of the last member' : `inside the header at byte ${at}`}`);
  }

  canonical(name: string, what: string): string {
    let current = normaliseName(name, what);
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const member = this.members.get(current);
      if (!member) throw missing(what, current, this.given);
      if (member.type === 'file') return current;
      // `docker save` stores a layer that repeats an earlier one as a symlink to its layer.tar.
      const target = member.type === 'symlink' ? posix.join(posix.dirname(current), member.linkname) : member.linkname;
      current = normaliseName(target, `${what} (the link ${current} -> ${member.linkname})`);
    }
    throw malformed(`${what}: too many levels of links at ${name} in ${this.given}`);
  }

  has(name: string): boolean {
    try {
      this.canonical(name, name);
      return true;
    } catch {
      return false;
    }
  }

  range(name: string, what: string): ByteRange {
    const member = this.members.get(this.canonical(name, what))!;
    return { fd: this.fd, offset: member.offset, size: member.size };
  }

  read(name: string, what: string, limit = JSON_LIMIT): Buffer {
    const range = this.range(name, what);
    if (range.size > limit) throw malformed(`${what}: ${normaliseName(name, what)} is ${range.size} bytes, more than the ${limit} a manifest or config may have`);
    return readExactly(range.fd, range.size, range.offset, what);
  }

  close(): void {
    // The descriptor belongs to whoever opened the archive (open-image.ts).
  }
}
