import { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import type { TestServer } from './testServer.js';

/** Lets PCs enroll on this server: an enroll secret, the server URL and Windows MDM turned on. */
export async function enableWindowsMdm(srv: TestServer, enrollSecret: string): Promise<void> {
  const s = srv.app.services;
  await s.enrollSecrets.replace(null, null, [enrollSecret]);
  await s.appConfig.patch({
    server_settings: { server_url: srv.url },
    mdm: { windows_enabled_and_configured: true },
  });
  s.windows.invalidateEnabled();
}

/** A simulated PC enrolled through fleetd and MS-MDE2 that has run its first management session. */
export async function enrolledWindowsPc(
  srv: TestServer,
  enrollSecret: string,
): Promise<SimulatedWindowsDevice> {
  const d = new SimulatedWindowsDevice({ serverUrl: srv.url, enrollSecret, keyBits: 1024 });
  await d.orbitEnroll();
  await d.enrollProgrammatically();
  await d.runSession();
  return d;
}
