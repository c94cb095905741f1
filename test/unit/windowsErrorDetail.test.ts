import { describe, expect, it } from 'vitest';
import { SoapFault, soapFaultEnvelope } from '../../src/windows/mde2/soap.js';
import { errorDetail, parseXml } from '../../src/windows/xml.js';

describe('Windows error details', () => {
  it('cuts untrusted text at 200 characters and replaces what XML cannot carry', () => {
    expect(errorDetail('short')).toBe('short');
    expect(errorDetail('x'.repeat(200))).toBe('x'.repeat(200));
    expect(errorDetail('x'.repeat(201))).toBe(`${'x'.repeat(200)}…`);
    expect(errorDetail('abcdef', 3)).toBe('abc…');
    expect(errorDetail('a\u0000b\u001fc\td\n')).toBe('a?b?c\td\n');
    // A surrogate pair is kept whole or dropped at the cut; a lone surrogate is replaced.
    expect(errorDetail('ab😀cd', 3)).toBe('ab…');
    expect(errorDetail('ab😀cd', 4)).toBe('ab😀…');
    expect(errorDetail('a\ud800b')).toBe('a?b');
  });

  it('a SOAP fault reason is bounded whatever it quotes, and the envelope stays well-formed XML', () => {
    const fault = new SoapFault('s:messageformat', `bad: ${'"<&\u0001'.repeat(100_000)}`);
    expect(fault.message.length).toBeLessThanOrEqual(321);
    const env = soapFaultEnvelope('urn:action', 'urn:uuid:1', fault);
    expect(env.length).toBeLessThan(4096);
    expect(parseXml(env).name).toBe('Envelope');
  });
});
