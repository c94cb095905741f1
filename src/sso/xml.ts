import { XMLParser } from 'fast-xml-parser';

/**
 * How the SSO code reads SAML and metadata XML (only to pick fields; signatures are checked by
 * node-saml on the original text): namespace prefixes dropped, attributes as `@_name`, values kept as
 * text, no processing instructions.
 */
export const samlXmlParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: true,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

export type XmlNode = Record<string, unknown>;

/** A parsed element that may occur once or many times, as a list. */
export const listOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

/** The element children of `listOf(v)`. */
export const nodesOf = (v: unknown): XmlNode[] =>
  listOf(v).filter((x): x is XmlNode => typeof x === 'object' && x !== null);
