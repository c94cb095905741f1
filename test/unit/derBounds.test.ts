import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CmsError, octetStringValue, parseSignedData } from '../../src/crypto/cms.js';
import {
  DerError,
  MAX_DER_DEPTH,
  MAX_DER_NODES,
  pemToDer,
  readDer,
  seq,
  tlv,
  Tag,
  type DerNode,
} from '../../src/crypto/der.js';
import { envelopedDecrypt } from '../../src/crypto/envelope.js';
import { certificateParts } from '../../src/crypto/x509.js';

const vectors = join(import.meta.dirname, '../vectors/apple');
const read = (name: string) => readFileSync(join(vectors, name));

const LEVELS = 200_000;

/** `tag 80` LEVELS times, then the end-of-contents octets. */
function deepIndefinite(tag: number): Buffer {
  const b = Buffer.alloc(LEVELS * 4);
  for (let i = 0; i < LEVELS; i++) b.writeUInt16BE((tag << 8) | 0x80, i * 2);
  return b; // the second half is already 00 00 ...
}

/** `tag len (tag len (... NULL))` with definite lengths, built from the inside out. */
function deepDefinite(tag: number, levels: number): Buffer {
  const b = Buffer.alloc(levels * 6 + 2);
  let start = b.length - 2; // NULL at the very end
  b[start] = Tag.NULL;
  for (let i = 0; i < levels; i++) {
    const len = b.length - start;
    const lenBytes =
      len < 0x80
        ? [len]
        : len < 0x100
          ? [0x81, len]
          : len < 0x10000
            ? [0x82, len >> 8, len & 0xff]
            : [0x83, len >> 16, (len >> 8) & 0xff, len & 0xff];
    start -= 1 + lenBytes.length;
    b[start] = tag;
    Buffer.from(lenBytes).copy(b, start + 1);
  }
  return b.subarray(start);
}

/** Runs `f`, which must throw a DerError (not a RangeError from the stack), within `ms`. */
function throwsQuickly(f: () => unknown, message: RegExp, ms = 2000): void {
  const t0 = performance.now();
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(performance.now() - t0).toBeLessThan(ms);
  expect(err).toBeInstanceOf(DerError);
  expect((err as Error).message).toMatch(message);
}

const tooDeep = new RegExp(`nested deeper than ${MAX_DER_DEPTH} levels`);
const tooMany = new RegExp(`more than ${MAX_DER_NODES} elements`);

/** Walks every constructed element; returns the deepest level and the element count. */
function walk(n: DerNode, depth = 1): { depth: number; nodes: number } {
  let out = { depth, nodes: 1 };
  if (n.constructed)
    for (const c of n.children) {
      const r = walk(c, depth + 1);
      out = { depth: Math.max(out.depth, r.depth), nodes: out.nodes + r.nodes };
    }
  return out;
}

