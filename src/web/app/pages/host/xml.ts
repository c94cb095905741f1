/**
 * Pretty-printing of command payloads and results (Apple plists, Windows SyncML fragments) so an
 * admin can read them: one element per line, indented, text kept as the device sent it.
 */

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttr(s: string): string {
  return escapeText(s).replace(/"/g, '&quot;');
}

function formatNode(node: Node, depth: number, out: string[]) {
  const pad = '  '.repeat(depth);
  if (node.nodeType === Node.TEXT_NODE || node.nodeType === Node.CDATA_SECTION_NODE) {
    const text = (node.textContent ?? '').trim();
    if (text) out.push(pad + escapeText(text));
    return;
  }
  if (node.nodeType === Node.COMMENT_NODE) {
    out.push(`${pad}<!--${node.textContent ?? ''}-->`);
    return;
  }
  if (node.nodeType !== Node.ELEMENT_NODE) return;
  const el = node as Element;
  const attrs = Array.from(el.attributes, (a) => ` ${a.name}="${escapeAttr(a.value)}"`).join('');
  const kids = Array.from(el.childNodes).filter(
    (k) => k.nodeType === Node.ELEMENT_NODE || (k.textContent ?? '').trim() !== '',
  );
  if (kids.length === 0) {
    out.push(`${pad}<${el.tagName}${attrs}/>`);
    return;
  }
  // An element holding only text stays on one line: <key>CommandUUID</key>.
  if (kids.every((k) => k.nodeType !== Node.ELEMENT_NODE)) {
    out.push(`${pad}<${el.tagName}${attrs}>${escapeText((el.textContent ?? '').trim())}</${el.tagName}>`);
    return;
  }
  out.push(`${pad}<${el.tagName}${attrs}>`);
  for (const k of kids) formatNode(k, depth + 1, out);
  out.push(`${pad}</${el.tagName}>`);
}

function parses(text: string): Document | undefined {
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  return doc.getElementsByTagName('parsererror').length ? undefined : doc;
}

/**
 * The XML indented for reading. A SyncML fragment may hold several top-level elements, so it is
 * read inside a wrapper; anything that is not XML comes back as it was.
 */
export function prettyXml(text: string): string {
  const trimmed = text.trim();
  const declaration = /^<\?xml[^>]*\?>/.exec(trimmed)?.[0];
  // Kept as sent: the DOM keeps a doctype's public id apart from its name.
  const doctype = /<!DOCTYPE[^>[]*>/.exec(trimmed)?.[0];
  const doc = parses(trimmed);
  if (doc) {
    const out: string[] = declaration ? [declaration] : [];
    if (doctype) out.push(doctype);
    formatNode(doc.documentElement, 0, out);
    return out.join('\n');
  }
  const wrapped = parses(`<fragment>${trimmed}</fragment>`);
  if (!wrapped) return text;
  const out: string[] = [];
  for (const k of Array.from(wrapped.documentElement.childNodes)) formatNode(k, 0, out);
  return out.join('\n');
}
