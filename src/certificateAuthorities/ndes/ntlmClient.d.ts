/** Types for @ewsjs/ntlm-client (it ships none): NTLM message encoding only, no HTTP. */
declare module '@ewsjs/ntlm-client' {
  namespace ntlm {
    interface Type2Message {
      flags: number;
      encoding: 'ascii' | 'ucs2';
      version: 1 | 2;
      challenge: Buffer;
      targetName: string;
      targetInfo?: { parsed: Record<string, string>; buffer: Buffer };
    }
    /** `NTLM <base64>` of a NEGOTIATE message. */
    function createType1Message(workstation?: string, target?: string): string;
    /** Reads a CHALLENGE message from `NTLM <base64>` or bare base64. */
    function decodeType2Message(header: string): Type2Message;
    /** `NTLM <base64>` of the AUTHENTICATE message answering `type2`. */
    function createType3Message(
      type2: Type2Message,
      username: string,
      password: string,
      workstation?: string,
      target?: string,
    ): string;
  }
  export = ntlm;
}

/** The library's hash helpers, which the NDES stand-in uses to check an AUTHENTICATE message. */
declare module '@ewsjs/ntlm-client/lib/hash.js' {
  namespace hash {
    /** MD4 of the UTF-16LE password (Node's OpenSSL 3 has no MD4). */
    function createNTLMHash(password: string): Buffer;
  }
  export = hash;
}
