import type { SimulatedWindowsDevice } from '../../windows/sim/device.js';
import { child, childrenNamed, escapeXml, parseXml, textAt } from '../../windows/xml.js';

/**
 * fleetd's `mdm_bridge` table on Windows: the query hands a `<SyncBody>` of `<Get>` commands to the
 * local MDM stack and returns its SyncML answer as `raw_mdm_command_output`. Fleet verifies Windows
 * profiles that way (`mdm_config_profiles_windows`), asking for each expected LocURI with the CmdID
 * it will look for in the answer. Here the values come from the simulated PC's configuration tree;
 * a `/Policy/Result/` LocURI reads the value set through its `/Policy/Config/` twin, as on Windows.
 */

/** The `<SyncBody>` a query passes as `mdm_command_input = '...'`, or undefined. */
export function mdmCommandInput(sql: string): string | undefined {
  const m = /mdm_command_input\s*=\s*'((?:[^']|'')*)'/i.exec(sql);
  return m ? m[1].replace(/''/g, "'") : undefined;
}

function lookup(pc: SimulatedWindowsDevice, locUri: string): string | undefined {
  const direct = pc.tree.get(locUri);
  if (direct) return direct.data;
  if (locUri.includes('/Policy/Result/'))
    return pc.tree.get(locUri.replace('/Policy/Result/', '/Policy/Config/'))?.data;
  return undefined;
}

/** Runs the `<Get>` commands of `syncBody` against the PC's tree; returns the SyncML answer. */
export function runMdmBridge(pc: SimulatedWindowsDevice, syncBody: string): string {
  const body = parseXml(
    syncBody.trim().startsWith('<SyncBody') ? syncBody : `<SyncBody>${syncBody}</SyncBody>`,
  );
  const out: string[] = [];
  let id = 0;
  for (const get of childrenNamed(body, 'Get')) {
    const cmdRef = textAt(get, 'CmdID') ?? '';
    const uris = childrenNamed(get, 'Item').map((i) => textAt(child(i, 'Target'), 'LocURI') ?? '');
    const values = uris.map((u) => lookup(pc, u));
    const found = values.every((v) => v !== undefined);
    out.push(
      `<Status><CmdID>${++id}</CmdID><MsgRef>1</MsgRef><CmdRef>${escapeXml(cmdRef)}</CmdRef><Cmd>Get</Cmd><Data>${found ? 200 : 404}</Data></Status>`,
    );
    if (!found) continue;
    // Tree values are kept as the raw inner XML of the <Data> they came in, so they go back verbatim.
    const items = uris
      .map(
        (u, i) => `<Item><Source><LocURI>${escapeXml(u)}</LocURI></Source><Data>${values[i]}</Data></Item>`,
      )
      .join('');
    out.push(
      `<Results><CmdID>${++id}</CmdID><MsgRef>1</MsgRef><CmdRef>${escapeXml(cmdRef)}</CmdRef>${items}</Results>`,
    );
  }
  // ApplyLocalManagementSyncML answers with a bare SyncML message: no session header, no <Final/>.
  return `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr/><SyncBody>${out.join('')}</SyncBody></SyncML>`;
}
