/**
 * A minimal DER reader and writer on Buffers.
 *
 * Why our own: signature checks need the exact bytes of what was signed (signed attributes, TBS
 * certificate, CSR info), and the check-in hot path verifies a CMS signature on every request.
 * Reading by offsets into the original Buffer keeps those bytes intact and avoids converting whole
 * messages to binary strings. All the public-key math lives in node:crypto; this file only moves bytes.
 */

export class DerError extends Error {}

/** Universal tags and the class/constructed bits we use. */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/**
 * Input bounds. Children are read lazily, so both bounds travel with the nodes: a child is one level
 * deeper than its parent (so is what `parseContent()` reads), and every element read from one
 * `readDer` call, however late, draws on that call's node budget. Certificates, CSRs and CMS/SCEP
 * messages nest about 10 levels and hold a few hundred elements; the bounds stop hostile input
 * from overflowing the stack (recursion on nesting) or burning CPU (huge or re-scanned trees).
 */
export const MAX_DER_DEPTH = 64;
export const MAX_DER_NODES = 100_000;

/** Elements a read may still visit; shared by everything read from one `readDer` call. */
interface NodeBudget {
  left: number;
}

/** One TLV inside a Buffer: `raw` is the whole element, `content` its value bytes. */
export class DerNode {
  private kids?: DerNode[];

  constructor(
    readonly buf: Buffer,
    /** First identifier byte (class, constructed bit, tag number < 31). */
    readonly tag: number,
    readonly start: number,
    readonly contentStart: number,
    readonly end: number,
    /** End of the value; before `end` only for BER indefinite lengths (end-of-contents octets). */
    readonly contentEnd: number,
    /** Nesting level, 1 for the element `readDer` returns. */
    readonly depth: number,
    private readonly budget: NodeBudget,
  ) {}

