import { describe, expect, it } from 'vitest';
import { escapeValue } from '../../src/mdm/variables/escape.js';
import { ProfileExpander } from '../../src/mdm/variables/expander.js';
import { findProfileVariables, fleetVariableEntry, usesSecret } from '../../src/mdm/variables/names.js';
import { missingSecretsMessage, type SecretValues } from '../../src/mdm/variables/secretValues.js';
import type { FleetVariableSource, VariableHost, VariableValue } from '../../src/mdm/variables/sources.js';

const hostA: VariableHost = { hostUuid: 'UUID-A', hostId: 1, platform: 'darwin' };
const hostB: VariableHost = { hostUuid: 'UUID-B', hostId: 2, platform: 'darwin' };

/** A source over fixed values per variable and host; a missing host is left out of the answer. */
class FixedSource implements FleetVariableSource {
  readonly calls: { name: string; hosts: string[] }[] = [];
  constructor(private readonly values: Record<string, Record<string, VariableValue>>) {}
  handles(name: string) {
    return name in this.values;
  }
  async resolve(name: string, _profileUuid: string, hosts: VariableHost[]) {
    this.calls.push({ name, hosts: hosts.map((h) => h.hostUuid) });
    const out = new Map<string, VariableValue>();
    for (const h of hosts) {
      const v = this.values[name][h.hostUuid];
      if (v) out.set(h.hostUuid, v);
    }
    return out;
  }
}

class FixedSecrets implements SecretValues {
  constructor(private readonly secrets: Record<string, string>) {}
  async values(names: string[]) {
    return new Map(names.filter((n) => n in this.secrets).map((n) => [n, this.secrets[n]]));
  }
}

const ok = (value: string): VariableValue => ({ ok: true, value });

describe('findProfileVariables', () => {
  it('finds both forms of Fleet variables and secrets, each once, in order of first use', () => {
    const text =
      '<string>$FLEET_VAR_HOST_UUID</string><string>${FLEET_VAR_HOST_HARDWARE_SERIAL}</string>' +
      '<data>$FLEET_SECRET_CERT_PASSWORD ${FLEET_SECRET_API_TOKEN} $FLEET_VAR_HOST_UUID</data>' +
      '${FLEET_SECRET_CERT_PASSWORD}';
    expect(findProfileVariables(text)).toEqual({
      fleet: ['HOST_UUID', 'HOST_HARDWARE_SERIAL'],
      secrets: ['CERT_PASSWORD', 'API_TOKEN'],
    });
  });

  it('reads a name whole, so a longer name is never cut short', () => {
    expect(
      findProfileVariables(
        '$FLEET_VAR_HOST_END_USER_IDP_USERNAME_LOCAL_PART@x $FLEET_VAR_HOST_END_USER_IDP_USERNAME',
      ),
    ).toEqual({
      fleet: ['HOST_END_USER_IDP_USERNAME_LOCAL_PART', 'HOST_END_USER_IDP_USERNAME'],
      secrets: [],
    });
  });

  it('ignores text that only looks like a variable', () => {
    expect(
      findProfileVariables(
        '$FLEET_VAR_ alone, FLEET_VAR_HOST_UUID without $, ${FLEET_VAR_HOST_UUID unclosed, $FLEET_VARIABLE',
      ),
    ).toEqual({ fleet: [], secrets: [] });
  });

  it('says which secrets a text uses', () => {
    expect(usesSecret('a ${FLEET_SECRET_ONE} b', 'ONE')).toBe(true);
    expect(usesSecret('a $FLEET_SECRET_ONE_TWO b', 'ONE')).toBe(false);
  });
});

describe('fleetVariableEntry', () => {
  it("maps a name to Fleet's exact entry or its prefix form", () => {
    expect(fleetVariableEntry('HOST_UUID')).toEqual({ name: 'HOST_UUID', isPrefix: false });
    expect(fleetVariableEntry('CUSTOM_SCEP_CHALLENGE_WIFI')).toEqual({
      name: 'CUSTOM_SCEP_CHALLENGE_',
      isPrefix: true,
    });
    expect(fleetVariableEntry('CUSTOM_SCEP_CHALLENGE_')).toBeUndefined();
    expect(fleetVariableEntry('BOZO')).toBeUndefined();
  });
});