describe('DER nesting bound', () => {
  it.each([
    ['SEQUENCE', Tag.SEQUENCE],
    ['constructed OCTET STRING', 0x24],
    ['[0]', 0xa0],
  ])('refuses %s nested 200,000 deep with indefinite lengths, while reading the first element', (_n, tag) => {
    throwsQuickly(() => readDer(deepIndefinite(tag)), tooDeep);
  });

  it('refuses definite-length nesting 200,000 deep when the reader gets there (children are lazy)', () => {
    const buf = deepDefinite(Tag.SEQUENCE, LEVELS);
    const top = readDer(buf);
    let reached = 0;
    throwsQuickly(() => {
      for (let n = top; ; n = n.child(0)) reached = n.depth;
    }, tooDeep);
    expect(reached).toBe(MAX_DER_DEPTH);
  });

  it('counts parseContent() as one level deeper (OCTET STRING inside OCTET STRING ...)', () => {
    const top = readDer(deepDefinite(Tag.OCTET_STRING, LEVELS));
    throwsQuickly(() => {
      for (let n = top; ; n = n.parseContent());
    }, tooDeep);
  });

  it('bounds recursive walkers too: a BER OCTET STRING split into chunks of chunks', () => {
    const top = readDer(deepDefinite(0x24, LEVELS));
    throwsQuickly(() => octetStringValue(top), tooDeep);
  });

  it('reads exactly MAX_DER_DEPTH levels and refuses one more', () => {
    expect(walk(readDer(deepDefinite(Tag.SEQUENCE, MAX_DER_DEPTH - 1))).depth).toBe(MAX_DER_DEPTH);
    throwsQuickly(() => walk(readDer(deepDefinite(Tag.SEQUENCE, MAX_DER_DEPTH))), tooDeep);
  });

  it('turns into the CMS error at the CMS entry points', () => {
    const content = deepIndefinite(Tag.SEQUENCE);
    expect(() =>
      envelopedDecrypt(content, { cert: read('scep-testca-cert.micromdm-scep.pem'), key: 'x' }),
    ).toThrow(CmsError);
    expect(() =>
      envelopedDecrypt(content, { cert: read('scep-testca-cert.micromdm-scep.pem'), key: 'x' }),
    ).toThrow(tooDeep);
  });
});

describe('DER element count bound', () => {
  const nulls = (n: number) => Buffer.alloc(n * 2, Buffer.from([Tag.NULL, 0]));

  it('refuses a flat SEQUENCE of 300,000 elements when its children are read', () => {
    const flat = tlv(Tag.SEQUENCE, nulls(300_000));
    const top = readDer(flat); // one element so far
    throwsQuickly(() => top.children, tooMany);
  });

  it('refuses the same with an indefinite length while reading the first element', () => {
    const flat = Buffer.concat([Buffer.from([Tag.SEQUENCE, 0x80]), nulls(300_000), Buffer.alloc(2)]);
    throwsQuickly(() => readDer(flat), tooMany);
  });

  it('allows MAX_DER_NODES elements in all and refuses one more', () => {
    expect(readDer(tlv(Tag.SEQUENCE, nulls(MAX_DER_NODES - 1))).children.length).toBe(MAX_DER_NODES - 1);
    throwsQuickly(() => readDer(tlv(Tag.SEQUENCE, nulls(MAX_DER_NODES))).children, tooMany);
  });

  it('shares one budget between everything read lazily from one readDer call', () => {
    // 60,000 SEQUENCEs of one NULL: fine one level at a time, 120,001 elements in all.
    const one = seq(Buffer.from([Tag.NULL, 0]));
    const top = readDer(tlv(Tag.SEQUENCE, Buffer.concat(Array(60_000).fill(one))));
    const kids = top.children;
    throwsQuickly(() => kids.forEach((k) => k.children), tooMany);
    // A new read has a new budget.
    expect(readDer(top.raw).children.length).toBe(60_000);
  });
});

describe('real structures stay far inside the bounds', () => {
  it.each([
    'scep-PKCSReq.micromdm-scep.der',
    'scep-CertRep.micromdm-scep.der',
    'scep-testca-cert.micromdm-scep.pem',
    'pushcert-mock-valid-uid.micromdm.pem',
  ])('%s', (name) => {
    const raw = read(name);
    const der = name.endsWith('.pem') ? pemToDer(raw.toString('latin1')) : raw;
    const { depth, nodes } = walk(readDer(der));
    expect(depth).toBeLessThan(16);
    expect(nodes).toBeLessThan(2_000);
    if (name.endsWith('.der')) {
      const sd = parseSignedData(der);
      for (const c of sd.certificates) expect(certificateParts(c).issuer.length).toBeGreaterThan(0);
      // The enveloped content inside, read as its own message.
      expect(walk(readDer(sd.content!)).depth).toBeLessThan(16);
    } else expect(certificateParts(der).spki.length).toBeGreaterThan(0);
  });
});
