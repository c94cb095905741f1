import { XMLParser, XMLValidator } from 'fast-xml-parser';

/**
 * A small namespace-aware XML tree on top of fast-xml-parser. Windows sends prefixed SOAP
 * (`s:`, `a:`, `wsse:` ...) and default-namespaced SyncML; we match on local names and check the
 * resolved namespace URI where the protocol requires it. `<Data>` elements are kept verbatim
 * (inner XML, escapes and CDATA untouched) because SyncML payloads travel inside them.
 */
export interface XmlNode {
  /** Local name without prefix. */
  name: string;
  /** Resolved namespace URI ('' when none). */
  ns: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  /** Text content (entity-decoded), or for `Data` the raw inner XML. */
  text: string;
}

export class XmlError extends Error {}

/** Most characters of a request quoted in an error (SOAP fault reason, SyncML fault, log line). */
export const maxErrorDetail = 200;

/**
 * A piece of untrusted input made fit to quote in an error message: at most `max` characters
 * (`…` marks a cut), with characters XML cannot carry (controls, lone surrogates) replaced by `?`.
 * Escaping is left to whoever writes the message into XML.
 */
export function errorDetail(s: string, max = maxErrorDetail): string {
  let cut = s.length > max ? s.slice(0, max) : s;
  // Do not leave half of a surrogate pair at the cut.
  const last = cut.charCodeAt(cut.length - 1);
  if (cut.length < s.length && last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  let clean = '';
  // By code point: a surrogate seen alone here has no partner.
  for (const ch of cut) {
    const c = ch.codePointAt(0) as number;
    const legal =
      c === 0x09 ||
      c === 0x0a ||
      c === 0x0d ||
      (c >= 0x20 && c < 0xd800) ||
      (c > 0xdfff && c !== 0xfffe && c !== 0xffff);
    clean += legal ? ch : '?';
  }
  return cut.length < s.length ? `${clean}…` : clean;
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  stopNodes: ['*.Data'],
  processEntities: true,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

type Raw = Record<string, unknown>;

function splitName(q: string): [string, string] {
  const i = q.indexOf(':');
  return i < 0 ? ['', q] : [q.slice(0, i), q.slice(i + 1)];
}

function convert(raw: Raw, scope: Map<string, string>): XmlNode | undefined {
  const key = Object.keys(raw).find((k) => k !== ':@');
  if (!key || key === '#text' || key.startsWith('?') || key === '#comment') return undefined;
  const rawAttrs = (raw[':@'] ?? {}) as Record<string, string>;
  let local = scope;
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawAttrs)) {
    if (k === 'xmlns' || k.startsWith('xmlns:')) {
      if (local === scope) local = new Map(scope);
      local.set(k === 'xmlns' ? '' : k.slice(6), String(v).trim());
    }
  }
  for (const [k, v] of Object.entries(rawAttrs)) {
    if (k === 'xmlns' || k.startsWith('xmlns:')) continue;
    attrs[splitName(k)[1]] = String(v);
  }
  const [prefix, name] = splitName(key);
  const ns = local.get(prefix);
  if (ns === undefined) throw new XmlError(`undeclared namespace prefix "${errorDetail(prefix, 64)}"`);
  const node: XmlNode = { name, ns, attrs, children: [], text: '' };
  for (const c of (raw[key] as Raw[]) ?? []) {
    if ('#text' in c) node.text += String(c['#text']);
    else {
      const child = convert(c, local);
      if (child) node.children.push(child);
    }
  }
  return node;
}

/** Parses a whole document into its root element; throws XmlError when it is not well-formed. */
export function parseXml(xml: string): XmlNode {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new XmlError(`not well-formed XML: ${errorDetail(valid.err.msg)}`);
  if (/<!DOCTYPE/i.test(xml)) throw new XmlError('DOCTYPE is not allowed');
  const top = parser.parse(xml) as Raw[];
  const roots = top
    .map((r) =>
      convert(
        r,
        new Map([
          ['', ''],
          ['xml', 'http://www.w3.org/XML/1998/namespace'],
        ]),
      ),
    )
    .filter(Boolean);
  if (roots.length !== 1) throw new XmlError('expected exactly one root element');
  return roots[0] as XmlNode;
}

/** Parses a fragment of one or more top-level elements (e.g. a raw SyncML command). */
export function parseXmlFragment(xml: string): XmlNode[] {
  return parseXml(`<fragment>${xml}</fragment>`).children;
}

export function child(node: XmlNode | undefined, name: string, ns?: string): XmlNode | undefined {
  return node?.children.find((c) => c.name === name && (ns === undefined || c.ns === ns));
}

export function childrenNamed(node: XmlNode | undefined, name: string): XmlNode[] {
  return node ? node.children.filter((c) => c.name === name) : [];
}

/** Follows a path of local names; returns the trimmed text or undefined when absent. */
export function textAt(node: XmlNode | undefined, ...path: string[]): string | undefined {
  let cur = node;
  for (const p of path) cur = child(cur, p);
  return cur ? cur.text.trim() : undefined;
}

/** Escapes text for element content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string,
  );
}

/** Decodes the five predefined entities and numeric references (for Data that holds escaped text). */
export function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_m, e: string) => {
    if (e[0] === '#')
      return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[e];
  });
}

/** Serialises a parsed node back to XML (used to store one command's Status/Results verbatim). */
export function serializeNode(n: XmlNode, prefixFor: (ns: string) => string = () => ''): string {
  const p = prefixFor(n.ns);
  const tag = p ? `${p}:${n.name}` : n.name;
  const attrs = Object.entries(n.attrs)
    .map(([k, v]) => ` ${k}="${escapeXml(v)}"`)
    .join('');
  const nsAttr =
    n.ns && !p && (n.name === 'Type' || n.name === 'Format' || n.name === 'NextNonce')
      ? ` xmlns="${n.ns}"`
      : '';
  const body =
    n.name === 'Data'
      ? n.text
      : n.children.length
        ? n.children.map((c) => serializeNode(c, prefixFor)).join('')
        : escapeXml(n.text.trim());
  return body === '' ? `<${tag}${nsAttr}${attrs}/>` : `<${tag}${nsAttr}${attrs}>${body}</${tag}>`;
}
