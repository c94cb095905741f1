/** How substituted values are escaped: XML plist / SyncML text, or the inside of a DDM JSON string. */
export type ValueEscape = 'xml' | 'json';

const xmlEntities: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&#34;',
  "'": '&#39;',
  '\t': '&#x9;',
  '\n': '&#xA;',
  '\r': '&#xD;',
  // `$` too: a filled value (an IdP name, say) must never read as a `$FLEET_SECRET_` placeholder
  // when the secrets are filled later, at delivery.
  $: '&#36;',
};

/**
 * A value made safe for where it lands, so a value can never close an element or a string and
 * change the profile around it. XML: the characters Go's xml.EscapeText escapes (as Fleet does);
 * JSON: the inside of a JSON string literal, without its quotes.
 */
export function escapeValue(value: string, escape: ValueEscape): string {
  if (escape === 'json') return JSON.stringify(value).slice(1, -1).replaceAll('$', '\\u0024');
  return value.replace(/[&<>"'\t\n\r$]/g, (c) => xmlEntities[c]);
}
