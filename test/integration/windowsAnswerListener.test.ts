import { beforeAll, expect, it, vi } from 'vitest';
import { prepareCommand } from '../../src/windows/commands.js';
import { isProfileCommandUuid, newProfileCommandUuid } from '../../src/windows/profiles/commands.js';
import type { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm, enrolledWindowsPc } from '../helpers/windowsDevice.js';

const secret = 'answer-listener-secret';

describeEachDialect(
  'Windows answer listener: answers to non-profile commands cost no profile queries',
  (server) => {
    let srv: TestServer;
    let pc: SimulatedWindowsDevice;

    beforeAll(async () => {
      srv = server();
      await enableWindowsMdm(srv, secret);
      pc = await enrolledWindowsPc(srv, secret);
    });

    it('profile command UUIDs are recognisable; others are not', () => {
      expect(isProfileCommandUuid(newProfileCommandUuid())).toBe(true);
      expect(isProfileCommandUuid('0b6b8f5e-3a65-4c8e-9d55-9f0f6b7f2c1a')).toBe(false);
    });

    it('an admin command answer is stored without touching the profile tables; a profile command answer is looked at', async () => {
      const s = srv.app.services;
      const store = s.windowsProfileStore;
      const spies = [
        vi.spyOn(store, 'rowsByCommands'),
        vi.spyOn(store, 'rawCommands'),
        vi.spyOn(store, 'checkFor'),
      ];
      try {
        const run = await s.windowsCommands.enqueueRaw(
          [pc.hardwareUuid],
          '<Exec><Item><Target><LocURI>./Device/Vendor/MSFT/Reboot/RebootNow</LocURI></Target></Item></Exec>',
        );
        expect((await pc.runSession()).commandsExecuted).toBe(1);
        expect((await s.windowsCommands.results(run.command_uuid))[0].status).toBe('200');
        for (const spy of spies) expect(spy).not.toHaveBeenCalled();

        // The same answer path with a profile-style command UUID does reach the listener's queries.
        const enrollment = await s.windows.store.enrollmentByDeviceId(pc.deviceId);
        const get = prepareCommand(
          '<Get><Item><Target><LocURI>./DevDetail/SwV</LocURI></Target></Item></Get>',
          newProfileCommandUuid(),
        );
        await s.windowsCommands.enqueuePrepared([enrollment!.id], get);
        expect((await pc.runSession()).commandsExecuted).toBe(1);
        expect(spies[0]).toHaveBeenCalledTimes(1);
      } finally {
        for (const spy of spies) spy.mockRestore();
      }
    });
  },
);
