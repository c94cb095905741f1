import type { Logger } from 'pino';
import type { CheckinAndCommandService, CheckinHooks } from './service.js';

type Method = keyof CheckinAndCommandService;

/**
 * Runs the core service to completion, then each hook in order, one after another, awaiting each
 * before the device gets its answer. The answer is the core's; a failing hook is logged and changes
 * nothing; when the core throws, no hook runs. (NanoMDM's `service/multi` differs: it runs the other
 * services after the first even when it failed, each in its own goroutine, without waiting for them.)
 */
export function withHooks(
  core: CheckinAndCommandService,
  hooks: CheckinHooks[],
  logger?: Logger,
): CheckinAndCommandService {
  const wrap = <M extends Method>(method: M) =>
    (async (...args: Parameters<CheckinAndCommandService[M]>) => {
      const result = await (core[method] as (...a: unknown[]) => Promise<unknown>).apply(core, args);
      for (const h of hooks) {
        const fn = h[method] as ((...a: unknown[]) => Promise<unknown>) | undefined;
        if (!fn) continue;
        try {
          await fn.apply(h, args);
        } catch (err) {
          logger?.error({ err, method, enrollmentId: args[0].enrollment.id }, 'apple check-in hook failed');
        }
      }
      return result;
    }) as CheckinAndCommandService[M];
  return {
    authenticate: wrap('authenticate'),
    tokenUpdate: wrap('tokenUpdate'),
    checkOut: wrap('checkOut'),
    userAuthenticate: wrap('userAuthenticate'),
    setBootstrapToken: wrap('setBootstrapToken'),
    getBootstrapToken: wrap('getBootstrapToken'),
    getToken: wrap('getToken'),
    declarativeManagement: wrap('declarativeManagement'),
    returnToService: wrap('returnToService'),
    commandAndReportResults: wrap('commandAndReportResults'),
  };
}
