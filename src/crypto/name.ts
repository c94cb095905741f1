import { DerError, oid, printable, readDer, seq, setOf, Tag, utf8 } from './der.js';
import { OID } from './oids.js';

/** X.500 distinguished names: short names ↔ OIDs, encoding and decoding. */
const oidByShortName: Record<string, string> = {
  CN: OID.commonName,
  C: OID.countryName,
  L: OID.localityName,
  ST: OID.stateOrProvinceName,
  O: OID.organizationName,
  OU: OID.organizationalUnitName,
  UID: OID.userId,
  serialNumber: OID.serialNumber,
  emailAddress: OID.emailAddress,
};
const shortNameByOid = Object.fromEntries(Object.entries(oidByShortName).map(([k, v]) => [v, k]));

export interface NameAttribute {
  oid: string;
  /** Short name (CN, O, …) or the OID when unknown. */
  type: string;
  value: string;
}

/** Encodes a Name: one RDN per entry, in order (C and serialNumber as PrintableString, others UTF8). */
export function encodeName(subject: Record<string, string> | [string, string][]): Buffer {
  const entries = Array.isArray(subject) ? subject : Object.entries(subject);
  return seq(
    ...entries.map(([type, value]) => {
      const o = oidByShortName[type] ?? (/^\d+(\.\d+)+$/.test(type) ? type : undefined);
      if (!o) throw new DerError(`unknown name attribute ${type}`);
      const v = o === OID.countryName || o === OID.serialNumber ? printable(value) : utf8(value);
      return setOf(seq(oid(o), v));
    }),
  );
}

export function parseName(raw: Buffer): NameAttribute[] {
  const out: NameAttribute[] = [];
  for (const rdn of readDer(raw).expect(Tag.SEQUENCE, 'Name').children) {
    for (const atv of rdn.expect(Tag.SET, 'RDN').children) {
      const o = atv.child(0).oid();
      out.push({ oid: o, type: shortNameByOid[o] ?? o, value: atv.child(1).text() });
    }
  }
  return out;
}

/** The first value of an attribute (e.g. CN) in a Name. */
export function nameValue(raw: Buffer, type: string): string | undefined {
  return parseName(raw).find((a) => a.type === type)?.value;
}