describe('escapeValue', () => {
  it('escapes for XML the characters that could change the document', () => {
    expect(escapeValue(`a<b>&"c'\n`, 'xml')).toBe('a&lt;b&gt;&amp;&#34;c&#39;&#xA;');
  });
  it('escapes for the inside of a JSON string', () => {
    expect(escapeValue('say "hi"\\\n', 'json')).toBe('say \\"hi\\"\\\\\\n');
  });
  it('escapes $ so a filled value never reads as a secret placeholder later', () => {
    expect(escapeValue('Eve $FLEET_SECRET_API_KEY', 'xml')).toBe('Eve &#36;FLEET_SECRET_API_KEY');
    expect(escapeValue('Eve $FLEET_SECRET_API_KEY', 'json')).toBe('Eve \\u0024FLEET_SECRET_API_KEY');
    expect(JSON.parse(`"${escapeValue('a$b', 'json')}"`)).toBe('a$b');
  });
});

describe('ProfileExpander', () => {
  const source = () =>
    new FixedSource({
      HOST_UUID: { 'UUID-A': ok('UUID-A'), 'UUID-B': ok('UUID-B') },
      HOST_END_USER_IDP_USERNAME: { 'UUID-A': ok('anna@example.com'), 'UUID-B': ok('bob@example.com') },
      HOST_END_USER_IDP_USERNAME_LOCAL_PART: { 'UUID-A': ok('anna'), 'UUID-B': ok('bob') },
      HOST_HARDWARE_SERIAL: {
        'UUID-A': ok('C02<&>'),
        'UUID-B': { ok: false, detail: 'There is no serial number for this host.' },
      },
    });

  it('fills each host with its own values, both forms, escaped for XML, one call per variable', async () => {
    const src = source();
    const expander = new ProfileExpander([src], new FixedSecrets({}));
    const text = '<string>$FLEET_VAR_HOST_UUID/${FLEET_VAR_HOST_END_USER_IDP_USERNAME_LOCAL_PART}</string>';
    const out = await expander.expandForHosts('a-profile', text, [hostA, hostB], 'xml');
    expect(out.get('UUID-A')).toEqual({ ok: true, text: '<string>UUID-A/anna</string>' });
    expect(out.get('UUID-B')).toEqual({ ok: true, text: '<string>UUID-B/bob</string>' });
    expect(src.calls).toEqual([
      { name: 'HOST_UUID', hosts: ['UUID-A', 'UUID-B'] },
      { name: 'HOST_END_USER_IDP_USERNAME_LOCAL_PART', hosts: ['UUID-A', 'UUID-B'] },
    ]);
  });

  it('does not cut the longest name short when a shorter one is also used', async () => {
    const expander = new ProfileExpander([source()], new FixedSecrets({}));
    const text = '$FLEET_VAR_HOST_END_USER_IDP_USERNAME|$FLEET_VAR_HOST_END_USER_IDP_USERNAME_LOCAL_PART';
    const out = await expander.expandForHosts('a-profile', text, [hostA], 'xml');
    expect(out.get('UUID-A')).toEqual({ ok: true, text: 'anna@example.com|anna' });
  });

  it('escapes values so they cannot change the document around them', async () => {
    const expander = new ProfileExpander([source()], new FixedSecrets({}));
    const xml = await expander.expandForHosts(
      'a',
      '<string>$FLEET_VAR_HOST_HARDWARE_SERIAL</string>',
      [hostA],
      'xml',
    );
    expect(xml.get('UUID-A')).toEqual({ ok: true, text: '<string>C02&lt;&amp;&gt;</string>' });
    const json = await new ProfileExpander(
      [new FixedSource({ HOST_UUID: { 'UUID-A': ok('x","Injected":"y') } })],
      new FixedSecrets({}),
    ).expandForHosts('d', '{"Name":"$FLEET_VAR_HOST_UUID"}', [hostA], 'json');
    expect(json.get('UUID-A')).toEqual({ ok: true, text: '{"Name":"x\\",\\"Injected\\":\\"y"}' });
  });

  it("fails only the host whose value is missing, with the source's text", async () => {
    const expander = new ProfileExpander([source()], new FixedSecrets({}));
    const out = await expander.expandForHosts(
      'a',
      '$FLEET_VAR_HOST_UUID $FLEET_VAR_HOST_HARDWARE_SERIAL',
      [hostA, hostB],
      'xml',
    );
    expect(out.get('UUID-A')).toEqual({ ok: true, text: 'UUID-A C02&lt;&amp;&gt;' });
    expect(out.get('UUID-B')).toEqual({ ok: false, detail: 'There is no serial number for this host.' });
  });

  it("counts a host the source left out as unfillable, and a variable no source fills with Fleet's text", async () => {
    const partial = new FixedSource({ HOST_UUID: { 'UUID-A': ok('UUID-A') } });
    const expander = new ProfileExpander([partial], new FixedSecrets({}));
    const out = await expander.expandForHosts('a', '$FLEET_VAR_HOST_UUID', [hostA, hostB], 'xml');
    expect(out.get('UUID-B')).toEqual({ ok: false, detail: "Fleet couldn't populate $FLEET_VAR_HOST_UUID." });
    const unknown = await expander.expandForHosts('a', '${FLEET_VAR_BOZO}', [hostA], 'xml');
    expect(unknown.get('UUID-A')).toEqual({
      ok: false,
      detail: 'Unknown Fleet variable $FLEET_VAR_BOZO found in profile. Please update or remove.',
    });
  });

  it('leaves secrets as placeholders unless asked, then fills them (escaped)', async () => {
    const expander = new ProfileExpander([source()], new FixedSecrets({ PASSWORD: 'p<w>' }));
    const text = '$FLEET_VAR_HOST_UUID:$FLEET_SECRET_PASSWORD:${FLEET_SECRET_PASSWORD}';
    const kept = await expander.expandForHosts('a', text, [hostA], 'xml');
    expect(kept.get('UUID-A')).toEqual({
      ok: true,
      text: 'UUID-A:$FLEET_SECRET_PASSWORD:${FLEET_SECRET_PASSWORD}',
    });
    const filled = await expander.expandForHosts('a', text, [hostA], 'xml', { secrets: true });
    expect(filled.get('UUID-A')).toEqual({ ok: true, text: 'UUID-A:p&lt;w&gt;:p&lt;w&gt;' });
  });

  it("fails every host when a secret no longer exists, with Fleet's text", async () => {
    const expander = new ProfileExpander([source()], new FixedSecrets({}));
    const out = await expander.expandForHosts('a', '$FLEET_SECRET_GONE', [hostA, hostB], 'xml', {
      secrets: true,
    });
    const detail = 'Couldn\'t add. Secret variable "$FLEET_SECRET_GONE" missing from database';
    expect(out.get('UUID-A')).toEqual({ ok: false, detail });
    expect(out.get('UUID-B')).toEqual({ ok: false, detail });
  });

  it('expands secrets alone, leaving Fleet variables for per-host expansion', async () => {
    const expander = new ProfileExpander([source()], new FixedSecrets({ TOKEN: 'a"b' }));
    expect(
      await expander.expandSecrets('{"t":"$FLEET_SECRET_TOKEN","u":"$FLEET_VAR_HOST_UUID"}', 'json'),
    ).toEqual({
      ok: true,
      text: '{"t":"a\\"b","u":"$FLEET_VAR_HOST_UUID"}',
    });
    expect(await expander.expandSecrets('no variables', 'xml')).toEqual({ ok: true, text: 'no variables' });
    expect(await expander.expandSecrets('$FLEET_SECRET_A ${FLEET_SECRET_B}', 'xml')).toEqual({
      ok: false,
      detail: 'Couldn\'t add. Secret variables "$FLEET_SECRET_A", "$FLEET_SECRET_B" missing from database',
    });
  });

  it('words the missing-secrets text as Fleet does', () => {
    expect(missingSecretsMessage(['X'])).toBe(
      'Couldn\'t add. Secret variable "$FLEET_SECRET_X" missing from database',
    );
  });
});