  get raw(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  get content(): Buffer {
    return this.buf.subarray(this.contentStart, this.contentEnd);
  }

  get constructed(): boolean {
    return (this.tag & 0x20) !== 0;
  }

  /** True for a context-specific tag `[n]` (either form). */
  isContext(n: number): boolean {
    return (this.tag & 0xc0) === 0x80 && (this.tag & 0x1f) === n;
  }

  /** Children of a constructed element (parsed once). */
  get children(): DerNode[] {
    if (!this.kids) {
      if (!this.constructed) throw new DerError(`tag 0x${this.tag.toString(16)} is not constructed`);
      this.kids = readAll(this.buf, this.contentStart, this.contentEnd, this.depth + 1, this.budget);
    }
    return this.kids;
  }

  child(i: number): DerNode {
    const c = this.children[i];
    if (!c) throw new DerError(`missing element ${i} in tag 0x${this.tag.toString(16)}`);
    return c;
  }

  /** Parses the content of a primitive (e.g. OCTET STRING) as DER, within this read's bounds. */
  parseContent(): DerNode {
    return readWhole(this.content, this.depth + 1, this.budget);
  }

  expect(tag: number, what: string): this {
    if (this.tag !== tag)
      throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${this.tag.toString(16)}`);
    return this;
  }

  oid(): string {
    return decodeOid(this.expect(Tag.OID, 'object identifier').content);
  }

  /** A string type (Printable, UTF8, IA5, T61 as latin1, BMP). */
  text(): string {
    switch (this.tag) {
      case Tag.UTF8_STRING:
      case Tag.PRINTABLE_STRING:
      case Tag.IA5_STRING:
        return this.content.toString('utf8');
      case Tag.T61_STRING:
        return this.content.toString('latin1');
      case Tag.BMP_STRING: {
        const b = Buffer.from(this.content);
        return b.swap16().toString('utf16le');
      }
      default:
        throw new DerError(`tag 0x${this.tag.toString(16)} is not a string`);
    }
  }

  /** A UTCTime or GeneralizedTime. */
  time(): Date {
    const s = this.content.toString('latin1');
    let m: RegExpMatchArray | null;
    if (this.tag === Tag.UTC_TIME && (m = s.match(/^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?Z$/))) {
      const yy = Number(m[1]);
      return new Date(
        Date.UTC(yy < 50 ? 2000 + yy : 1900 + yy, +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] ?? 0)),
      );
    }
    if (
      this.tag === Tag.GENERALIZED_TIME &&
      (m = s.match(/^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/))
    ) {
      return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
    }
    throw new DerError(`bad time ${JSON.stringify(s)}`);
  }
}

function readHeader(buf: Buffer, offset: number, limit: number, depth: number, budget: NodeBudget): DerNode {
  if (depth > MAX_DER_DEPTH) throw new DerError(`elements nested deeper than ${MAX_DER_DEPTH} levels`);
  if (--budget.left < 0) throw new DerError(`more than ${MAX_DER_NODES} elements in one message`);
  if (offset + 2 > limit) throw new DerError('truncated element');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not supported');
  let pos = offset + 1;
  let len = buf[pos++];
  if (len === 0x80) {
    // BER indefinite length (some CMS producers stream): children up to the end-of-contents octets.
    if (!(tag & 0x20)) throw new DerError('indefinite length on a primitive element');
    let p = pos;
    while (true) {
      if (p + 2 > limit) throw new DerError('unterminated indefinite length');
      if (buf[p] === 0 && buf[p + 1] === 0)
        return new DerNode(buf, tag, offset, pos, p + 2, p, depth, budget);
      p = readHeader(buf, p, limit, depth + 1, budget).end;
    }
  }
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n > 4 || pos + n > limit) throw new DerError('bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos++];
  }
  if (pos + len > limit) throw new DerError('element runs past its container');
  return new DerNode(buf, tag, offset, pos, pos + len, pos + len, depth, budget);
}

function readAll(buf: Buffer, start: number, end: number, depth: number, budget: NodeBudget): DerNode[] {
  const out: DerNode[] = [];
  let pos = start;
  while (pos < end) {
    const n = readHeader(buf, pos, end, depth, budget);
    out.push(n);
    pos = n.end;
  }
  return out;
}

function readWhole(buf: Buffer, depth: number, budget: NodeBudget): DerNode {
  const n = readHeader(buf, 0, buf.length, depth, budget);
  if (n.end !== buf.length) throw new DerError('trailing bytes after element');
  return n;
}

/**
 * Reads one element that must fill the whole buffer. Its descendants are read on demand, within
 * MAX_DER_DEPTH levels and MAX_DER_NODES elements in all (DerError past either).
 */
export function readDer(buf: Buffer): DerNode {
  return readWhole(buf, 1, { left: MAX_DER_NODES });
}

function decodeOid(b: Buffer): string {
  if (b.length === 0) throw new DerError('empty object identifier');
  const parts: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if (!(b[i] & 0x80)) {
      if (parts.length === 0) {
        const first = v < 80 ? Math.floor(v / 40) : 2;
        parts.push(first, v - first * 40);
      } else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

// ---- writer ----

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Encodes one element; `content` may be a list of already-encoded children. */
export function tlv(tag: number, content: Buffer | Buffer[]): Buffer {
  const body = Array.isArray(content) ? Buffer.concat(content) : content;
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

export const seq = (...items: Buffer[]) => tlv(Tag.SEQUENCE, items);
/** A DER SET OF: elements sorted by their encodings, as DER requires. */
export const setOf = (...items: Buffer[]) => tlv(Tag.SET, [...items].sort(Buffer.compare));
export const octets = (b: Buffer) => tlv(Tag.OCTET_STRING, b);
const nullValue = () => Buffer.from([Tag.NULL, 0]);
export const printable = (s: string) => tlv(Tag.PRINTABLE_STRING, Buffer.from(s, 'latin1'));
export const utf8 = (s: string) => tlv(Tag.UTF8_STRING, Buffer.from(s, 'utf8'));
export const bool = (v: boolean) => tlv(Tag.BOOLEAN, Buffer.from([v ? 0xff : 0]));
export const bitString = (b: Buffer, unusedBits = 0) =>
  tlv(Tag.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), b]));
/** `[n]` EXPLICIT (constructed) wrapper. */
export const explicit = (n: number, ...items: Buffer[]) => tlv(0xa0 | n, items);
/** `[n]` IMPLICIT: replaces the tag of an encoded element, keeping its constructed bit. */
export function implicit(n: number, encoded: Buffer): Buffer {
  const out = Buffer.from(encoded);
  out[0] = (encoded[0] & 0x20) | 0x80 | n;
  return out;
}

/** A non-negative INTEGER from big-endian magnitude bytes (a leading 0 is added when needed). */
export function integer(v: Buffer | number): Buffer {
  let b: Buffer;
  if (typeof v === 'number') {
    const hex = v.toString(16);
    b = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  } else b = v;
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && !(b[i + 1] & 0x80)) i++;
  b = b.subarray(i);
  if (b.length === 0) b = Buffer.from([0]);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(Tag.INTEGER, b);
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  if (parts.length < 2 || parts.some((p) => !Number.isInteger(p) || p < 0))
    throw new DerError(`bad oid ${dotted}`);
  const bytes: number[] = [];
  const push = (n: number) => {
    const group: number[] = [n & 0x7f];
    n = Math.floor(n / 128);
    while (n > 0) {
      group.unshift((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    bytes.push(...group);
  };
  push(parts[0] * 40 + parts[1]);
  for (const p of parts.slice(2)) push(p);
  return tlv(Tag.OID, Buffer.from(bytes));
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** UTCTime up to 2049, GeneralizedTime after, as RFC 5280 requires. */
export function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const rest = `${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())}${pad2(d.getUTCHours())}${pad2(d.getUTCMinutes())}${pad2(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(Tag.UTC_TIME, Buffer.from(`${pad2(y % 100)}${rest}`, 'latin1'));
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(`${y}${rest}`, 'latin1'));
}

/** AlgorithmIdentifier with an optional NULL parameter. */
export function algorithm(dotted: string, withNull = true): Buffer {
  return withNull ? seq(oid(dotted), nullValue()) : seq(oid(dotted));
}

export function pemToDer(pem: string): Buffer {
  const m = pem.match(/-----BEGIN [^-]+-----([\s\S]*?)-----END [^-]+-----/);
  if (!m) throw new DerError('not PEM');
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
}

export function derToPem(der: Buffer, label: string): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
