import { inflateSync } from 'node:zlib';
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/**
 * Fleet's check of a bootstrap package (a product archive `.pkg` is a xar file): the 28-byte xar
 * header (magic `xar!`, header size, version, compressed / uncompressed TOC length, checksum
 * algorithm), then the zlib-compressed XML table of contents right after the header, which must
 * carry a `<signature>` or `<x-signature>` element. The signature itself is not verified (Fleet does
 * not either). Messages are Fleet's: `invalid file type`, `file is not signed`, else
 * `invalid package`.
 */
export class PackageCheckError extends Error {}

export const xarMagic = 0x78617221;
const headerLength = 28;
/** Checksum algorithms Fleet accepts: SHA-1, SHA-256, SHA-512 (none, MD5 and others are refused). */
const knownChecksums = new Set([1, 3, 4]);
/** A table of contents larger than this is not a real installer's (they are a few KB to a few MB). */
export const maxTocCompressedBytes = 32 * 1024 * 1024;
const maxTocXmlBytes = 128 * 1024 * 1024;

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false });

/** Is the (decompressed) TOC XML signed? Throws PackageCheckError for XML that is not a xar TOC. */
export function tocIsSigned(xml: string): boolean {
  if (XMLValidator.validate(xml) !== true) throw new PackageCheckError('invalid package');
  const doc = parser.parse(xml) as Record<string, unknown>;
  const root = Object.entries(doc).find(([k]) => k !== '?xml')?.[1];
  const toc = root && typeof root === 'object' ? (root as Record<string, unknown>).toc : undefined;
  if (!toc || typeof toc !== 'object') return false;
  const t = toc as Record<string, unknown>;
  return t.signature !== undefined || t['x-signature'] !== undefined;
}

/**
 * Checks a package as its bytes stream in: feed it the file from the start with `push`; it answers
 * true once the header and TOC were read and found signed (later bytes are not needed). Throws
 * PackageCheckError as soon as the bytes read show the file is not a signed xar archive; `finish`
 * throws when the file ended before the check could complete.
 */
export class XarSignatureCheck {
  private readonly parts: Buffer[] = [];
  private have = 0;
  private need = headerLength;
  private headerSize = 0;
  private tocLength = 0;
  private done = false;

  get passed(): boolean {
    return this.done;
  }

  push(chunk: Buffer): boolean {
    if (this.done || chunk.length === 0) return this.done;
    this.parts.push(chunk);
    this.have += chunk.length;
    if (this.have < this.need) return false;
    const buf = Buffer.concat(this.parts);
    this.parts.length = 0;
    this.parts.push(buf);
    if (this.tocLength === 0) {
      if (buf.readUInt32BE(0) !== xarMagic) throw new PackageCheckError('invalid file type');
      this.headerSize = buf.readUInt16BE(4);
      const toc = buf.readBigUInt64BE(8);
      const checksum = buf.readUInt32BE(24);
      if (!knownChecksums.has(checksum)) throw new PackageCheckError('invalid package');
      if (toc === 0n || toc > BigInt(maxTocCompressedBytes) || this.headerSize < headerLength) {
        throw new PackageCheckError('invalid package');
      }
      this.tocLength = Number(toc);
      this.need = this.headerSize + this.tocLength;
      if (this.have < this.need) return false;
    }
    let xml: string;
    try {
      xml = inflateSync(buf.subarray(this.headerSize, this.headerSize + this.tocLength), {
        maxOutputLength: maxTocXmlBytes,
      }).toString('utf8');
    } catch {
      throw new PackageCheckError('invalid package');
    }
    if (!tocIsSigned(xml)) throw new PackageCheckError('file is not signed');
    this.done = true;
    this.parts.length = 0;
    return true;
  }

  /** The whole file was pushed: throws unless it passed. */
  finish(): void {
    if (!this.done) throw new PackageCheckError('invalid package');
  }
}

/** Checks a whole package held in memory (tests, small files). */
export function checkPackageSignature(bytes: Buffer): void {
  const c = new XarSignatureCheck();
  c.push(bytes);
  c.finish();
}
