import { SimulatedAppleDevice } from '../apple/sim/device.js';
import type { FakeApnsServer } from '../clients/apns/fakeServer.js';
import type { DeviceRunContext } from './context.js';
import { deviceFetch, type DevicePhase } from './deviceFetch.js';
import { Wake } from './timing.js';

export interface AppleLoadOptions {
  /** Downloads a fresh enrollment profile through the device's fetch. */
  enrollmentProfile: (f: typeof fetch) => Promise<Buffer>;
  /** The APNs stand-in; without it the device wakes only at its think times. */
  apns?: FakeApnsServer;
}

/**
 * One simulated Mac for the whole run: enrolls (SCEP, Authenticate, TokenUpdate through the real
 * endpoints), then waits for a push or its think time, connects and answers every queued command
 * as the simulator does, and waits again, until the run stops. A failed enrollment is tried again
 * after a think time with a new profile; a failed session is counted and the loop goes on.
 */
export async function runAppleDevice(ctx: DeviceRunContext, opts: AppleLoadOptions): Promise<void> {
  const { metrics, stop } = ctx;
  const phase: DevicePhase = { index: 0 };
  const fetchImpl = deviceFetch(metrics, phase);
  const device = new SimulatedAppleDevice({ serverUrl: ctx.server, platform: 'macos', fetchImpl });
  const wake = new Wake();
  // Subscribed before TokenUpdate: the server may push as soon as it has the token.
  const unsubscribe = opts.apns?.onPush(device.pushTokenHex, () => {
    metrics.pushes++;
    wake.wake();
  });
  try {
    if (!(await enroll(ctx, opts, device, fetchImpl))) return;
    // In a session the first report is the Idle check-in; each later one carries a command's result.
    phase.sessionKind = ({ method, index }) =>
      method !== 'PUT' ? undefined : index === 0 ? 'apple_checkin' : 'apple_command';
    while (!stop.stopped) {
      await wake.wait(ctx.thinkMs(), stop);
      if (stop.stopped) break;
      phase.index = 0;
      const t0 = performance.now();
      try {
        const handled = await device.connect();
        metrics.record('apple_session', performance.now() - t0);
        metrics.commands.apple += handled.length;
      } catch (err) {
        metrics.fail('apple_session', err, performance.now() - t0);
      } finally {
        // The simulator keeps every command for tests; a long run must not.
        device.received.length = 0;
      }
    }
  } finally {
    unsubscribe?.();
  }
}

async function enroll(
  ctx: DeviceRunContext,
  opts: AppleLoadOptions,
  device: SimulatedAppleDevice,
  fetchImpl: typeof fetch,
): Promise<boolean> {
  while (!ctx.stop.stopped) {
    const t0 = performance.now();
    try {
      await device.loadEnrollmentProfile(await opts.enrollmentProfile(fetchImpl));
      await device.scepEnroll({ keyPem: ctx.keys.take() });
      await device.authenticate();
      await device.tokenUpdate();
      ctx.metrics.record('apple_enroll', performance.now() - t0);
      ctx.metrics.enrolled.apple++;
      return true;
    } catch (err) {
      ctx.metrics.fail('apple_enroll', err, performance.now() - t0);
      // Start again from a new profile (its one-time challenge) and a new identity.
      device.identity = undefined;
      await ctx.stop.sleep(ctx.thinkMs());
    }
  }
  return false;
}
