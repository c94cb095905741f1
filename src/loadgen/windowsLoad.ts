import { SimulatedWindowsDevice } from '../windows/sim/device.js';
import type { DeviceRunContext } from './context.js';
import { deviceFetch, type DevicePhase } from './deviceFetch.js';

/**
 * One simulated PC for the whole run: enrolls as fleetd makes it (orbit enroll, then MS-MDE2
 * discovery, policy and WSTEP enrollment), runs its first management session at once as Windows
 * does, then one per think time (a real PC polls on the interval its provisioning document sets),
 * until the run stops.
 */
export async function runWindowsDevice(ctx: DeviceRunContext, enrollSecret: string): Promise<void> {
  const { metrics, stop } = ctx;
  const phase: DevicePhase = { index: 0 };
  const pc = new SimulatedWindowsDevice({
    serverUrl: ctx.server,
    enrollSecret,
    keyPem: ctx.keys.take(),
    fetchImpl: deviceFetch(metrics, phase),
  });
  if (!(await enroll(ctx, pc))) return;
  phase.sessionKind = () => 'syncml_message';
  let first = true;
  while (!stop.stopped) {
    if (!first) await stop.sleep(ctx.thinkMs());
    first = false;
    if (stop.stopped) break;
    const t0 = performance.now();
    try {
      const session = await pc.runSession();
      metrics.record('syncml_session', performance.now() - t0);
      metrics.commands.windows += session.commandsExecuted;
    } catch (err) {
      metrics.fail('syncml_session', err, performance.now() - t0);
    } finally {
      // The simulator keeps every message and Exec for tests; a long run must not.
      pc.sent.length = 0;
      pc.received.length = 0;
      pc.execs.length = 0;
    }
  }
}

async function enroll(ctx: DeviceRunContext, pc: SimulatedWindowsDevice): Promise<boolean> {
  while (!ctx.stop.stopped) {
    const t0 = performance.now();
    try {
      await pc.orbitEnroll();
      await pc.enrollProgrammatically();
      ctx.metrics.record('windows_enroll', performance.now() - t0);
      ctx.metrics.enrolled.windows++;
      return true;
    } catch (err) {
      ctx.metrics.fail('windows_enroll', err, performance.now() - t0);
      await ctx.stop.sleep(ctx.thinkMs());
    }
  }
  return false;
}
