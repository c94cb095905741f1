import { escapeValue, type ValueEscape } from './escape.js';
import { findProfileVariables, splitReference, variableReference } from './names.js';
import { missingSecretsMessage, type SecretValues } from './secretValues.js';
import type { FleetVariableSource, VariableHost, VariableValue } from './sources.js';

export type { ValueEscape };

/** A profile's text for one host (or for every host, secrets only), or why it cannot be sent. */
export type Expanded = { ok: true; text: string } | { ok: false; detail: string };

/** Fleet's text for a variable no source fills (a profile stored before a source went away). */
const unknownVariable = (name: string) =>
  `Unknown Fleet variable $FLEET_VAR_${name} found in profile. Please update or remove.`;

/** Fleet's text when a source gave no value for a host. */
const notPopulated = (name: string) => `Fleet couldn't populate $FLEET_VAR_${name}.`;

/**
 * Fills a profile's variables: `$FLEET_VAR_*` per host from the variable sources, `$FLEET_SECRET_*`
 * from the stored secrets. Values are escaped for the document they land in. A value that cannot be
 * filled gives the host `ok: false` with Fleet's text, so nothing half-filled is ever sent.
 */
export class ProfileExpander {
  constructor(
    private readonly sources: FleetVariableSource[],
    private readonly secrets: SecretValues,
  ) {}

  /** Per-host `$FLEET_VAR_*` expansion (secrets left as placeholders unless opts.secrets). */
  async expandForHosts(
    profileUuid: string,
    text: string,
    hosts: VariableHost[],
    escape: ValueEscape,
    opts: { secrets?: boolean } = {},
  ): Promise<Map<string, Expanded>> {
    const used = findProfileVariables(text);
    const out = new Map<string, Expanded>();
    let secretValues = new Map<string, string>();
    if (opts.secrets && used.secrets.length) {
      const secrets = await this.secretsOf(used.secrets);
      if (!secrets.ok) {
        for (const h of hosts) out.set(h.hostUuid, secrets);
        return out;
      }
      secretValues = secrets.values;
    }
    // Every variable's values for every host first (one call per variable), then each host's text.
    const perVariable = new Map<string, Map<string, VariableValue>>();
    for (const name of used.fleet) perVariable.set(name, await this.resolve(name, profileUuid, hosts));
    for (const h of hosts) {
      const values = new Map<string, string>();
      let failed: string | undefined;
      for (const name of used.fleet) {
        const v = perVariable.get(name)!.get(h.hostUuid) ?? { ok: false, detail: notPopulated(name) };
        if (!v.ok) {
          failed = v.detail;
          break;
        }
        values.set(name, v.value);
      }
      out.set(
        h.hostUuid,
        failed !== undefined
          ? { ok: false, detail: failed }
          : { ok: true, text: substitute(text, values, opts.secrets ? secretValues : undefined, escape) },
      );
    }
    return out;
  }

  /** `$FLEET_SECRET_*` only; a secret that no longer exists gives ok:false with Fleet's text. */
  async expandSecrets(text: string, escape: ValueEscape): Promise<Expanded> {
    const { secrets: names } = findProfileVariables(text);
    if (!names.length) return { ok: true, text };
    const secrets = await this.secretsOf(names);
    if (!secrets.ok) return secrets;
    return { ok: true, text: substitute(text, undefined, secrets.values, escape) };
  }

  private async secretsOf(
    names: string[],
  ): Promise<{ ok: true; values: Map<string, string> } | { ok: false; detail: string }> {
    const values = await this.secrets.values(names);
    const missing = names.filter((n) => !values.has(n));
    return missing.length ? { ok: false, detail: missingSecretsMessage(missing) } : { ok: true, values };
  }

  private async resolve(
    name: string,
    profileUuid: string,
    hosts: VariableHost[],
  ): Promise<Map<string, VariableValue>> {
    const source = this.sources.find((s) => s.handles(name));
    if (!source) {
      const detail = unknownVariable(name);
      return new Map(hosts.map((h) => [h.hostUuid, { ok: false, detail }]));
    }
    return source.resolve(name, profileUuid, hosts);
  }
}

/**
 * One pass over the text's references: each is read whole (so no name cuts a longer one short) and
 * replaced by its escaped value when one is given; others stay as they are.
 */
function substitute(
  text: string,
  fleet: Map<string, string> | undefined,
  secrets: Map<string, string> | undefined,
  escape: ValueEscape,
): string {
  return text.replace(variableReference, (whole, bare?: string, braced?: string) => {
    const ref = splitReference((bare ?? braced)!);
    const value = (ref.kind === 'fleet' ? fleet : secrets)?.get(ref.name);
    return value === undefined ? whole : escapeValue(value, escape);
  });
}
