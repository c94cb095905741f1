import type { FastifyInstance } from 'fastify';
import { z, ZodError } from 'zod';
import { queryFlag } from '../admin/routeParams.js';
import { adminQuery, authorize } from '../http/adminApi.js';
import type { Services } from '../services.js';
import { configPatch, configPatchError } from './schema.js';

const patchQuery = adminQuery({
  dry_run: z.string().optional(),
  overwrite: z.string().optional(),
  // Fleet's force skips agent-options validation; Flotilla does not validate agent options.
  force: z.string().optional(),
});

/** Global settings: `GET /config` and `PATCH /config` (with `?dry_run=true`, `?overwrite=true`). */
export function registerAppConfigRoutes(
  scope: FastifyInstance,
  services: Pick<Services, 'appConfig' | 'activities' | 'diskEncryption'>,
) {
  scope.get('/config', async (req) => {
    const viewer = authorize(req, 'app_config', 'read', null);
    return services.appConfig.document(viewer.principal);
  });

  scope.patch('/config', async (req) => {
    const viewer = authorize(req, 'app_config', 'write', null);
    const q = patchQuery.parse(req.query);
    const dryRun = queryFlag(q.dry_run, 'dry_run') ?? false;
    const overwrite = queryFlag(q.overwrite, 'overwrite') ?? false;
    queryFlag(q.force, 'force');
    let body;
    try {
      body = configPatch.parse(req.body);
    } catch (err) {
      throw err instanceof ZodError ? configPatchError(err) : err;
    }
    const { before, after } = await services.appConfig.update(body, { dryRun, overwrite });
    if (!dryRun) {
      await services.activities.record(viewer, 'edited_app_config', {});
      const win = after.mdm.windows_enabled_and_configured;
      if (win !== before.mdm.windows_enabled_and_configured) {
        await services.activities.record(viewer, win ? 'enabled_windows_mdm' : 'disabled_windows_mdm', {});
      }
      // Disk encryption for hosts in no team: the FileVault profile and activity follow the change.
      await services.diskEncryption.settingChanged(
        viewer,
        null,
        before.mdm.enable_disk_encryption,
        after.mdm.enable_disk_encryption,
      );
    }
    return services.appConfig.answer(after);
  });
}
