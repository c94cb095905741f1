/**
 * A strict XML property-list parser for the device hot path. The `plist` package goes through a
 * full DOM (and prints parse errors to the console); devices send small, regular XML plists, so a
 * direct scanner is several times faster and rejects anything malformed with one clear error.
 *
 * Values: dict → plain object, array → array, string → string, integer → number (bigint-free;
 * values beyond 2^53 lose precision, as with the `plist` package), real → number, true/false →
 * boolean, date → Date, data → Buffer.
 */
export class PlistParseError extends Error {}

export type PlistValue =
  string | number | boolean | Date | Buffer | PlistValue[] | { [key: string]: PlistValue };

const entities: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeText(s: string): string {
  if (s.indexOf('&') < 0) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (_m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      if (!Number.isFinite(code) || code > 0x10ffff)
        throw new PlistParseError(`bad character reference &${e};`);
      return String.fromCodePoint(code);
    }
    const v = entities[e];
    if (v === undefined) throw new PlistParseError(`unknown entity &${e};`);
    return v;
  });
}

class Scanner {
  pos = 0;
  constructor(readonly s: string) {}

  fail(msg: string): never {
    throw new PlistParseError(`${msg} at offset ${this.pos}`);
  }

  /** Skips whitespace, comments, the XML declaration and the DOCTYPE. */
  skipMisc(): void {
    const s = this.s;
    for (;;) {
      while (this.pos < s.length && s.charCodeAt(this.pos) <= 32) this.pos++;
      if (s.startsWith('<!--', this.pos)) {
        const end = s.indexOf('-->', this.pos + 4);
        if (end < 0) this.fail('unterminated comment');
        this.pos = end + 3;
      } else if (s.startsWith('<?', this.pos)) {
        const end = s.indexOf('?>', this.pos + 2);
        if (end < 0) this.fail('unterminated declaration');
        this.pos = end + 2;
      } else if (s.startsWith('<!DOCTYPE', this.pos)) {
        const end = s.indexOf('>', this.pos);
        if (end < 0) this.fail('unterminated DOCTYPE');
        this.pos = end + 1;
      } else return;
    }
  }

  /** Reads `<name attrs>` or `<name/>`; returns the name and whether it closed itself. */
  openTag(): { name: string; empty: boolean } {
    this.skipMisc();
    const s = this.s;
    if (s.charCodeAt(this.pos) !== 60 /* < */ || s.charCodeAt(this.pos + 1) === 47 /* / */)
      this.fail('expected an element');
    const end = s.indexOf('>', this.pos);
    if (end < 0) this.fail('unterminated tag');
    let inner = s.slice(this.pos + 1, end);
    this.pos = end + 1;
    const empty = inner.endsWith('/');
    if (empty) inner = inner.slice(0, -1);
    const m = /^([A-Za-z]+)(\s[^<>]*)?$/.exec(inner.trimEnd());
    if (!m) this.fail('malformed tag');
    return { name: m[1], empty };
  }

  closeTag(name: string): void {
    this.skipMisc();
    const t = `</${name}`;
    if (!this.s.startsWith(t, this.pos)) this.fail(`expected </${name}>`);
    this.pos += t.length;
    while (this.s.charCodeAt(this.pos) <= 32) this.pos++;
    if (this.s.charCodeAt(this.pos) !== 62) this.fail(`expected </${name}>`);
    this.pos++;
  }

  /** Text up to the closing tag of `name` (no nested elements allowed). */
  text(name: string): string {
    const end = this.s.indexOf('<', this.pos);
    if (end < 0) this.fail(`unterminated <${name}>`);
    const raw = this.s.slice(this.pos, end);
    this.pos = end;
    this.closeTag(name);
    return decodeText(raw);
  }

  peekClose(): boolean {
    this.skipMisc();
    return this.s.startsWith('</', this.pos);
  }
}

const MAX_DEPTH = 64;

function value(sc: Scanner, depth: number): PlistValue {
  if (depth > MAX_DEPTH) sc.fail('nesting too deep');
  const { name, empty } = sc.openTag();
  switch (name) {
    case 'dict': {
      const out: Record<string, PlistValue> = {};
      if (empty) return out;
      while (!sc.peekClose()) {
        const k = sc.openTag();
        if (k.name !== 'key') sc.fail('expected <key> in <dict>');
        const key = k.empty ? '' : sc.text('key');
        if (key === '__proto__') sc.fail('forbidden key');
        out[key] = value(sc, depth + 1);
      }
      sc.closeTag('dict');
      return out;
    }
    case 'array': {
      const out: PlistValue[] = [];
      if (empty) return out;
      while (!sc.peekClose()) out.push(value(sc, depth + 1));
      sc.closeTag('array');
      return out;
    }
    case 'string':
      return empty ? '' : sc.text('string');
    case 'integer': {
      const t = empty ? '' : sc.text('integer').trim();
      if (!/^[+-]?(\d+|0x[0-9a-fA-F]+)$/.test(t)) sc.fail('bad <integer>');
      return t.includes('x') ? parseInt(t, 16) : parseInt(t, 10);
    }
    case 'real': {
      const t = empty ? '' : sc.text('real').trim();
      const n = Number(t);
      if (t === '' || Number.isNaN(n)) sc.fail('bad <real>');
      return n;
    }
    case 'true':
    case 'false':
      if (!empty) sc.closeTag(name);
      return name === 'true';
    case 'date': {
      const d = new Date(empty ? '' : sc.text('date').trim());
      if (Number.isNaN(d.getTime())) sc.fail('bad <date>');
      return d;
    }
    case 'data': {
      const t = (empty ? '' : sc.text('data')).replace(/\s+/g, '');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t)) sc.fail('bad <data>');
      return Buffer.from(t, 'base64');
    }
    default:
      return sc.fail(`unexpected <${name}>`);
  }
}

/** Parses an XML plist (string or UTF-8 bytes). Binary plists and anything malformed throw PlistParseError. */
export function parsePlist(input: Buffer | string): PlistValue {
  if (Buffer.isBuffer(input) && input.subarray(0, 6).toString('latin1') === 'bplist') {
    throw new PlistParseError('binary plists are not accepted');
  }
  const sc = new Scanner(Buffer.isBuffer(input) ? input.toString('utf8') : input);
  const root = sc.openTag();
  if (root.name !== 'plist') sc.fail('expected <plist>');
  if (root.empty) sc.fail('empty <plist>');
  const result = value(sc, 0);
  sc.closeTag('plist');
  sc.skipMisc();
  if (sc.pos !== sc.s.length) sc.fail('trailing content');
  return result;
}

/** Parses a plist whose root must be a dict. */
export function parsePlistDict(input: Buffer | string): Record<string, PlistValue> {
  const v = parsePlist(input);
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Buffer.isBuffer(v) || v instanceof Date) {
    throw new PlistParseError('the root of the plist is not a dict');
  }
  return v;
}
